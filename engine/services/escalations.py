"""Escalations across levels: the shared core of tiered (PS-5, PS-6) and cross-city (PS-7) verification.

An :class:`~engine.models.Escalation` is what one upper agency checks for one original (county)
case. This module is the contract both procedures use:

- :func:`open_upward_entrustment` — the upward 委托书 (``EntrustmentSource.UPWARD``), numbered by
  the system, its household/person counts taken from the original cases (DO-5: the subject list
  is generated, nobody types it again);
- :func:`start_upper_case` — the upper agency's own ``standard_verification`` case: the household
  is copied with its 授权书 still in force (PR-1), it starts at 审核复审 (PS-6) and checks only
  the escalation's items;
- :func:`record_step` — every move, with the unit holding the escalation afterwards, also on the
  original case's history;
- :func:`return_to_origin` — the report (or the refusal) reaches the original case; when nothing is
  pending any more the original case gets ``upper_reports_returned`` and goes on.

:func:`on_upper_case_finished` links an upper case's report when that case ends; the county side
(raising escalations at 审核复审) lives in ``engine.services.tiering``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.history import append_event
from engine.history import instance_stream
from engine.models import Entrustment
from engine.models import EntrustmentSource
from engine.models import Escalation
from engine.models import EscalationKind
from engine.models import EscalationStatus
from engine.models import EscalationStep
from engine.models import Household
from engine.models import Membership
from engine.models import MessageSubscription
from engine.models import Unit
from engine.models import UnitKind
from engine.models import User
from engine.models import WorkflowInstance
from engine.persistence import lock_instance
from engine.policy import effective_policy
from engine.services.cases import local_today
from engine.services.cases import next_counter_value
from engine.services.reverify import Reverification
from engine.services.reverify import count_subjects
from engine.services.reverify import start_reverification

logger = logging.getLogger(__name__)

#: the message the original case waits for (correlation: its case_no)
RETURNED_MESSAGE = "upper_reports_returned"
#: escalations still on their way (the original case waits for them)
PENDING = (EscalationStatus.REQUESTED, EscalationStatus.GATHERED, EscalationStatus.ENTRUSTED,
           EscalationStatus.REPORTED)
SYSTEM = Actor.system("system")


# --- creating ----------------------------------------------------------------------------------------


def new_escalation(ctx: EngineContext, *, kind: EscalationKind, origin: Household, target: Unit, items: Sequence[str],
                   actor: Actor, via: Unit | None = None, reason: str | None = None) -> Escalation:
    """A numbered escalation of ``origin`` (``SJ-<agency>-<year>-<n>``); no step yet (the caller records it)."""
    instance = origin.instance
    if instance is None or instance.agency_unit_id is None:
        raise InvalidStateError("该案件没有流程实例，不能向上级委托", case_no=origin.case_no)
    agency = ctx.session.get(Unit, instance.agency_unit_id)
    assert agency is not None
    year = local_today(ctx).year
    number = f"SJ-{agency.code}-{year}-{next_counter_value(ctx, agency.id, year, 'escalation'):06d}"
    status = EscalationStatus.REQUESTED if kind is EscalationKind.CROSS_CITY else EscalationStatus.ENTRUSTED
    escalation = Escalation(
        number=number, kind=kind, status=status, origin_household_id=origin.id, origin_instance_id=instance.id,
        origin_agency_unit_id=agency.id, target_agency_unit_id=target.id, via_unit_id=via.id if via else None,
        items=list(items), reason=reason, raised_at=ctx.now(), raised_by=actor.username)
    ctx.session.add(escalation)
    ctx.session.flush()
    return escalation


def open_upward_entrustment(ctx: EngineContext, *, from_unit: Unit, to_unit: Unit,
                            escalations: Sequence[Escalation], actor: Actor) -> Entrustment:
    """One 委托书 (EntrustmentSource.UPWARD) from a lower agency to an upper one, numbered by the system,
    household/person counts from the escalations' original cases (DO-5: the subject list is generated);
    the contact is the acting officer, the phone the entrusting agency's (``Unit.contact_phone``).

    :raises ValidationError: ``escalation_invalid`` when either unit is not a verification agency, the
        upper one does not cover the lower one's region, or there is nothing to entrust.
    """
    if not escalations:
        raise ValidationError("没有需要委托上级核对机构的事项", code="escalation_invalid")
    agencies = (from_unit.kind, to_unit.kind) == (UnitKind.VERIFICATION_AGENCY, UnitKind.VERIFICATION_AGENCY)
    above = from_unit.region.path.startswith(to_unit.region.path) and from_unit.region_code != to_unit.region_code
    if not agencies or not above or not to_unit.is_active:
        raise ValidationError("上级委托须由下级核对机构委托其上级核对机构", code="escalation_invalid",
                              fields={"to_unit": ["须为委托方上级行政区划的核对机构"]})
    wrong = [e.number for e in escalations if e.target_agency_unit_id != to_unit.id or e.entrustment_id is not None]
    if wrong:
        raise ValidationError(f"以下事项不能列入该委托书：{'、'.join(wrong)}", code="escalation_invalid")
    today = local_today(ctx)
    origins = sorted({e.origin_household_id for e in escalations})
    user = ctx.session.execute(select(User).where(User.username == actor.username)).scalar_one_or_none()
    number = f"SJWT-{from_unit.code}-{today.year}-{next_counter_value(ctx, from_unit.id, today.year, 'upward_wt'):06d}"
    entrustment = Entrustment(
        number=number, entrusting_unit_id=from_unit.id, agency_unit_id=to_unit.id,
        contact_name=(user.display_name if user else actor.username)[:50],
        contact_phone=from_unit.contact_phone or "", entrusted_on=today,
        household_count=len(origins), person_count=count_subjects(ctx, origins), source=EntrustmentSource.UPWARD,
        created_at=ctx.now(), created_by=actor.username)
    ctx.session.add(entrustment)
    ctx.session.flush()
    for escalation in escalations:
        escalation.entrustment_id = entrustment.id
    ctx.session.flush()
    logger.info("Upward entrustment %s from %s to %s: %s households", number, from_unit.code, to_unit.code,
                len(origins))
    return entrustment


def start_upper_case(ctx: EngineContext, escalation: Escalation, entrustment: Entrustment, *,
                     actor: Actor) -> Household:
    """A case of escalation.target_agency for escalation.origin_household: copies the household, its persons
    and its valid authorisation (PR-1 must hold for the copy), starts standard_verification with
    from_lower_agency=True (PS-6: starts at 审核复审) and sharing_units=escalation.items; sets
    upper_household_id, entrustment_id, due_at (the upper case's verification_due), status ENTRUSTED and
    records a step at the target agency.

    :raises InvalidStateError: ``escalation_started`` when the escalation already has its upper case.
    :raises PermissionDeniedError: ``authorisation_missing`` when no 授权书 is in force (PR-1).
    """
    if escalation.upper_household_id is not None:
        raise InvalidStateError("该事项已由上级核对机构立案", code="escalation_started", number=escalation.number)
    if entrustment.agency_unit_id != escalation.target_agency_unit_id:
        raise ValidationError("委托书的受托单位与上级核对机构不一致", code="escalation_invalid")
    policy = effective_policy(ctx, ctx.policy_profile)
    start_data: dict[str, Any] = {**policy.standard_verification_data(from_lower_agency=True),
                                  "from_lower_agency": True, "escalation_no": escalation.number}
    prepared = Reverification(entrustment, list(escalation.items), start_data, entrustment.agency_unit.region.path)
    origin = escalation.origin_household
    household = start_reverification(
        ctx, origin, prepared, actor=actor, note=f"上级核对：原案件 {origin.case_no}",
        link={"escalation_no": escalation.number, "escalation_kind": escalation.kind.value})
    escalation.upper_household_id, escalation.entrustment_id = household.id, entrustment.id
    deadline = ctx.deadline or WorkingCalendar(ctx.session).deadline
    escalation.due_at = deadline(ctx.now(), start_data["verification_days"])  # what the case computed
    record_step(ctx, escalation, EscalationStatus.ENTRUSTED, entrustment.agency_unit, actor,
                note=f"{entrustment.number}；上级案件 {household.case_no}")
    return household


# --- moving ------------------------------------------------------------------------------------------


def record_step(ctx: EngineContext, escalation: Escalation, status: EscalationStatus, unit: Unit, actor: Actor,
                note: str | None = None) -> EscalationStep:
    """Set escalation.status and append an EscalationStep (and an event on the original case's history)."""
    escalation.status = status
    step = EscalationStep(escalation=escalation, at=ctx.now(), status=status, unit_id=unit.id,
                          actor=actor.username, note=note[:500] if note else None)
    ctx.session.add(step)
    ctx.session.flush()
    if escalation.origin_instance_id is not None:
        lock_instance(ctx.session, escalation.origin_instance_id)  # orders the original case's stream
        append_event(ctx, stream=instance_stream(escalation.origin_instance_id), kind="escalation_step", actor=actor,
                     instance_id=escalation.origin_instance_id, payload={
                         "escalation_no": escalation.number, "kind": escalation.kind.value, "status": status.value,
                         "unit": unit.code, "items": list(escalation.items), "note": note})
    return step


def return_to_origin(ctx: EngineContext, escalation: Escalation, *, actor: Actor, note: str | None = None,
                     cancelled: bool = False) -> None:
    """The escalation's report (or, cancelled=True, its refusal with the note) reaches the original case:
    status RETURNED (or CANCELLED), returned_at, a step at the origin agency; when no escalation of the
    original case is pending any more, delivers the message `upper_reports_returned` (correlation: the
    original case_no) so the original case goes on."""
    if escalation.status not in PENDING:
        raise InvalidStateError("该事项已反馈原核对机构", code="escalation_closed", number=escalation.number)
    escalation.returned_at = ctx.now()
    status = EscalationStatus.CANCELLED if cancelled else EscalationStatus.RETURNED
    record_step(ctx, escalation, status, escalation.origin_agency, actor, note=note)
    release_if_complete(ctx, escalation.origin_household)


def pending_escalations(ctx: EngineContext, household_id: int) -> list[Escalation]:
    return list(ctx.session.execute(select(Escalation).where(
        Escalation.origin_household_id == household_id, Escalation.status.in_(PENDING))
        .order_by(Escalation.id)).scalars())


def escalations_of(ctx: EngineContext, household_id: int) -> list[Escalation]:
    """Every escalation the case raised, oldest first."""
    return list(ctx.session.execute(select(Escalation).where(Escalation.origin_household_id == household_id)
                                    .order_by(Escalation.id)).scalars())


def _waits(ctx: EngineContext, case_no: str) -> bool:
    return ctx.session.execute(select(MessageSubscription.id).where(
        MessageSubscription.message_name == RETURNED_MESSAGE,
        MessageSubscription.correlation_key == case_no)).first() is not None


def release_waiting_case(ctx: EngineContext, instance: WorkflowInstance) -> bool:
    """After a step of a case: if it now waits for upper reports that all came back already, go on."""
    if instance.business_key is None or not _waits(ctx, instance.business_key):
        return False
    origin = ctx.session.execute(select(Household).where(Household.instance_id == instance.id)).scalar_one_or_none()
    return origin is not None and release_if_complete(ctx, origin)


def release_if_complete(ctx: EngineContext, origin: Household) -> bool:
    """Deliver ``upper_reports_returned`` to the original case when it waits and nothing is pending.

    Called when an escalation returns and after each step of the original case (it may reach its
    wait only after the last report came back). True when the case was released.
    """
    if not _waits(ctx, origin.case_no) or pending_escalations(ctx, origin.id):
        return False
    from engine.services.messages import deliver_message
    returned = [{"escalation_no": e.number, "status": e.status.value, "report_id": e.report_id}
                for e in escalations_of(ctx, origin.id)]
    try:
        deliver_message(ctx, RETURNED_MESSAGE, origin.case_no, {"escalations": returned}, actor=SYSTEM)
    except NotFoundError:  # pragma: no cover - the subscription was read under the same transaction
        return False
    return True


def record_overdue(ctx: EngineContext, instance: WorkflowInstance) -> None:
    """The original case's wait for the upper reports lapsed: recorded on its history; it keeps waiting."""
    origin = ctx.session.execute(select(Household).where(Household.instance_id == instance.id)).scalar_one_or_none()
    if origin is None:
        return
    late = [{"escalation_no": e.number, "agency": e.target_agency.code, "status": e.status.value,
             "due_at": e.due_at.isoformat() if e.due_at else None} for e in pending_escalations(ctx, origin.id)]
    append_event(ctx, stream=instance_stream(instance.id), kind="upper_reports_overdue", actor=SYSTEM,
                 instance_id=instance.id, payload={"escalations": late})
    logger.info("Case %s: %s upper reports overdue", origin.case_no, len(late))


def overdue_escalations(ctx: EngineContext, *, agency_unit_ids: Sequence[int] | None = None,
                        user_id: int | None = None, limit: int = 50) -> list[Escalation]:
    """Pending escalations whose report is past due, oldest due first: of these (origin) agencies, or of
    the agencies ``user_id`` works in (one query: the inbox asks on every visit)."""
    if user_id is not None:
        origins: Any = select(Membership.unit_id).where(Membership.user_id == user_id).scalar_subquery()
    else:
        origins = list(agency_unit_ids or [])
    return list(ctx.session.execute(select(Escalation).where(
        Escalation.origin_agency_unit_id.in_(origins), Escalation.status.in_(PENDING),
        Escalation.due_at < ctx.now()).order_by(Escalation.due_at).limit(limit)).scalars())


# --- the upper case ends -----------------------------------------------------------------------------


def escalation_of_upper_instance(ctx: EngineContext, instance: WorkflowInstance) -> Escalation | None:
    return ctx.session.execute(select(Escalation).join(Household, Household.id == Escalation.upper_household_id)
                               .where(Household.instance_id == instance.id)).scalar_one_or_none()


def on_upper_case_finished(ctx: EngineContext, instance: WorkflowInstance, ends: set[str],
                           reason: str | None) -> None:
    """An upper case ended: link its report and send it back (TIERED) or to the city (CROSS_CITY).

    Terminated at its 审核复审 (``end_terminated``): the escalation comes back with the reason and
    no report.
    """
    escalation = escalation_of_upper_instance(ctx, instance)
    if escalation is None or escalation.status not in PENDING:
        return
    from engine.reports.service import current_report

    report = current_report(ctx, instance.business_key) if instance.business_key else None
    terminated = "end_terminated" in ends or report is None
    if report is not None:
        escalation.report_id = report.report.id
    note = (f"上级核对机构终止核对：{reason or '未说明理由'}" if terminated
            else f"核对报告 {report.report.number}" if report else None)
    if escalation.kind is EscalationKind.TIERED:
        return_to_origin(ctx, escalation, actor=SYSTEM, note=note, cancelled=terminated)
        return
    via = escalation.via_unit or escalation.target_agency
    record_step(ctx, escalation, EscalationStatus.REPORTED, via, SYSTEM, note=note)
    from engine.services.cross_city import on_report_at_city  # the city relays it (PS-7); imports this module

    on_report_at_city(ctx, escalation)
