"""Read-only queries behind 本单位任务: the open tasks of the units a supervisor heads.

A task belongs to the page when its unit is one of the user's ``supervisor`` units, or when the
overdue escalation job (``tasks.escalate_overdue``, engine.escalation) reported it to one of them.
Rows come from the derived ``human_tasks`` table (no workflow is deserialized), filtered, counted and
paged in SQL; names and escalation marks are batch-loaded for the page's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import EngineContext
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import Membership
from engine.models import ProcessDefinition
from engine.models import TaskEscalation
from engine.models import Unit
from engine.models import User
from engine.models import WorkflowInstance
from web.inbox.queries import Due
from web.inbox.queries import due_of
from web.supervise.schemas import PAGE_SIZE
from web.supervise.schemas import UNCLAIMED
from web.supervise.schemas import UnitTaskFilter

SUPERVISOR_ROLE = "supervisor"


@dataclass
class UnitTaskRow:
    task: HumanTask
    case_no: str | None
    process_name: str
    unit_name: str | None
    #: the task's unit is one the viewer heads (else it was only reported to them): may reassign
    may_reassign: bool
    escalated_at: datetime | None
    assignee_name: str | None = None
    due: Due | None = None


@dataclass
class UnitTaskPage:
    filter: UnitTaskFilter
    rows: list[UnitTaskRow]
    total: int
    overdue: int
    units: list[str]
    steps: list[tuple[str, str]]
    assignees: list[tuple[str, str]]
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        self.pages = max(1, -(-self.total // PAGE_SIZE))


def supervised_units(ctx: EngineContext, user_id: int) -> dict[int, str]:
    """The units where the user holds ``supervisor``: ``{unit_id: name}``."""
    rows = ctx.session.execute(
        select(Unit.id, Unit.name).join(Membership, Membership.unit_id == Unit.id)
        .where(Membership.user_id == user_id, Membership.role_code == SUPERVISOR_ROLE).order_by(Unit.id)
    ).all()
    return {unit_id: name for unit_id, name in rows}


def _base(unit_ids: list[int]) -> ColumnElement[bool]:
    return (HumanTask.status == HumanTaskStatus.OPEN) & or_(
        HumanTask.unit_id.in_(unit_ids), TaskEscalation.notified_unit_id.in_(unit_ids))


def _from(query: Any) -> Any:
    return (query.join(WorkflowInstance, WorkflowInstance.id == HumanTask.instance_id)
            .outerjoin(TaskEscalation, TaskEscalation.task_id == HumanTask.id))


def list_unit_tasks(ctx: EngineContext, units: dict[int, str], now: datetime, wanted: UnitTaskFilter,
                    calendar: WorkingCalendar) -> UnitTaskPage:
    """One page of the units' open tasks: overdue first, then by due time (ties: creation, case, id)."""
    unit_ids = sorted(units)
    base = _base(unit_ids)
    steps, assignees = _choices(ctx, base)
    where = [base]
    if wanted.step:
        where.append(HumanTask.bpmn_id == wanted.step)
    if wanted.assignee == UNCLAIMED:
        where.append(HumanTask.assignee.is_(None))
    elif wanted.assignee:
        where.append(HumanTask.assignee == wanted.assignee)
    total, overdue = ctx.session.execute(_from(select(
        func.count(HumanTask.id), func.coalesce(func.sum(case((HumanTask.due_at < now, 1), else_=0)), 0))
        .select_from(HumanTask)).where(*where)).one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(wanted.page, pages)
    rows = _rows(ctx, where, now, page, set(unit_ids))
    _fill(ctx, rows, now, calendar)
    return UnitTaskPage(filter=replace(wanted, page=page), rows=rows, total=total, overdue=int(overdue),
                        units=list(units.values()), steps=steps, assignees=assignees)


def _choices(ctx: EngineContext, base: ColumnElement[bool]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Steps and assignees present among the units' open tasks, for the filter selects."""
    found = ctx.session.execute(_from(select(HumanTask.bpmn_id, HumanTask.name, HumanTask.assignee)
                                      .select_from(HumanTask)).where(base).distinct()).all()
    steps = sorted({(bpmn_id, name) for bpmn_id, name, _ in found})
    usernames = {a for _, _, a in found if a}
    names = dict(ctx.session.execute(select(User.username, User.display_name)
                                     .where(User.username.in_(usernames))).all()) if usernames else {}
    assignees = sorted(((u, names.get(u, u)) for u in usernames), key=lambda a: a[1])
    return steps, [(UNCLAIMED, "待认领"), *assignees]


def _rows(ctx: EngineContext, where: list[ColumnElement[bool]], now: datetime, page: int,
          unit_ids: set[int]) -> list[UnitTaskRow]:
    query = _from(
        select(HumanTask, WorkflowInstance.business_key, ProcessDefinition.name, Unit.name,
               TaskEscalation.escalated_at).select_from(HumanTask)
    ).join(ProcessDefinition, ProcessDefinition.id == WorkflowInstance.definition_id
           ).outerjoin(Unit, Unit.id == HumanTask.unit_id).where(*where).order_by(
        case((HumanTask.due_at < now, 0), else_=1), HumanTask.due_at.is_(None), HumanTask.due_at,
        HumanTask.created_at, HumanTask.instance_id, HumanTask.id,
    ).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    return [UnitTaskRow(task=task, case_no=key, process_name=pname, unit_name=uname,
                        may_reassign=task.unit_id in unit_ids, escalated_at=escalated_at)
            for task, key, pname, uname, escalated_at in ctx.session.execute(query).all()]


def _fill(ctx: EngineContext, rows: list[UnitTaskRow], now: datetime, calendar: WorkingCalendar) -> None:
    """Assignee names and due texts for the page's rows (one query)."""
    usernames = {r.task.assignee for r in rows if r.task.assignee}
    names = dict(ctx.session.execute(select(User.username, User.display_name)
                                     .where(User.username.in_(usernames))).all()) if usernames else {}
    for row in rows:
        if row.task.assignee:
            row.assignee_name = names.get(row.task.assignee, row.task.assignee)
        row.due = due_of(row.task.due_at, now, calendar)
