"""Individual re-verification (个案复核, PS-9, PS-13, DO-8, AU-2): file, decide, entrust, link the result.

1. :func:`file_recheck` — the initiating department files the 复核表 for an enrolled household
   on one of four triggers. An objection is accepted only within the policy's objection window
   (30 calendar days from the notification date, the end moved to the next working day); a late
   one is refused with code ``objection_late`` and the refusal is kept (a ``refused`` recheck and
   an event on the original case). A complaint (举报) may concern any household in the initiating
   unit's region. The ``individual_recheck`` instance starts and its 填写复核表 task is completed
   in the initiator's name, so the SoD rule on 决定是否复核 (``sodNotSameAs``) excludes them.
2. The county social-assistance department decides (the ``decide_recheck`` task, through the
   inbox or the API); :func:`on_recheck_task` then issues the numbered 复核委托书 to the county or
   city agency and starts the linked ``standard_verification`` case (engine.services.reverify).
3. When that case ends, :func:`on_verification_finished` tells the recheck (message
   ``recheck_result``) and :func:`link_recheck_report` links the 复核报告 its 出具核对报告 step issued
   (``engine.reports.service.issue_for_instance``) to the recheck and the original case. The linked
   case follows the tiering policy (PS-5, ``engine.services.tiering``): upper agencies' parts come back
   as their own 复核报告 before the case ends, and are recorded with it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import aliased

import forms
from engine.assignment import visible_instances
from engine.assignment import visible_to
from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import FormValidationError
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import append_event
from engine.history import instance_stream
from engine.models import Escalation
from engine.models import EscalationStatus
from engine.models import Event
from engine.models import Household
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import Membership
from engine.models import Recheck
from engine.models import RecheckStatus
from engine.models import RecheckTrigger
from engine.models import Unit
from engine.models import User
from engine.models import WorkflowInstance
from engine.persistence import lock_instance
from engine.policy import effective_policy
from engine.services.cases import next_counter_value
from engine.services.instances import complete_task
from engine.services.instances import start_instance
from engine.services.register_scope import department_case
from engine.services.reverify import Reverification
from engine.services.reverify import agency_at_level
from engine.services.reverify import count_subjects
from engine.services.reverify import department_at_level
from engine.services.reverify import new_recheck_entrustment
from engine.services.reverify import start_reverification

if TYPE_CHECKING:
    from engine.reports.service import ReportState

logger = logging.getLogger(__name__)

PROCESS_ID = "individual_recheck"
RESULT_MESSAGE = "recheck_result"
INITIATOR_ROLES = ("assistance_officer", "street_clerk")
OPEN_STATUSES = (RecheckStatus.FILED, RecheckStatus.ENTRUSTED)
FEEDBACK_PROCESS = "decision_feedback"
FEEDBACK_TASKS = ("record_decision", "record_decision_late")
SYSTEM = Actor.system("system")


class ObjectionTooLateError(ValidationError):
    """An objection filed after the policy's objection window (PS-13); the refusal itself is kept."""

    code = "objection_late"
    message = "异议已超过提出复核申请的期限，不予受理"


def get_recheck(ctx: EngineContext, number: str) -> Recheck:
    recheck = ctx.session.execute(select(Recheck).where(Recheck.number == number)).scalar_one_or_none()
    if recheck is None:
        raise NotFoundError("复核不存在", recheck_no=number)
    return recheck


def file_recheck(ctx: EngineContext, *, case_no: str, form: Mapping[str, Any], initiating_unit: Unit,
                 actor: Actor) -> Recheck:
    """File a 复核表 for the household of ``case_no`` and start the ``individual_recheck`` process.

    :raises NotFoundError: no such case, or not in the initiating unit's jurisdiction.
    :raises PermissionDeniedError: ``role_required`` when the actor is no officer of the initiating unit.
    :raises FormValidationError: the 复核表 is incomplete.
    :raises ObjectionTooLateError: a late objection (the refusal is recorded and committed).
    :raises InvalidStateError: ``recheck_open`` when the household already has a recheck running.
    """
    original = department_case(ctx, case_no, initiating_unit)
    _check_initiator(ctx, initiating_unit, actor)
    try:
        values = forms.validate("recheck_form", form)
    except forms.FormError as exc:
        raise FormValidationError(fields=exc.fields) from exc
    today = ctx.today()
    requested_on = date.fromisoformat(values["requested_on"])
    if requested_on > today:
        raise FormValidationError(fields={"requested_on": ["申请日期不能晚于今天"]})
    deciding = department_at_level(ctx, original.region_code)
    if deciding is None:
        raise ValidationError("该户所在县（市、区）没有社会救助部门，无法决定复核", code="no_deciding_department")
    # the original case's row lock orders two filings for one household: the second sees the first
    lock_instance(ctx.session, original.instance_id or 0)
    if ctx.session.execute(select(Recheck.id).where(Recheck.original_household_id == original.id,
                                                    Recheck.status.in_(OPEN_STATUSES))).first():
        raise InvalidStateError("该户已有正在办理的复核", code="recheck_open", case_no=case_no)
    recheck = Recheck(
        number=f"FH-{deciding.code}-{today.year}-{next_counter_value(ctx, deciding.id, today.year, 'recheck'):06d}",
        trigger=RecheckTrigger(values["trigger"]), status=RecheckStatus.FILED, original_household_id=original.id,
        original_instance_id=original.instance_id, initiating_unit_id=initiating_unit.id,
        requester_name=values["requester_name"], requested_on=requested_on, reason=values["reason"],
        deciding_unit_id=deciding.id, created_at=ctx.now(), created_by=actor.username)
    if recheck.trigger is RecheckTrigger.OBJECTION:
        _check_objection_window(ctx, recheck, original, values, actor)
    ctx.session.add(recheck)
    ctx.session.flush()
    _start(ctx, recheck, original, values, actor)
    return recheck


