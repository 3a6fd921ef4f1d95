"""Case figures per agency, per business type and per outcome (AN-1, AU-4), one GROUP BY each.

A case is a ``standard_verification`` instance with its household. Its outcome is read from the
derived task rows, never from the serialized workflow (the diagram is linear):

* 核对完成: the agency issued its report (``issue_report`` completed), whether or not the entrusting
  unit has acknowledged it yet;
* 退回: the process ended before 审核复审 existed (受理初审 returned it, PS-2);
* 终止核对: the process ended after 审核复审 without a report (PS-3);
* 已撤销: an administrator terminated the instance;
* 办理中: everything else.

Timeliness is measured against the case's statutory deadline (``workflow_instances.due_at``, the
diagram's ``verification_due``: 10 working days, 15 for a check entrusted upward or a re-verification,
PS-10): a case with its report issued was on time when the report was issued (``issue_report``
completed) at or before the deadline, late otherwise; an open case (办理中) is overdue when its deadline
has passed. Cases without a deadline count neither way. The step-level figure (步骤超时) stays as a
second measure: finished cases with a step completed after its own due time (``human_tasks.due_at``).
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

from engine.case_due import report_issued_at
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
from engine.models.spending import SpendingInquiry
from engine.stats.scope import StatsQuery
from engine.stats.scope import case_conditions
from engine.stats.sql import working_days

OUTCOMES = ("completed", "terminated", "returned", "cancelled", "in_progress")
OUTCOME_NAMES = {"completed": "核对完成", "terminated": "终止核对", "returned": "退回委托单位", "cancelled": "已撤销",
                 "in_progress": "办理中"}
#: the counters every group (agency, level, business type) carries
COUNTERS = ("received", *OUTCOMES, "rechecks", "from_lower", "escalated", "cross_city", "spending", "on_time", "late",
            "step_late", "overdue_open", "work_days_total", "work_days_cases")


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
    report_at = report_issued_at(wi)
    has_review = exists().where(HumanTask.instance_id == wi.id, HumanTask.bpmn_id == "review")
    step = aliased(HumanTask)
    step_late = exists().where(step.instance_id == wi.id, step.status == HumanTaskStatus.COMPLETED,
                               step.completed_at > step.due_at)
    late = and_(wi.due_at.is_not(None), report_at > wi.due_at)
    on_time = and_(wi.due_at.is_not(None), report_at <= wi.due_at)
    overdue = and_(wi.due_at.is_not(None), wi.due_at < ctx.now())
    outcome = case((report_at.is_not(None), "completed"), (wi.status == InstanceStatus.TERMINATED, "cancelled"),
                   (and_(wi.status == InstanceStatus.COMPLETED, ~has_review), "returned"),
                   (wi.status == InstanceStatus.COMPLETED, "terminated"), else_="in_progress")
    escalated = exists().where(Escalation.origin_household_id == Household.id)
    cross_city = exists().where(Escalation.origin_household_id == Household.id,
                                Escalation.kind == EscalationKind.CROSS_CITY)
    spending = exists().where(SpendingInquiry.household_id == Household.id)  # 支出调查 opened (DO-9)
    return (select(wi.id.label("instance_id"), wi.agency_unit_id.label("agency_unit_id"),
                   Household.business_type.label("business_type"), outcome.label("outcome"),
                   Entrustment.source.label("source"), _flag(on_time).label("on_time"), _flag(late).label("late"),
                   step_late.label("step_late"), _flag(overdue).label("overdue"),
                   escalated.label("escalated"), cross_city.label("cross_city"), spending.label("spending"),
                   case((report_at.is_not(None), working_days(dialect, wi.started_at, report_at)))
                   .label("work_days"))
            .join(Household, Household.instance_id == wi.id)
            .join(Entrustment, Entrustment.id == Household.entrustment_id)
            .where(case_conditions(ctx, query)).subquery("case_rows"))


def _flag(condition: Any) -> Any:
    """1 or 0 (a comparison with a NULL report time is NULL, which must count as 0)."""
    return case((condition, 1), else_=0)


def _sums(rows: Any) -> list[Any]:
    """The aggregate columns over :func:`case_rows` (one SUM per counter)."""
    done = rows.c.outcome == "completed"
    flag = {name: case((getattr(rows.c, name).is_(True), 1), else_=0)
            for name in ("escalated", "cross_city", "spending")}
    return [
        func.count().label("received"),
        *[func.sum(case((rows.c.outcome == name, 1), else_=0)).label(name) for name in OUTCOMES],
        func.sum(case((rows.c.source == EntrustmentSource.RECHECK, 1), else_=0)).label("rechecks"),
        func.sum(case((rows.c.source == EntrustmentSource.UPWARD, 1), else_=0)).label("from_lower"),
        func.sum(flag["escalated"]).label("escalated"), func.sum(flag["cross_city"]).label("cross_city"),
        func.sum(flag["spending"]).label("spending"),
        func.sum(case((and_(done, rows.c.on_time == 1), 1), else_=0)).label("on_time"),
        func.sum(case((and_(done, rows.c.late == 1), 1), else_=0)).label("late"),
        func.sum(case((and_(done, rows.c.step_late.is_(True)), 1), else_=0)).label("step_late"),
        func.sum(case((and_(rows.c.outcome == "in_progress", rows.c.overdue == 1), 1), else_=0))
        .label("overdue_open"),
        func.coalesce(func.sum(rows.c.work_days), 0).label("work_days_total"),
        func.count(rows.c.work_days).label("work_days_cases"),
    ]


def grouped(ctx: EngineContext, query: StatsQuery) -> tuple[dict[Any, Counts], dict[Any, Counts]]:
    """Counters per agency and per business type, plus their working-day histograms, from one pass.

    Two statements whatever the number of cases: the sums per ``(agency, business type)`` and the
    ``(agency, business type, working days, cases)`` histogram the medians are read from; both tables
    are folded from those pairs, so the cases are read once, not once per table.
    """
    rows = case_rows(ctx, query)
    keys = (rows.c.agency_unit_id, rows.c.business_type)
    pairs: dict[tuple[Any, Any], Counts] = {}
    for row in ctx.session.execute(select(*keys, *_sums(rows)).group_by(*keys)).mappings():
        pairs[(row["agency_unit_id"], row["business_type"])] = Counts({name: int(row[name] or 0) for name in COUNTERS})
    histogram = ctx.session.execute(
        select(*keys, rows.c.work_days, func.count()).where(rows.c.work_days.is_not(None))
        .group_by(*keys, rows.c.work_days)).all()
    for agency, business_type, days, count in histogram:
        pairs[(agency, business_type)].work_days.append((int(days), int(count)))
    by_agency: dict[Any, Counts] = {}
    by_type: dict[Any, Counts] = {}
    for (agency, business_type), counts in pairs.items():
        by_agency.setdefault(agency, Counts()).add(counts)
        by_type.setdefault(business_type, Counts()).add(counts)
    return by_agency, by_type
