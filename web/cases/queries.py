"""Read-only lookups behind the case page and the search: jurisdiction first, personal data masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm import selectinload

from engine import assignment
from engine.case_due import CaseDue
from engine.case_due import case_due
from engine.case_due import finished_at
from engine.case_due import finished_at_many
from engine.case_due import overdue_condition
from engine.clock import local_date
from engine.context import EngineContext
from engine.errors import HeduiError
from engine.errors import NotFoundError
from engine.models import Document
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import InstanceStatus
from engine.models import Membership
from engine.models import Region
from engine.models import Unit
from engine.models import UnitKind
from engine.models import WorkflowInstance
from engine.models.case import Household
from engine.models.case import Person
from engine.persistence import load_workflow
from forms.household import BUSINESS_TYPES
from web.db import state

#: roles whose duty on a case may need the full ID number (staff of the case's own units): intake and
#: review compare it with the paper, exchange officers send it to sharing units, clerks correct it
DUTY_ROLES = ("intake_officer", "review_officer", "report_officer", "exchange_officer", "street_clerk",
              "assistance_officer")
CASE_STATUS = {"open": "核对中", "closed": "已结案", "cancelled": "已撤销"}
#: how a finished verification ended, by the end event it reached (bpmn/standard_verification.bpmn)
END_STATUS = {"end_completed": "已结案（核对完成）", "end_returned": "已退回委托单位", "end_terminated": "已终止核对"}
INSTANCE_STATUS = {"terminated": "已终止", "error": "流程异常，请联系管理员"}
ROLE_NAMES = {"member": "共同生活家庭成员", "obligor": "法定赡养、扶养、抚养义务人"}
#: roles that import data packages for their entrusting unit (as the API's entrusting roles)
IMPORT_ROLES = ("street_clerk", "assistance_officer")


def visible_case(ctx: EngineContext, user_id: int, case_no: str) -> Household:
    """The case ``case_no`` if the user's jurisdiction covers it; 404 otherwise (OR-3), never 403."""
    household = ctx.session.execute(
        select(Household).where(Household.case_no == case_no)
        .options(selectinload(Household.persons), selectinload(Household.authorisations))
    ).scalar_one_or_none()
    if household is None or household.instance is None or not assignment.visible_to(
            ctx, user_id, household.instance):
        raise NotFoundError("案件不存在", case_no=case_no)
    return household


def has_duty(session: Session, user_id: int, instance: WorkflowInstance) -> bool:
    """Whether the user works on the case in a role that may need full ID numbers (SEC-13)."""
    units = [u for u in (instance.agency_unit_id, instance.entrusting_unit_id) if u is not None]
    return session.execute(select(Membership.id).where(
        Membership.user_id == user_id, Membership.unit_id.in_(units), Membership.role_code.in_(DUTY_ROLES))
    ).first() is not None


def duty_instances(session: Session, user_id: int, instances: list[WorkflowInstance]) -> set[int]:
    """The ids of ``instances`` on which the user has a duty (:func:`has_duty` for a list, one query)."""
    units = set(session.execute(select(Membership.unit_id).where(
        Membership.user_id == user_id, Membership.role_code.in_(DUTY_ROLES))).scalars())
    return {i.id for i in instances if units & {i.agency_unit_id, i.entrusting_unit_id}}


def case_status(ctx: EngineContext, household: Household) -> str:
    """What the case page says about the case: the household's status while its process runs, then the end it
    reached (the household row is not closed by the process, so a finished process speaks for itself)."""
    instance = household.instance
    if instance is None or instance.status == InstanceStatus.RUNNING:
        return CASE_STATUS.get(household.status.value, household.status.value)
    if instance.status != InstanceStatus.COMPLETED:
        return INSTANCE_STATUS.get(instance.status.value, instance.status.value)
    try:
        reached = [step.bpmn_id for step in load_workflow(ctx, instance).trace()
                   if step.bpmn_id in END_STATUS and step.process_id == instance.process_id]
    except HeduiError:
        reached = []
    return END_STATUS[reached[-1]] if reached else "已结束"


def case_deadline(ctx: EngineContext, instance: WorkflowInstance) -> CaseDue | None:
    """The case's statutory deadline (PS-10) and where the case stands against it, in working days."""
    calendar = state().calendar.using(ctx.session)
    return case_due(instance.due_at, finished=finished_at(ctx.session, instance), now=ctx.now(), calendar=calendar)


