"""What the task page shows about a case, and why someone may not open a task.

The case summary lists the household's persons with masked ID numbers only; the page that
shows it records the view (``personal_data_viewed``) like the API does.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine import assignment
from engine.context import EngineContext
from engine.models import HumanTask
from engine.models import Region
from engine.models import Unit
from engine.models import WorkflowInstance
from engine.models.case import Entrustment
from engine.models.case import Household
from engine.models.case import PersonRole
from engine.models.credit import CREDIT_REASON_NAMES
from engine.models.spending import OUTCOME_NAMES
from engine.models.spending import InquiryStatus
from engine.persistence import definition_info
from engine.reports.service import current_report
from engine.services import spending
from engine.services.credit_queries import case_warnings
from engine.services.org import is_registered
from engine.sod import raiser_violation
from engine.sod import violations
from forms.household import BUSINESS_TYPES
from forms.ids import mask_id
from forms.member_rules import RELATIONS

ROLE_REQUIRED = "您在承办单位不具备办理该任务的角色，不能查看或办理此任务。"
CASE_STATUS = {"open": "核对中", "closed": "已结案", "cancelled": "已撤销"}


@dataclass(frozen=True)
class PersonLine:
    name: str
    masked_id: str
    relation: str
    kind: str
    counted: bool


@dataclass
class CaseSummary:
    case_no: str | None
    region: str | None = None
    entrusting_unit: str | None = None
    agency_unit: str | None = None
    business_type: str | None = None
    status: str | None = None
    entrustment_no: str | None = None
    persons: list[PersonLine] = field(default_factory=list)
    has_household: bool = False
    #: the report a decision relies on: number, valid until, 有效/已过期, expired (LOC-27, DO-10)
    report: dict[str, Any] | None = None
    #: subjects with a dishonesty record in force anywhere (AU-3, JL 20): one line each, masked
    credit_warnings: list[str] = field(default_factory=list)
    #: the case's 支出调查 (DO-9), as one line, when there is one; ``spending_open``: a report must wait for it
    spending: str | None = None
    spending_open: bool = False


def case_summary(ctx: EngineContext, instance: WorkflowInstance) -> CaseSummary:
    """The case of ``instance``: its household (by case number) when there is one, else its units."""
    summary = CaseSummary(case_no=instance.business_key)
    units = {u.id: u.name for u in ctx.session.execute(select(Unit).where(
        Unit.id.in_([i for i in (instance.agency_unit_id, instance.entrusting_unit_id) if i is not None]))).scalars()}
    summary.agency_unit = units.get(instance.agency_unit_id or 0)
    summary.entrusting_unit = units.get(instance.entrusting_unit_id or 0)
    if instance.region_code:
        summary.region = ctx.session.execute(select(Region.name).where(Region.code == instance.region_code)).scalar()
    household = None
    case_no = instance.business_key
    if instance.process_id == "individual_recheck":
        # a recheck (PS-9) is about its original household: show that one (the 复核表 is on the recheck page)
        from engine.models import Recheck

        case_no = ctx.session.execute(select(Household.case_no).join(
            Recheck, Recheck.original_household_id == Household.id).where(Recheck.instance_id == instance.id)).scalar()
    if case_no:
        household = ctx.session.execute(
            select(Household).where(Household.case_no == case_no)
            .options(selectinload(Household.persons),
                     selectinload(Household.entrustment).selectinload(Entrustment.entrusting_unit),
                     selectinload(Household.entrustment).selectinload(Entrustment.agency_unit))
        ).scalar_one_or_none()
    if household is None:
        return summary
    summary.has_household = True
    summary.entrusting_unit = household.entrustment.entrusting_unit.name
    summary.agency_unit = household.entrustment.agency_unit.name
    summary.entrustment_no = household.entrustment.number
    summary.business_type = household.business_other or BUSINESS_TYPES.get(household.business_type,
                                                                             household.business_type)
    summary.status = CASE_STATUS.get(household.status.value, household.status.value)
    state = current_report(ctx, household.case_no)
    summary.report = state.to_json() if state else None
    summary.persons = [
        PersonLine(p.name, mask_id(p.id_number), RELATIONS.get(p.relation, (p.relation, None))[0],
                   "家庭成员" if p.role is PersonRole.MEMBER else "法定赡养、抚养、扶养义务人", p.is_included)
        for p in household.persons
    ]
    summary.credit_warnings = [
        f"{p.name}（{p.masked_id}）：{CREDIT_REASON_NAMES[r.reason.value]}，{r.unit.name}登记，"
        f"期限 {r.valid_from.isoformat()} 至 {r.valid_to.isoformat()}（{r.number}）"
        for p, r in case_warnings(ctx, household)]
    inquiry = spending.inquiry_of(ctx, household)
    if inquiry is not None:
        summary.spending_open = inquiry.status is InquiryStatus.OPEN
        outcome = OUTCOME_NAMES[inquiry.outcome.value] if inquiry.outcome else ""
        found = len(inquiry.valid_items)
        summary.spending = (f"调查中，已查实支出 {found} 项；出具核对报告前须办结" if summary.spending_open
                            else f"已办结：{outcome}")
    return summary


def refusal(ctx: EngineContext, task: HumanTask, user_id: int, username: str) -> str | None:
    """Why ``username`` may not open ``task`` (None: they may), without recording anything.

    Its claimant and its completer may always open it; anyone else must be a candidate: hold the
    task's role in the task's unit, be registered for its sharing unit (SD-3), and not be excluded
    by a separation-of-duties rule (the same rules the services enforce on claim and completion).
    """
    if username in (task.assignee, task.completed_by):
        return None
    if not assignment.holds(ctx, user_id, task.unit_id, task.role_code):
        return ROLE_REQUIRED
    sharing_unit = task.properties.get("exchangeUnitValue")
    if sharing_unit and not is_registered(ctx, user_id, sharing_unit, ctx.today()):
        return f"您不是信息共享单位「{sharing_unit}」当前有效的备案交换人员（SD-3）"
    raiser = raiser_violation(task.properties, assignment.raised_by(ctx, task), username)
    if raiser is not None:
        return raiser.explanation
    names = definition_info(ctx, task.instance.definition_id).task_names
    found = violations(task.properties, assignment.done_by(ctx, task.instance_id), username, names)
    return found[0].explanation if found else None


def openable(ctx: EngineContext, tasks: list[HumanTask], user_id: int, username: str) -> set[str]:
    """The ids of those ``tasks`` the user may open: pages link only these (the others answer 403 or 404)."""
    return {t.id for t in tasks if assignment.visible_to(ctx, user_id, t.instance)
            and refusal(ctx, t, user_id, username) is None}
