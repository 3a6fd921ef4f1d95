"""Read-only queries behind the inbox: the four tabs, their filters, counts and one page of rows.

Everything comes from the derived ``human_tasks`` table joined to instances, definitions and
units; households, applicants and claimant names are batch-loaded for the page's rows. No
workflow is ever deserialized here, and a page costs a fixed handful of queries whatever its size.

"May claim" is decided in SQL so that counts and pages agree: the task is open and unclaimed,
the user holds its role in its unit, and no separation-of-duties rule (``sodNotSameAs``, SD-3
registration) excludes the user. The services check the same rules again when the claim arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Text
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import exists
from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import type_coerce
from sqlalchemy.orm import aliased

from engine.assignment import raised_by_condition
from engine.calendar import SHANGHAI
from engine.calendar import WorkingCalendar
from engine.clock import local_date
from engine.context import EngineContext
from engine.errors import ValidationError
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import Membership
from engine.models import ProcessDefinition
from engine.models import Region
from engine.models import Unit
from engine.models import User
from engine.models import WorkflowInstance
from engine.models.org import REGION_LEVEL_NAMES
from engine.services.cases import applicants_of
from engine.services.org import is_registered
from engine.sod import declared_exclusions
from forms.ids import mask_id
from web.inbox.schemas import PAGE_SIZE
from web.inbox.schemas import SOON_WORKING_DAYS
from web.inbox.schemas import TABS
from web.inbox.schemas import InboxFilter

NO_VALUE = "—"


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the signed-in user, and the engine's "now"."""

    user_id: int
    username: str
    now: datetime


@dataclass(frozen=True)
class Due:
    """A due date as staff read it: the date, and working days left or overdue."""

    date_text: str
    text: str
    is_overdue: bool = False
    is_soon: bool = False


@dataclass
class InboxRow:
    task: HumanTask
    case_no: str | None
    process_name: str
    level_name: str
    agency_name: str | None
    applicant_name: str | None = None
    applicant_id: str | None = None
    claimed_by: str | None = None
    due: Due | None = None
    completed: Due | None = None