def documents_of(session: Session, household: Household) -> list[Document]:
    """The case's scans and its entrustment's letter scans, without loading their bytes."""
    return list(session.execute(
        select(Document).where((Document.household_id == household.id)
                               | ((Document.entrustment_id == household.entrustment_id)
                                  & Document.household_id.is_(None)))
        .order_by(Document.id)
    ).scalars())


def open_tasks(session: Session, case_no: str) -> list[HumanTask]:
    """Open tasks of every process instance of the case (verification, decision feedback, ...)."""
    return list(session.execute(
        select(HumanTask).join(WorkflowInstance, WorkflowInstance.id == HumanTask.instance_id)
        .where(WorkflowInstance.business_key == case_no, HumanTask.status == HumanTaskStatus.OPEN)
        .order_by(HumanTask.created_at)
    ).scalars())


def unit_names(session: Session, ids: list[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    return dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(wanted))).all())


def region_name(session: Session, code: str) -> str:
    return session.execute(select(Region.name).where(Region.code == code)).scalar() or code


def region_names(session: Session, codes: set[str]) -> dict[str, str]:
    """``{code: name}`` of the regions (one query)."""
    if not codes:
        return {}
    return dict(session.execute(select(Region.code, Region.name).where(Region.code.in_(sorted(codes)))).all())


@dataclass(frozen=True)
class Found:
    """One case the searched ID number appears in (the person's row, masked)."""

    case_no: str
    applicant: str
    business_type: str
    status: str
    region: str
    role: str
    masked_id: str
    created_on: date
    #: the statutory deadline and the case's standing against it (None: the case has none)
    deadline: CaseDue | None = None


def find_by_id_number(ctx: EngineContext, user_id: int, number: str, *, overdue_only: bool = False) -> list[Found]:
    """Cases within the user's jurisdiction listing a person with exactly this ID number (no partial match).

    A fixed number of queries whatever the number of rows: jurisdiction is filtered in SQL, the households'
    persons, regions and report-issue times are batch-loaded, the calendar is the app's cached one.

    :param overdue_only: only cases still open past their statutory deadline (PS-10), filtered in SQL.
    """
    query = (select(Household, Person).join(Person, Person.household_id == Household.id)
             .join(WorkflowInstance, WorkflowInstance.id == Household.instance_id)
             .where(Person.id_number == number, assignment.visible_instances(ctx, user_id))
             .options(contains_eager(Household.instance), selectinload(Household.persons))
             .order_by(Household.created_at.desc(), Household.id.desc()))
    if overdue_only:
        query = query.where(overdue_condition(ctx.now()))
    rows = ctx.session.execute(query).all()
    instances = [household.instance for household, _ in rows if household.instance is not None]
    finished = finished_at_many(ctx.session, instances)
    regions = region_names(ctx.session, {household.region_code for household, _ in rows})
    calendar, now = state().calendar.using(ctx.session), ctx.now()
    found = []
    for household, person in rows:
        instance = household.instance
        assert instance is not None  # joined above
        applicant = household.applicant
        found.append(Found(
            case_no=household.case_no, applicant=applicant.name if applicant else "—",
            business_type=BUSINESS_TYPES.get(household.business_type, household.business_type),
            status=CASE_STATUS.get(household.status.value, household.status.value),
            region=regions.get(household.region_code, household.region_code),
            role=ROLE_NAMES[person.role.value], masked_id=person.masked_id,
            created_on=local_date(household.created_at),
            deadline=case_due(instance.due_at, finished=finished[instance.id], now=now, calendar=calendar)))
    return found


def entrusting_units(session: Session, user_id: int) -> list[Unit]:
    """The active entrusting units in which the user may import data packages."""
    return list(session.execute(
        select(Unit).join(Membership, Membership.unit_id == Unit.id)
        .where(Membership.user_id == user_id, Membership.role_code.in_(IMPORT_ROLES),
               Unit.kind == UnitKind.ENTRUSTING_DEPARTMENT, Unit.is_active.is_(True))
        .order_by(Unit.code)
    ).scalars().unique())


def viewer_unit(ctx: EngineContext, user_id: int, case: Household | WorkflowInstance) -> str:
    """The unit a printed or downloaded document's watermark names: the viewer's unit in the case, else their first."""
    instance = case.instance if isinstance(case, Household) else case
    case_units = (instance.agency_unit_id, instance.entrusting_unit_id) if instance is not None else ()
    rows = ctx.session.execute(select(Membership.unit_id, Unit.name).join(Unit, Unit.id == Membership.unit_id)
                               .where(Membership.user_id == user_id).order_by(Membership.id)).all()
    for unit_id, name in rows:
        if unit_id in case_units:
            return str(name)
    return str(rows[0][1]) if rows else ""
