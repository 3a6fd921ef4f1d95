"""Case figures per agency, per business type and per outcome (AN-1, AU-4), one GROUP BY each.

A case is a ``standard_verification`` instance with its household. Its outcome is read from the
derived task rows, never from the serialized workflow (the diagram is linear):

* 核对完成: the agency issued its report (``issue_report`` completed), whether or not the entrusting
  unit has acknowledged it yet;
* 退回: the process ended before 审核复审 existed (受理初审 returned it, PS-2);
* 终止核对: the process ended after 审核复审 without a report (PS-3);
* 已撤销: an administrator terminated the instance;
* 办理中: everything else.

Timeliness uses the due times the case's steps carry (``human_tasks.due_at``, from the diagram's
``dueWorkingDays`` on the working-day calendar, PS-10): a finished case was on time when no step of
it was completed after its due time; an open case is overdue when one of its open steps is past due.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import aliased

from engine.context import EngineContext
from engine.models import Entrustment
from engine.models import Escalation
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import InstanceStatus
from engine.models import WorkflowInstance
from engine.models.case import EntrustmentSource
from engine.models.case import Household
from engine.models.escalation import EscalationKind
from engine.stats.scope import StatsQuery
from engine.stats.scope import case_conditions
from engine.stats.sql import working_days

OUTCOMES = ("completed", "terminated", "returned", "cancelled", "in_progress")
OUTCOME_NAMES = {"completed": "核对完成", "terminated": "终止核对", "returned": "退回委托单位", "cancelled": "已撤销",
                 "in_progress": "办理中"}
#: the counters every group (agency, level, business type) carries
COUNTERS = ("received", *OUTCOMES, "rechecks", "from_lower", "escalated", "cross_city", "on_time", "late",
            "overdue_open", "work_days_total", "work_days_cases")


@dataclass
class Counts:
    """The counters of one group; ``work_days`` is a ``(working days, cases)`` histogram of finished checks."""

    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    work_days: list[tuple[int, int]] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        for name in COUNTERS:
            self.values[name] += other.values[name]
        self.work_days += other.work_days


def case_rows(ctx: EngineContext, query: StatsQuery) -> Any:
    """A subquery: one row per case in scope with its group keys, outcome and timeliness flags."""
    dialect = ctx.session.get_bind().dialect.name
    wi = WorkflowInstance
    report = aliased(HumanTask)
    report_at = (select(func.max(report.completed_at))
                 .where(report.instance_id == wi.id, report.bpmn_id == "issue_report",
                        report.status == HumanTaskStatus.COMPLETED)
                 .correlate_except(report).scalar_subquery())
    has_review = exists().where(HumanTask.instance_id == wi.id, HumanTask.bpmn_id == "review")
    step = aliased(HumanTask)
    late = exists().where(step.instance_id == wi.id, step.status == HumanTaskStatus.COMPLETED,
                          step.completed_at > step.due_at)
    overdue = exists().where(step.instance_id == wi.id, step.status == HumanTaskStatus.OPEN,
                             step.due_at < ctx.now())
    outcome = case((report_at.is_not(None), "completed"), (wi.status == InstanceStatus.TERMINATED, "cancelled"),
                   (and_(wi.status == InstanceStatus.COMPLETED, ~has_review), "returned"),
                   (wi.status == InstanceStatus.COMPLETED, "terminated"), else_="in_progress")
    escalated = exists().where(Escalation.origin_household_id == Household.id)
    cross_city = exists().where(Escalation.origin_household_id == Household.id,
                                Escalation.kind == EscalationKind.CROSS_CITY)
    return (select(wi.id.label("instance_id"), wi.agency_unit_id.label("agency_unit_id"),
                   Household.business_type.label("business_type"), outcome.label("outcome"),
                   Entrustment.source.label("source"), late.label("late"), overdue.label("overdue"),
                   escalated.label("escalated"), cross_city.label("cross_city"),
                   case((report_at.is_not(None), working_days(dialect, wi.started_at, report_at)))
                   .label("work_days"))
            .join(Household, Household.instance_id == wi.id)
            .join(Entrustment, Entrustment.id == Household.entrustment_id)
            .where(case_conditions(ctx, query)).subquery("case_rows"))


def _sums(rows: Any) -> list[Any]:
    """The aggregate columns over :func:`case_rows` (one SUM per counter)."""
    done = rows.c.outcome == "completed"
    flag = {name: case((getattr(rows.c, name).is_(True), 1), else_=0) for name in ("escalated", "cross_city")}
    return [
        func.count().label("received"),
        *[func.sum(case((rows.c.outcome == name, 1), else_=0)).label(name) for name in OUTCOMES],
        func.sum(case((rows.c.source == EntrustmentSource.RECHECK, 1), else_=0)).label("rechecks"),
        func.sum(case((rows.c.source == EntrustmentSource.UPWARD, 1), else_=0)).label("from_lower"),
        func.sum(flag["escalated"]).label("escalated"), func.sum(flag["cross_city"]).label("cross_city"),
        func.sum(case((and_(done, rows.c.late.is_(False)), 1), else_=0)).label("on_time"),
        func.sum(case((and_(done, rows.c.late.is_(True)), 1), else_=0)).label("late"),
        func.sum(case((and_(rows.c.outcome == "in_progress", rows.c.overdue.is_(True)), 1), else_=0))
        .label("overdue_open"),
        func.coalesce(func.sum(rows.c.work_days), 0).label("work_days_total"),
        func.count(rows.c.work_days).label("work_days_cases"),
    ]


def grouped(ctx: EngineContext, query: StatsQuery, key: str) -> dict[Any, Counts]:
    """Counters per value of ``key`` (``agency_unit_id`` or ``business_type``), plus the working-day histogram.

    Two statements whatever the number of cases: the sums, and the ``(key, working days, cases)`` histogram
    the median is read from.
    """
    rows = case_rows(ctx, query)
    group = getattr(rows.c, key)
    out: dict[Any, Counts] = {}
    for row in ctx.session.execute(select(group, *_sums(rows)).group_by(group)).mappings():
        out[row[key]] = Counts({name: int(row[name] or 0) for name in COUNTERS})
    histogram = ctx.session.execute(
        select(group, rows.c.work_days, func.count()).where(rows.c.work_days.is_not(None))
        .group_by(group, rows.c.work_days)).all()
    for value, days, count in histogram:
        out[value].work_days.append((int(days), int(count)))
    return out