@dataclass
class InboxPage:
    filter: InboxFilter
    tab: str
    rows: list[InboxRow]
    total: int
    counts: dict[str, int]
    processes: list[tuple[str, str]]
    steps: list[tuple[str, str]]
    notice: str | None = None
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        self.pages = max(1, -(-self.total // PAGE_SIZE))


# --- conditions -----------------------------------------------------------------------------------------


class _Conditions:
    """The WHERE clauses of the tabs for one viewer (the SoD exclusions need one small query)."""

    def __init__(self, ctx: EngineContext, viewer: Viewer) -> None:
        self.viewer = viewer
        is_open = HumanTask.status == HumanTaskStatus.OPEN
        self.holds = exists(select(Membership.id).where(
            Membership.user_id == viewer.user_id, Membership.unit_id == HumanTask.unit_id,
            Membership.role_code == HumanTask.role_code))
        unclaimed_held = and_(is_open, HumanTask.assignee.is_(None), self.holds)
        excluded = _excluded(ctx, viewer, unclaimed_held)
        self.mine = and_(is_open, HumanTask.assignee == viewer.username)
        self.claimable = unclaimed_held if excluded is None else and_(unclaimed_held, not_(excluded))
        self.overdue = and_(or_(self.mine, self.claimable), HumanTask.due_at < viewer.now)
        self.done = and_(HumanTask.status == HumanTaskStatus.COMPLETED, HumanTask.completed_by == viewer.username)

    def tab(self, name: str) -> ColumnElement[bool]:
        return {"mine": self.mine, "claimable": self.claimable, "overdue": self.overdue, "done": self.done}[name]


def _excluded(ctx: EngineContext, viewer: Viewer, base: ColumnElement[bool]) -> ColumnElement[bool] | None:
    """Tasks in ``base`` a separation-of-duties rule keeps from the viewer, as one SQL condition.

    Tasks declare their rules in their properties; the distinct property sets among the
    candidate tasks are few (one per user task of each deployed version), so each becomes one
    term: "these properties, and the viewer completed an excluded step of the same case".
    """
    props_text = type_coerce(HumanTask.properties, Text)
    with_rules = or_(props_text.contains("sodNotSameAs"), props_text.contains("exchangeUnitValue"),
                     props_text.contains("sodNotRaisedBy"))
    distinct = ctx.session.execute(select(HumanTask.properties).where(base, with_rules).distinct()).scalars().all()
    done = aliased(HumanTask)
    today = local_date(viewer.now)
    terms: list[ColumnElement[bool]] = []
    for props in distinct:
        same = HumanTask.properties == props
        sharing_unit = props.get("exchangeUnitValue")
        if sharing_unit and not is_registered(ctx, viewer.user_id, sharing_unit, today):
            terms.append(same)  # SD-3: not a registered exchange officer for that unit today
            continue
        steps = declared_exclusions(props)
        if steps:
            terms.append(and_(same, exists(select(done.id).where(
                done.instance_id == HumanTask.instance_id, done.status == HumanTaskStatus.COMPLETED,
                done.completed_by == viewer.username, done.bpmn_id.in_(steps)))))
        raiser = raised_by_condition(props.get("sodNotRaisedBy"), viewer.username)
        if raiser is not None:
            terms.append(and_(same, raiser))  # SD-1: who raised a request the task handles (escalations)
    return or_(*terms) if terms else None


def _due_condition(name: str | None, viewer: Viewer, calendar: WorkingCalendar) -> ColumnElement[bool] | None:
    if name == "overdue":
        return HumanTask.due_at < viewer.now
    if name == "ontime":
        return or_(HumanTask.due_at.is_(None), HumanTask.due_at >= viewer.now)
    if name == "soon":
        limit = calendar.deadline(viewer.now, SOON_WORKING_DAYS)  # ValidationError without calendar data
        return and_(HumanTask.due_at >= viewer.now, HumanTask.due_at <= limit)
    return None


# --- the page -------------------------------------------------------------------------------------------


def count_tabs(ctx: EngineContext, viewer: Viewer) -> dict[str, int]:
    """How many tasks each tab holds (for the tabs and the home page)."""
    return _counts(ctx, _Conditions(ctx, viewer))


def _counts(ctx: EngineContext, c: _Conditions) -> dict[str, int]:
    """All four tab counts in one query."""
    def count(cond: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    row = ctx.session.execute(
        select(count(c.mine), count(c.claimable), count(c.overdue), count(c.done))
        .select_from(HumanTask).where(or_(c.mine, c.claimable, c.done))
    ).one()
    return dict(zip(TABS, (int(v) for v in row), strict=True))


def list_inbox(ctx: EngineContext, viewer: Viewer, wanted: InboxFilter, calendar: WorkingCalendar) -> InboxPage:
    """One page of one tab, filtered and sorted by due date (stable: ties broken by creation and id)."""
    conditions = _Conditions(ctx, viewer)
    counts = _counts(ctx, conditions)
    tab = wanted.tab or ("mine" if counts["mine"] else "claimable")
    base = conditions.tab(tab)
    processes, steps = _choices(ctx, base, wanted.process)
    where = [base]
    if wanted.process:
        where.append(WorkflowInstance.process_id == wanted.process)
    if wanted.step:
        where.append(HumanTask.bpmn_id == wanted.step)
    notice = None
    try:
        due = _due_condition(wanted.due, viewer, calendar)
    except ValidationError as exc:
        due, notice = false(), exc.message
    if due is not None:
        where.append(due)
    total = ctx.session.execute(
        select(func.count(HumanTask.id)).join(WorkflowInstance, WorkflowInstance.id == HumanTask.instance_id)
        .where(*where)).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(wanted.page, pages)
    rows = _rows(ctx, where, wanted.sort, page)
    _fill(ctx, rows, viewer, calendar)
    return InboxPage(filter=replace(wanted, tab=tab, page=page), tab=tab, rows=rows, total=total, counts=counts,
                     processes=processes, steps=steps, notice=notice)


def _choices(ctx: EngineContext, base: ColumnElement[bool],
             process: str | None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Processes and steps present in the tab (steps of the chosen process only), for the filter selects."""
    found = ctx.session.execute(
        select(WorkflowInstance.process_id, ProcessDefinition.name, HumanTask.bpmn_id, HumanTask.name)
        .join(WorkflowInstance, WorkflowInstance.id == HumanTask.instance_id)
        .join(ProcessDefinition, ProcessDefinition.id == WorkflowInstance.definition_id)
        .where(base).distinct()
    ).all()
    processes = dict(sorted({(pid, pname) for pid, pname, _, _ in found}, key=lambda p: p[0]))
    steps = dict(sorted({(bid, bname) for pid, _, bid, bname in found if not process or pid == process}))
    return list(processes.items()), list(steps.items())


def _rows(ctx: EngineContext, where: Sequence[ColumnElement[bool]], sort: str, page: int) -> list[InboxRow]:
    agency = aliased(Unit)
    region = aliased(Region)
    desc = sort == "desc"
    order: list[Any] = [HumanTask.due_at.is_(None),
             HumanTask.due_at.desc() if desc else HumanTask.due_at.asc(),
             HumanTask.created_at.desc() if desc else HumanTask.created_at.asc(),
             # task ids are random (uuid4): ties are broken by the case, so the order means something
             HumanTask.instance_id.desc() if desc else HumanTask.instance_id.asc(),
             HumanTask.id.desc() if desc else HumanTask.id.asc()]
    query = (
        select(HumanTask, WorkflowInstance.business_key, ProcessDefinition.name, agency.name, region.level)
        .join(WorkflowInstance, WorkflowInstance.id == HumanTask.instance_id)
        .join(ProcessDefinition, ProcessDefinition.id == WorkflowInstance.definition_id)
        .outerjoin(agency, agency.id == WorkflowInstance.agency_unit_id)
        .outerjoin(region, region.code == agency.region_code)
        .where(*where).order_by(*order).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    )
    return [
        InboxRow(task=task, case_no=key, process_name=pname, agency_name=aname,
                 level_name=f"{REGION_LEVEL_NAMES[level.value]}级" if level is not None else NO_VALUE)
        for task, key, pname, aname, level in ctx.session.execute(query).all()
    ]


def _fill(ctx: EngineContext, rows: list[InboxRow], viewer: Viewer, calendar: WorkingCalendar) -> None:
    """Applicants (masked), claimant names and due texts for the page's rows: two queries in all."""
    applicants = applicants_of(ctx, [r.case_no for r in rows if r.case_no])
    names = {r.task.assignee for r in rows if r.task.assignee}
    display = dict(ctx.session.execute(
        select(User.username, User.display_name).where(User.username.in_(names))).all()) if names else {}
    for row in rows:
        if row.case_no in applicants:
            name, number = applicants[row.case_no]
            row.applicant_name, row.applicant_id = name, mask_id(number)
        if row.task.assignee:
            row.claimed_by = display.get(row.task.assignee, row.task.assignee)
        row.due = due_of(row.task.due_at, viewer.now, calendar)
        if row.task.completed_at is not None:
            row.completed = completed_of(row.task.due_at, row.task.completed_at, calendar)


# --- due dates in working days --------------------------------------------------------------------------


def local_date_text(when: datetime) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def due_of(due_at: datetime | None, now: datetime, calendar: WorkingCalendar) -> Due | None:
    """The due date with working days left, or how many working days it is overdue."""
    if due_at is None:
        return None
    today, day = local_date(now), local_date(due_at)
    date_text = local_date_text(due_at)
    try:
        if due_at < now:
            late = calendar.working_days_between(day, today)
            text = f"已超期 {late} 个工作日" if late > 0 else "已超期（非工作日）"
            return Due(date_text, text, is_overdue=True)
        if day == today:
            return Due(date_text, "今日到期", is_soon=True)
        left = calendar.working_days_between(today, day)
        return Due(date_text, f"剩余 {left} 个工作日", is_soon=left <= SOON_WORKING_DAYS)
    except ValidationError:
        return Due(date_text, "（缺少工作日历，无法计算工作日）")


def completed_of(due_at: datetime | None, completed_at: datetime, calendar: WorkingCalendar) -> Due:
    """When a task was completed, and whether within its time limit."""
    date_text = local_date_text(completed_at)
    if due_at is None or completed_at <= due_at:
        return Due(date_text, "按期办结")
    try:
        late = calendar.working_days_between(local_date(due_at), local_date(completed_at))
    except ValidationError:
        return Due(date_text, "超期办结", is_overdue=True)
    return Due(date_text, f"超期 {late} 个工作日办结" if late > 0 else "超期办结", is_overdue=True)
