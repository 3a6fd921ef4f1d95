"""A case's statutory deadline (PS-10): whether it is met, in working days, and the SQL that finds overdue cases.

The deadline is ``workflow_instances.due_at`` (copied from the diagram's ``instanceDueVariable``,
``verification_due`` for a verification: 10 working days, 15 for a check entrusted upward or a
re-verification). A case is *finished* for its deadline when its report was issued (``issue_report``
completed) or its process ended otherwise (returned, terminated, cancelled); it is *overdue* while
unfinished past the deadline. Working days come from the working-day calendar (engine/calendar.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import aliased

from engine.calendar import WorkingCalendar
from engine.clock import local_date
from engine.errors import ValidationError
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import InstanceStatus
from engine.models import WorkflowInstance

#: the user task whose completion issues the report and so meets the deadline
REPORT_TASK = "issue_report"
NO_CALENDAR = "（缺少工作日历，无法计算工作日）"


@dataclass(frozen=True)
class CaseDue:
    """The deadline and how the case stands against it (texts as the case page shows them)."""

    due_at: datetime
    text: str
    #: unfinished and past the deadline
    is_overdue: bool = False
    #: finished after the deadline
    is_late: bool = False
    is_finished: bool = False


def report_issued_at(wi: Any = WorkflowInstance) -> Any:
    """A correlated scalar subquery: when the instance's report was issued (None if not yet)."""
    report = aliased(HumanTask)
    return (select(func.max(report.completed_at))
            .where(report.instance_id == wi.id, report.bpmn_id == REPORT_TASK,
                   report.status == HumanTaskStatus.COMPLETED)
            .correlate_except(report).scalar_subquery())


def overdue_condition(now: datetime, wi: Any = WorkflowInstance) -> Any:
    """SQL: the instance is still open (running, no report issued) and its deadline has passed."""
    return and_(wi.status == InstanceStatus.RUNNING, wi.due_at.is_not(None), wi.due_at < now,
                report_issued_at(wi).is_(None))


def finished_at(session: Session, instance: WorkflowInstance) -> datetime | None:
    """When the case finished for its deadline: the report's issue, else the end of its process; None if open."""
    return finished_at_many(session, [instance])[instance.id]


def finished_at_many(session: Session, instances: Iterable[WorkflowInstance]) -> dict[int, datetime | None]:
    """:func:`finished_at` of many cases with one query (lists: the cost does not grow with the rows)."""
    wanted = {i.id: i for i in instances}
    issued: dict[int, datetime] = {}
    if wanted:
        rows = session.execute(
            select(HumanTask.instance_id, func.max(HumanTask.completed_at))
            .where(HumanTask.instance_id.in_(sorted(wanted)), HumanTask.bpmn_id == REPORT_TASK,
                   HumanTask.status == HumanTaskStatus.COMPLETED)
            .group_by(HumanTask.instance_id)).all()
        issued = {instance_id: at for instance_id, at in rows if at is not None}
    return {key: _finished(instance, issued.get(key)) for key, instance in wanted.items()}


def _finished(instance: WorkflowInstance, issued: datetime | None) -> datetime | None:
    if issued is not None:
        return issued
    if instance.status == InstanceStatus.RUNNING:
        return None
    return instance.completed_at or instance.updated_at


def case_due(due_at: datetime | None, *, finished: datetime | None, now: datetime,
             calendar: WorkingCalendar) -> CaseDue | None:
    """How a case stands against its deadline (None when it has none).

    Open: 还剩 N 个工作日 / 今日到期 / 已逾期 N 个工作日. Finished: 已于期限内完成 / 逾期完成.
    """
    if due_at is None:
        return None
    if finished is not None:
        late = finished > due_at
        return CaseDue(due_at, "逾期完成" if late else "已于期限内完成", is_late=late, is_finished=True)
    today, day = local_date(now), local_date(due_at)
    try:
        if due_at < now:
            late_days = calendar.working_days_between(day, today)
            text = f"已逾期 {late_days} 个工作日" if late_days > 0 else "已逾期"
            return CaseDue(due_at, text, is_overdue=True)
        if day == today:
            return CaseDue(due_at, "今日到期")
        return CaseDue(due_at, f"还剩 {calendar.working_days_between(today, day)} 个工作日")
    except ValidationError:
        return CaseDue(due_at, NO_CALENDAR, is_overdue=due_at < now)
