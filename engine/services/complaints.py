"""Complaints and tip-offs (举报投诉, AU-2; JL 第二十一条): register, refer to re-verification, dismiss, close.

* :func:`register_complaint` — staff of a civil-affairs department (:data:`REGISTER_ROLES`) write down a
  complaint that arrived by phone, e-mail, online, letter or visit; an external channel registers one
  through ``POST /api/v1/complaints`` (an API token of an officer of the receiving unit, channel
  ``online``; a retried call with the same ``Idempotency-Key`` returns the first registration).
* :func:`refer_complaint` — 转复核: files an individual recheck (``engine.services.rechecks.file_recheck``,
  trigger ``complaint``) for the household, the complainant as requester, the complaint's content as
  the (editable) reason; the complaint and the recheck link both ways.
* :func:`dismiss_complaint` (不予受理, a reason) and :func:`close_complaint` (已办结, the reply given).

The regulation sets no time limit for handling a complaint, so none is invented: pages show its age
in working days (:func:`age_in_working_days`). Every step is an event of the complaint's own
hash-chained stream ``complaint:<id>`` (ordered by the complaint's row lock); payloads carry neither
the complainant's name or contact nor the content (personal data stays in the row).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import select

import forms
from engine.calendar import WorkingCalendar
from engine.clock import LOCAL_TZ
from engine.clock import local_date
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import FormValidationError
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import append_event
from engine.models import Membership
from engine.models import Unit
from engine.models import UnitKind
from engine.models.complaint import Complaint
from engine.models.complaint import ComplaintChannel
from engine.models.complaint import ComplaintStatus
from engine.services.cases import next_counter_value
from engine.services.rechecks import INITIATOR_ROLES
from engine.services.rechecks import file_recheck
from engine.services.register_scope import department_case
from engine.services.register_scope import department_units
from engine.services.register_scope import entry_by_number

logger = logging.getLogger(__name__)

#: who writes complaints down and answers them: the department's officers and its 科室负责人
REGISTER_ROLES = ("assistance_officer", "street_clerk", "supervisor")
#: who may file the recheck (as for any recheck: an officer of the initiating department)
REFER_ROLES = INITIATOR_ROLES
#: the API is the online channel's door: an officer's token of the receiving unit
API_ROLES = INITIATOR_ROLES
TEXT_LIMIT = 2000


def complaint_stream(complaint_id: int) -> str:
    return f"complaint:{complaint_id}"


def get_complaint(ctx: EngineContext, number: str, *, lock: bool = False) -> Complaint:
    return entry_by_number(ctx, Complaint, number, lock=lock, missing="举报投诉不存在", complaint_no=number)


def receiving_units(ctx: EngineContext, user_id: int, roles: tuple[str, ...] = REGISTER_ROLES) -> list[Unit]:
    """The civil-affairs departments where the user holds one of ``roles``."""
    return department_units(ctx, user_id, roles)


def check_role(ctx: EngineContext, unit: Unit, actor: Actor, roles: tuple[str, ...] = REGISTER_ROLES) -> Actor:
    """The actor with the role they hold in ``unit`` among ``roles``; 403 ``role_required`` without one."""
    if unit.kind is not UnitKind.ENTRUSTING_DEPARTMENT:
        raise PermissionDeniedError("举报投诉由民政部门（社会救助部门、镇街民政办）登记办理", code="role_required",
                                    roles=list(roles))
    if actor.user_id is None:
        return actor
    held = ctx.session.execute(select(Membership.role_code).where(
        Membership.user_id == actor.user_id, Membership.unit_id == unit.id, Membership.role_code.in_(roles))
    ).scalars().all()
    if not held:
        raise PermissionDeniedError(f"您不是「{unit.name}」的经办人员，不能办理举报投诉", code="role_required",
                                    roles=list(roles))
    return Actor(actor.username, next(role for role in roles if role in held), actor.user_id)


def register_complaint(ctx: EngineContext, *, unit: Unit, form: Mapping[str, Any], actor: Actor) -> Complaint:
    """Register a complaint (待处理) received by ``unit`` through any channel (the web form).

    :raises PermissionDeniedError: ``role_required`` unless the actor holds a :data:`REGISTER_ROLES` role in ``unit``.
    :raises FormValidationError: per-field messages (also: a case outside the unit's jurisdiction).
    """
    return _register(ctx, unit, form, check_role(ctx, unit, actor), via="web")


def register_online(ctx: EngineContext, *, unit: Unit, form: Mapping[str, Any], actor: Actor,
                    idempotency_key: str | None = None) -> tuple[Complaint, bool]:
    """Register a complaint from an external channel (the API); channel ``online`` unless stated.

    :param idempotency_key: a complaint already registered with this key at ``unit`` is returned unchanged.
    :returns: the complaint, and whether it was registered now (False: the key's earlier registration).
    :raises PermissionDeniedError: ``role_required`` unless the caller is an officer (:data:`API_ROLES`) of ``unit``.
    """
    acting = check_role(ctx, unit, actor, API_ROLES)
    if idempotency_key is not None:
        # orders two deliveries of one key (FOR NO KEY UPDATE: rows referring to the unit are not blocked)
        ctx.session.execute(select(Unit.id).where(Unit.id == unit.id).with_for_update(key_share=True))
        earlier = ctx.session.execute(select(Complaint).where(
            Complaint.unit_id == unit.id, Complaint.idempotency_key == idempotency_key)).scalar_one_or_none()
        if earlier is not None:
            return earlier, False
    form = {"channel": ComplaintChannel.ONLINE.value, **form}
    return _register(ctx, unit, form, acting, via="api", idempotency_key=idempotency_key), True


def _register(ctx: EngineContext, unit: Unit, form: Mapping[str, Any], actor: Actor, *, via: str,
              idempotency_key: str | None = None) -> Complaint:
    values = _validated(ctx, form)
    household = None
    if values["case_no"] is not None:
        try:
            household = department_case(ctx, values["case_no"], unit)
        except NotFoundError:
            raise FormValidationError(fields={"case_no": ["本单位辖区内没有该业务编号的案件"]}) from None
    today = ctx.today()
    complaint = Complaint(
        number=f"JB-{unit.code}-{today.year}-{next_counter_value(ctx, unit.id, today.year, 'complaint'):06d}",
        channel=ComplaintChannel(values["channel"]), channel_detail=values["channel_detail"],
        received_at=values["received_at"], complainant_name=values["complainant_name"],
        complainant_contact=values["complainant_contact"], household_id=household.id if household else None,
        case_no=household.case_no if household else None, subject_text=values["subject_text"],
        content=values["content"], unit_id=unit.id, status=ComplaintStatus.RECEIVED, registered_at=ctx.now(),
        registered_by=actor.username, registered_via=via, idempotency_key=idempotency_key)
    ctx.session.add(complaint)
    ctx.session.flush()
    _event(ctx, complaint, "complaint_registered", actor, {
        "channel": complaint.channel.value, "unit": unit.code, "via": via, "case_no": complaint.case_no,
        "received_at": complaint.received_at.isoformat(), "anonymous": complaint.is_anonymous})
    logger.info("Complaint %s registered at %s via %s by %s", complaint.number, unit.code, via, actor.username)
    return complaint


def _validated(ctx: EngineContext, form: Mapping[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in form.items() if v not in (None, "")}
    try:
        values = forms.validate("complaint", data)
    except forms.FormError as exc:
        raise FormValidationError(fields=exc.fields) from exc
    received: datetime = values["received_at"]
    if received.tzinfo is None:
        received = received.replace(tzinfo=LOCAL_TZ)  # as typed on a Beijing desk
    if received > ctx.now():
        raise FormValidationError(fields={"received_at": ["收到时间不能晚于现在"]})
    values["received_at"] = received
    return values


def refer_complaint(ctx: EngineContext, number: str, *, actor: Actor, case_no: str | None = None,
                    reason: str | None = None) -> Complaint:
    """转复核: file an individual recheck (trigger ``complaint``) and link it to the complaint both ways.

    :param case_no: the household's case, when the complaint did not name one (or to correct it).
    :param reason: the recheck's reason; the complaint's content when not given.
    :raises PermissionDeniedError: ``role_required`` unless an officer of the receiving unit.
    :raises InvalidStateError: ``complaint_triaged`` when it is no longer 待处理; ``recheck_open`` (a recheck of
        the household is running).
    :raises FormValidationError: no case, a case outside the jurisdiction, an empty or too long reason.
    """
    complaint = get_complaint(ctx, number, lock=True)
    acting = check_role(ctx, complaint.unit, actor, REFER_ROLES)
    _check_open(complaint)
    case_no = (case_no or "").strip() or complaint.case_no
    if not case_no:
        raise FormValidationError(fields={"case_no": ["请填写被举报家庭的核对业务编号"]})
    try:
        household = department_case(ctx, case_no, complaint.unit)
    except NotFoundError:
        raise FormValidationError(fields={"case_no": ["本单位辖区内没有该业务编号的案件"]}) from None
    reason = _required_text(reason if reason is not None else complaint.content, "reason", "请填写复核原因")
    form = {"trigger": "complaint", "requester_name": complaint.complainant_name, "reason": reason,
            "requested_on": local_date(complaint.received_at).isoformat()}
    recheck = file_recheck(ctx, case_no=household.case_no, form=form, initiating_unit=complaint.unit, actor=acting)
    complaint.household_id, complaint.case_no = household.id, household.case_no
    complaint.status, complaint.recheck_id = ComplaintStatus.RECHECK_FILED, recheck.id
    complaint.triaged_at, complaint.triaged_by = ctx.now(), actor.username
    ctx.session.flush()
    _event(ctx, complaint, "complaint_referred", acting, {"recheck_no": recheck.number, "case_no": household.case_no})
    logger.info("Complaint %s referred to recheck %s by %s", complaint.number, recheck.number, actor.username)
    return complaint


def dismiss_complaint(ctx: EngineContext, number: str, *, reason: str, actor: Actor) -> Complaint:
    """不予受理 with a reason (e.g. 举报内容与核对无关、无具体对象).

    :raises InvalidStateError: ``complaint_triaged`` when it is no longer 待处理.
    :raises FormValidationError: no reason, or a too long one.
    """
    complaint = get_complaint(ctx, number, lock=True)
    acting = check_role(ctx, complaint.unit, actor)
    _check_open(complaint)
    reason = _required_text(reason, "reason", "请填写不予受理的理由")
    complaint.status, complaint.dismiss_reason = ComplaintStatus.DISMISSED, reason
    complaint.triaged_at, complaint.triaged_by = ctx.now(), actor.username
    ctx.session.flush()
    _event(ctx, complaint, "complaint_dismissed", acting, {"reason": reason})
    logger.info("Complaint %s dismissed by %s", complaint.number, actor.username)
    return complaint


def close_complaint(ctx: EngineContext, number: str, *, reply: str, actor: Actor) -> Complaint:
    """已办结 with the reply given to the complainant; from 待处理 or after the recheck was filed.

    :raises InvalidStateError: ``complaint_finished`` when it was dismissed or closed already.
    :raises FormValidationError: no reply, or a too long one.
    """
    complaint = get_complaint(ctx, number, lock=True)
    acting = check_role(ctx, complaint.unit, actor)
    if complaint.status not in (ComplaintStatus.RECEIVED, ComplaintStatus.RECHECK_FILED):
        raise InvalidStateError("该举报投诉已办结或不予受理，请刷新后查看", code="complaint_finished")
    reply = _required_text(reply, "reply", "请填写答复内容")
    complaint.status, complaint.reply = ComplaintStatus.CLOSED, reply
    complaint.closed_at, complaint.closed_by = ctx.now(), actor.username
    ctx.session.flush()
    _event(ctx, complaint, "complaint_closed", acting, {"reply": reply, "recheck_no": _recheck_no(complaint)})
    logger.info("Complaint %s closed by %s", complaint.number, actor.username)
    return complaint


def _check_open(complaint: Complaint) -> None:
    if complaint.status is not ComplaintStatus.RECEIVED:
        raise InvalidStateError("该举报投诉已处理，请刷新后查看", code="complaint_triaged")


def _required_text(value: str | None, name: str, missing: str) -> str:
    text = (value or "").strip()
    if not text:
        raise FormValidationError(fields={name: [missing]})
    if len(text) > TEXT_LIMIT:
        raise FormValidationError(fields={name: [f"不超过 {TEXT_LIMIT} 字"]})
    return text


def _recheck_no(complaint: Complaint) -> str | None:
    return complaint.recheck.number if complaint.recheck is not None else None


def _event(ctx: EngineContext, complaint: Complaint, kind: str, actor: Actor, payload: dict[str, Any]) -> None:
    append_event(ctx, stream=complaint_stream(complaint.id), kind=kind, actor=actor,
                 payload={"complaint_no": complaint.number, **payload})


def age_in_working_days(ctx: EngineContext, complaint: Complaint,
                        calendar: WorkingCalendar | None = None) -> int | None:
    """Working days from receipt to its end (closed or dismissed) or today; None without calendar data.

    The regulation sets no time limit for complaints: this is shown, never enforced.
    """
    calendar = calendar or WorkingCalendar(ctx.session)
    end_at = complaint.closed_at or (complaint.triaged_at if complaint.status is ComplaintStatus.DISMISSED else None)
    end: date = local_date(end_at) if end_at is not None else ctx.today()
    try:
        return calendar.working_days_between(local_date(complaint.received_at), end)
    except ValidationError:
        return None