def _check_initiator(ctx: EngineContext, unit: Unit, actor: Actor) -> None:
    if unit.kind.value != "entrusting_department":
        raise ValidationError("发起部门须为社会救助部门或镇（街）民政办", code="recheck_invalid",
                              fields={"initiating_unit": ["须为委托单位"]})
    if actor.user_id is None:
        return
    held = ctx.session.execute(select(Membership.id).where(
        Membership.user_id == actor.user_id, Membership.unit_id == unit.id,
        Membership.role_code.in_(INITIATOR_ROLES))).first()
    if held is None:
        raise PermissionDeniedError("您不是发起部门的经办人员", code="role_required", roles=list(INITIATOR_ROLES))


def recorded_notification(ctx: EngineContext, original: Household) -> date | None:
    """The date the household was told the result, as recorded with the decision feedback (PS-12, PS-13).

    The feedback form's ``notified_on`` when given, else its ``decided_on`` (the department
    tells the household with its decision). None when no decision was reported yet.
    """
    payload = ctx.session.execute(
        select(Event.payload).join(WorkflowInstance, WorkflowInstance.id == Event.instance_id)
        .where(WorkflowInstance.process_id == FEEDBACK_PROCESS, WorkflowInstance.business_key == original.case_no,
               Event.kind == "task_completed", Event.bpmn_id.in_(FEEDBACK_TASKS))
        .order_by(Event.id.desc())).scalars().first()
    data = (payload or {}).get("data") or {}
    value = data.get("notified_on") or data.get("decided_on")
    return date.fromisoformat(value) if value else None


def _check_objection_window(ctx: EngineContext, recheck: Recheck, original: Household, values: dict[str, Any],
                            actor: Actor) -> None:
    recorded = recorded_notification(ctx, original)
    stated = date.fromisoformat(values["notified_on"]) if values.get("notified_on") else None
    notified = recorded or stated
    if notified is None:
        raise FormValidationError(fields={"notified_on": ["系统中没有告知日期记录，提出异议时须填写告知核对结果日期"]})
    policy = effective_policy(ctx, ctx.policy_profile)
    deadline = policy.objection_deadline(notified, WorkingCalendar(ctx.session))
    recheck.notified_on, recheck.objection_deadline = notified, deadline
    if recheck.requested_on <= deadline:
        return
    reason = (f"告知日期 {notified.isoformat()} 起 {policy.objection_window_days} 日内（截至 {deadline.isoformat()}）"
              f"可提出复核申请；{recheck.requested_on.isoformat()} 提出的异议已逾期，不予受理")
    recheck.status, recheck.refusal_code, recheck.decision_reason = RecheckStatus.REFUSED, "objection_late", reason
    recheck.finished_at = ctx.now()
    ctx.session.add(recheck)
    ctx.session.flush()
    append_event(ctx, stream=instance_stream(original.instance_id or 0), kind="recheck_refused", actor=actor,
                 instance_id=original.instance_id, payload={
                     "recheck_no": recheck.number, "trigger": recheck.trigger.value, "code": "objection_late",
                     "notified_on": notified.isoformat(), "deadline": deadline.isoformat(),
                     "requested_on": recheck.requested_on.isoformat(), "recorded": recorded is not None})
    error = ObjectionTooLateError(reason, recheck_no=recheck.number, deadline=deadline.isoformat(),
                                  fields={"requested_on": [reason]})
    error.commit = True  # keep the record of the refusal; nothing else was written
    raise error


def _start(ctx: EngineContext, recheck: Recheck, original: Household, values: dict[str, Any], actor: Actor) -> None:
    policy = effective_policy(ctx, ctx.policy_profile)
    case = original.instance
    assert case is not None
    data = {"recheck_no": recheck.number, "case_no": original.case_no, "trigger": recheck.trigger.value,
            "recheck_days": policy.reverification_days}
    instance = start_instance(ctx, PROCESS_ID, actor=actor, business_key=recheck.number, data=data,
                              agency_unit_id=case.agency_unit_id, entrusting_unit_id=recheck.deciding_unit_id,
                              region_code=original.region_code)
    recheck.instance_id = instance.id
    ctx.session.flush()
    [task] = ctx.session.execute(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.status == HumanTaskStatus.OPEN)).scalars().all()
    # the initiator may belong to another unit than the deciding department: the service checked their
    # role in the initiating unit, so the task is completed in their name without a membership check
    complete_task(ctx, task.id, values, actor=Actor(actor.username, actor.role))
    append_event(ctx, stream=instance_stream(case.id), kind="recheck_filed", actor=actor, instance_id=case.id,
                 payload={"recheck_no": recheck.number, "trigger": recheck.trigger.value,
                          "recheck_instance_id": instance.id, "initiating_unit": recheck.initiating_unit.code,
                          "deciding_unit": recheck.deciding_unit.code})
    logger.info("Recheck %s filed for %s (%s) by %s", recheck.number, original.case_no, recheck.trigger.value,
                actor.username)


# --- hooks called by engine.services.followups -------------------------------------------------------------


def on_recheck_task(ctx: EngineContext, instance: WorkflowInstance, task: HumanTask, values: Mapping[str, Any],
                    actor: Actor) -> None:
    """After 决定是否复核 or 登记复核结果 was completed (through any channel: inbox, API)."""
    recheck = ctx.session.execute(select(Recheck).where(Recheck.instance_id == instance.id)).scalar_one_or_none()
    if recheck is None:
        return
    if task.bpmn_id == "decide_recheck":
        if values.get("decision") == "recheck":
            _entrust(ctx, recheck, str(values.get("agency_level") or "county"), actor)
        else:
            recheck.status, recheck.decision_reason, recheck.finished_at = (
                RecheckStatus.DECLINED, values.get("reason"), ctx.now())
            _original_event(ctx, recheck, "recheck_declined", actor, reason=values.get("reason"))
    elif task.bpmn_id == "record_result":
        recheck.status, recheck.result, recheck.finished_at = RecheckStatus.COMPLETED, values.get("result"), ctx.now()
        if values.get("report_no"):
            recheck.report_no = values["report_no"]
        _original_event(ctx, recheck, "recheck_completed", actor, report_no=recheck.report_no)
    ctx.session.flush()


def _entrust(ctx: EngineContext, recheck: Recheck, level: str, actor: Actor) -> None:
    """Issue the 复核委托书 to the county or city agency and start the linked verification case."""
    original = recheck.original_household
    agency = agency_at_level(ctx, original.region_code, level)
    if agency is None:
        raise ValidationError("所选层级没有核对机构", code="no_agency", fields={"agency_level": ["该层级没有核对机构"]})
    user = ctx.session.execute(select(User).where(User.username == actor.username)).scalar_one_or_none()
    entrustment = new_recheck_entrustment(
        ctx, entrusting=recheck.deciding_unit, agency=agency, households=1,
        persons=count_subjects(ctx, [original.id]), contact_name=user.display_name if user else actor.username,
        actor=actor)
    household = start_reverification(ctx, original, Reverification.prepare(ctx, entrustment), actor=actor,
                                     link={"recheck_no": recheck.number})
    recheck.status, recheck.agency_unit_id = RecheckStatus.ENTRUSTED, agency.id
    recheck.entrustment_id, recheck.verification_household_id = entrustment.id, household.id
    # the entrusted agency follows the recheck too (jurisdiction: it is now a party to it)
    assert recheck.instance is not None
    recheck.instance.agency_unit_id = agency.id
    ctx.session.flush()
    append_event(ctx, stream=instance_stream(recheck.instance_id or 0), kind="recheck_entrusted", actor=actor,
                 instance_id=recheck.instance_id, payload={
                     "recheck_no": recheck.number, "entrustment_number": entrustment.number,
                     "agency_unit": agency.code, "case_no": household.case_no,
                     "verification_instance_id": household.instance_id})
    _original_event(ctx, recheck, "recheck_entrusted", actor, entrustment_number=entrustment.number,
                    agency_unit=agency.code, case_no=household.case_no)


def _original_event(ctx: EngineContext, recheck: Recheck, kind: str, actor: Actor, **payload: Any) -> None:
    if recheck.original_instance_id is None:
        return
    append_event(ctx, stream=instance_stream(recheck.original_instance_id), kind=kind, actor=actor,
                 instance_id=recheck.original_instance_id, payload={"recheck_no": recheck.number, **payload})


def on_verification_finished(ctx: EngineContext, instance: WorkflowInstance, end_id: str,
                             report_no: str | None) -> None:
    """A standard case ended: if it is a recheck's verification, tell the recheck and link the report."""
    from engine.services.messages import deliver_message

    recheck = ctx.session.execute(select(Recheck).join(Household, Household.id == Recheck.verification_household_id)
                                  .where(Household.instance_id == instance.id)).scalar_one_or_none()
    if recheck is None:
        return
    link_recheck_report(ctx, recheck, report_no)
    outcome = {"case_no": instance.business_key, "end": end_id, "report_no": recheck.report_no or report_no}
    try:
        deliver_message(ctx, RESULT_MESSAGE, recheck.number, outcome, actor=SYSTEM)
    except NotFoundError:
        logger.warning("Recheck %s was not waiting for its verification result", recheck.number)


def link_recheck_report(ctx: EngineContext, recheck: Recheck, report_no: str | None) -> None:
    """Link the 复核报告 of the recheck's verification case to the recheck and the original case (DO-8, PS-9).

    The report is the stored one (``engine.reports``: issued at the case's 出具核对报告 step as a
    ``reverification`` report naming the original report); the original case's history records it.
    When upper agencies checked part of the case (上下分级核对, PS-5) their 复核报告 are recorded too,
    and the recheck links the case's own report, or — every item checked above (省级全联通) — the
    first upper one. A verification that ended without a report (returned, terminated) links only the
    number the agency may have typed, as before.
    """
    from engine.reports.service import current_report

    verification = recheck.verification_household
    own = current_report(ctx, verification.case_no) if verification is not None else None
    upper = _upper_reports(ctx, verification.id) if verification is not None else []
    state = own or (upper[0] if upper else None)
    if state is None:
        if report_no:
            recheck.report_no = report_no
            ctx.session.flush()
        return
    report = state.report
    recheck.report_no = report.number
    ctx.session.flush()
    review = json.loads(report.content).get("reverification") or {}
    levels = {"upper_reports": [s.report.number for s in upper]} if upper else {}
    _original_event(ctx, recheck, "recheck_report_issued", SYSTEM, report_id=report.id, number=report.number,
                    report_kind=report.kind.value, sha256=report.sha256, case_no=report.case_no,
                    original_report=(review.get("original") or {}).get("number"), **levels)


def _upper_reports(ctx: EngineContext, household_id: int) -> list[ReportState]:
    """The current reports the upper agencies issued for the case, one per returned escalation, in order."""
    from engine.reports.service import current_report

    cases = ctx.session.execute(
        select(Household.case_no).join(Escalation, Escalation.upper_household_id == Household.id)
        .where(Escalation.origin_household_id == household_id, Escalation.status == EscalationStatus.RETURNED)
        .order_by(Escalation.id)).scalars().all()
    return [state for case_no in cases if (state := current_report(ctx, case_no)) is not None]


# --- reading -------------------------------------------------------------------------------------------------


def list_rechecks(ctx: EngineContext, *, user_id: int | None, original_household_id: int | None = None,
                  before_id: int | None = None, limit: int = 100) -> tuple[list[Recheck], int | None]:
    """The rechecks the user may see (OR-3), newest first: ``(page, cursor of the next page or None)``.

    Jurisdiction is part of the query, so a page is always full while visible rechecks remain;
    the cursor is the id of the page's last recheck (keyset, stable while new ones are filed).

    :param user_id: None when the caller has already checked jurisdiction (the page of a visible case).
    """
    query = select(Recheck).order_by(Recheck.id.desc()).limit(limit + 1)
    if user_id is not None:
        case, original = aliased(WorkflowInstance), aliased(Household)
        query = (query.join(original, original.id == Recheck.original_household_id)
                 .join(case, case.id == func.coalesce(Recheck.instance_id, original.instance_id))
                 .where(visible_instances(ctx, user_id, case)))
    if original_household_id is not None:
        query = query.where(Recheck.original_household_id == original_household_id)
    if before_id is not None:
        query = query.where(Recheck.id < before_id)
    rows = list(ctx.session.execute(query).scalars())
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


def recheck_visible_to(ctx: EngineContext, user_id: int, recheck: Recheck) -> bool:
    """Whether the user's jurisdiction holds the recheck's case (its own instance, else the original case)."""
    instance = recheck.instance or recheck.original_household.instance
    return instance is not None and visible_to(ctx, user_id, instance)


def is_overdue(ctx: EngineContext, recheck: Recheck) -> bool:
    """Whether the 15-working-day limit passed before the result came (the fired timer, no deserializing)."""
    from engine.models import Timer
    from engine.models import TimerStatus

    if recheck.instance_id is None:
        return False
    return ctx.session.execute(select(Timer.id).where(
        Timer.instance_id == recheck.instance_id, Timer.bpmn_id == "result_timeout",
        Timer.status == TimerStatus.FIRED)).first() is not None
