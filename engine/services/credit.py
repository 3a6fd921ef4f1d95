"""Dishonesty records (失信登记, AU-3; JL 第十三条, 第二十条): propose, approve or reject, revoke.

* :func:`propose_record` — an assistance officer (救助经办人) of a civil-affairs department
  (an entrusting-department unit) proposes a record against one person of a case in the
  department's jurisdiction whose verification (or re-verification) has ended; the report and
  recheck numbers are the evidence (:func:`proposal_defaults` pre-fills them from the case).
* :func:`decide_record` — a *different* person holding ``supervisor`` or ``assistance_officer``
  in the same department approves (已登记) or rejects it (rule ``SD-CR``: proposer ≠ approver,
  a refusal is 403 with the rule's name and is itself recorded).
* :func:`revoke_record` — the department revokes a registered record with a reason (申诉成立 …).

Records are never deleted; every change is an event of the record's own hash-chained stream
``credit:<id>`` (ordered by the record's row lock), whose payloads carry no ID number or name.
Expiry is derived from the date (``engine.models.credit``): no job changes a record.
The cross-region lookup (the "linkage" of JL 20) is in ``engine.services.credit_queries``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select

import forms
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import FormValidationError
from engine.errors import InvalidStateError
from engine.errors import PermissionDeniedError
from engine.errors import SeparationOfDutiesError
from engine.history import append_event
from engine.models import Household
from engine.models import InstanceStatus
from engine.models import Membership
from engine.models import Recheck
from engine.models import Unit
from engine.models import UnitKind
from engine.models.credit import CreditReason
from engine.models.credit import CreditRecord
from engine.models.credit import CreditStatus
from engine.services.cases import next_counter_value
from engine.services.register_scope import department_case
from engine.services.register_scope import department_units
from engine.services.register_scope import entry_by_number
from engine.sod import RULE_TEXT
from forms.credit_record import DEFAULT_LEGAL_BASIS
from forms.credit_record import years_later

logger = logging.getLogger(__name__)

PROPOSER_ROLES = ("assistance_officer",)
#: a 科室负责人 or a second officer of the department decides (small county offices have no head per task)
APPROVER_ROLES = ("supervisor", "assistance_officer")
SOD_RULE = "SD-CR"
OPEN_STATUSES = (CreditStatus.PROPOSED, CreditStatus.REGISTERED)


def credit_stream(record_id: int) -> str:
    return f"credit:{record_id}"


def get_record(ctx: EngineContext, number: str, *, lock: bool = False) -> CreditRecord:
    return entry_by_number(ctx, CreditRecord, number, lock=lock, missing="失信登记不存在", credit_record=number)


def registering_units(ctx: EngineContext, user_id: int, roles: tuple[str, ...] = PROPOSER_ROLES) -> list[Unit]:
    """The civil-affairs departments where the user holds one of ``roles``."""
    return department_units(ctx, user_id, roles)


def _check_role(ctx: EngineContext, unit: Unit, actor: Actor, roles: tuple[str, ...], what: str) -> str | None:
    """The role the actor holds in ``unit`` among ``roles``; 403 ``role_required`` without one."""
    if unit.kind is not UnitKind.ENTRUSTING_DEPARTMENT:
        raise PermissionDeniedError("失信登记由民政部门（社会救助部门）办理", code="role_required", roles=list(roles))
    if actor.user_id is None:
        return actor.role
    held = ctx.session.execute(select(Membership.role_code).where(
        Membership.user_id == actor.user_id, Membership.unit_id == unit.id, Membership.role_code.in_(roles))
    ).scalars().all()
    if not held:
        raise PermissionDeniedError(f"您不是「{unit.name}」的{what}", code="role_required", roles=list(roles))
    return next(role for role in roles if role in held)


def is_ended(household: Household) -> bool:
    """Whether the case's verification (or re-verification) has ended (its process completed)."""
    return household.instance is not None and household.instance.status is InstanceStatus.COMPLETED


def proposal_defaults(ctx: EngineContext, household: Household) -> dict[str, Any]:
    """The form's pre-filled values: the case's current report and the recheck it verified, a one-year period."""
    from engine.reports.service import current_report

    today = ctx.today()
    state = current_report(ctx, household.case_no)
    recheck = ctx.session.execute(select(Recheck).where(Recheck.verification_household_id == household.id)
                                  ).scalar_one_or_none()
    end = years_later(today, 1)
    return {"report_no": state.report.number if state else "", "recheck_no": recheck.number if recheck else "",
            "reason_detail": recheck.reason if recheck else "",
            "legal_basis": DEFAULT_LEGAL_BASIS,
            "valid_from": today.isoformat(), "valid_to": date.fromordinal(end.toordinal() - 1).isoformat()}


def propose_record(ctx: EngineContext, *, case_no: str, unit: Unit, form: Mapping[str, Any],
                   actor: Actor) -> CreditRecord:
    """Propose a 失信登记 (status 待审批) against one person of an ended case.

    :raises PermissionDeniedError: ``role_required`` unless an assistance officer of the department.
    :raises NotFoundError: the case does not exist for the department (outside its jurisdiction).
    :raises InvalidStateError: ``case_not_ended`` while the verification runs; ``credit_record_open`` when the
        person already has a pending or registered record from this case.
    :raises FormValidationError: per-field messages.
    """
    role = _check_role(ctx, unit, actor, PROPOSER_ROLES, "救助经办人，不能提出失信登记")
    household = department_case(ctx, case_no, unit)
    if not is_ended(household):
        raise InvalidStateError("该案件的核对尚未结束，核对结束后才能提出失信登记", code="case_not_ended",
                                case_no=case_no)
    values = _validated(ctx, form)
    person = next((p for p in household.persons if p.id == values["person_id"] and p.id_number), None)
    if person is None:
        raise FormValidationError(fields={"person_id": ["请从本案核对对象中选择登记对象"]})
    assert person.id_number is not None
    if ctx.session.execute(select(CreditRecord.id).where(
            CreditRecord.id_number == person.id_number, CreditRecord.household_id == household.id,
            CreditRecord.status.in_(OPEN_STATUSES))).first():
        raise InvalidStateError("该人员已有本案的待审批或已登记的失信登记", code="credit_record_open",
                                fields={"person_id": ["该人员已有本案的待审批或已登记的失信登记"]})
    today = ctx.today()
    record = CreditRecord(
        number=f"SX-{unit.code}-{today.year}-{next_counter_value(ctx, unit.id, today.year, 'credit'):06d}",
        person_id=person.id, id_number=person.id_number, name=person.name, household_id=household.id,
        case_no=household.case_no, report_no=values["report_no"], recheck_no=values["recheck_no"], unit_id=unit.id,
        reason=CreditReason(values["reason"]), reason_detail=values["reason_detail"],
        legal_basis=values["legal_basis"], valid_from=values["valid_from"], valid_to=values["valid_to"],
        status=CreditStatus.PROPOSED, proposed_at=ctx.now(), proposed_by=actor.username)
    ctx.session.add(record)
    ctx.session.flush()
    _event(ctx, record, "credit_proposed", Actor(actor.username, role, actor.user_id), {
        "case_no": record.case_no, "person_id": person.id, "unit": unit.code, "reason": record.reason.value,
        "valid_from": record.valid_from.isoformat(), "valid_to": record.valid_to.isoformat(),
        "report_no": record.report_no, "recheck_no": record.recheck_no})
    logger.info("Credit record %s proposed on %s by %s", record.number, case_no, actor.username)
    return record


def _validated(ctx: EngineContext, form: Mapping[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in form.items() if v not in (None, "")}
    try:
        values = forms.validate("credit_record", data)
    except forms.FormError as exc:
        raise FormValidationError(fields=exc.fields) from exc
    if values["valid_to"] < ctx.today():
        raise FormValidationError(fields={"valid_to": ["终止日期不能早于今天"]})
    return values


def decide_record(ctx: EngineContext, number: str, *, approve: bool, note: str | None, actor: Actor) -> CreditRecord:
    """Approve (已登记) or reject (未予登记) a proposed record; a second person of the same department.

    :raises SeparationOfDutiesError: rule ``SD-CR`` when the proposer decides (the refusal is recorded).
    :raises PermissionDeniedError: ``role_required`` without a deciding role in the department.
    :raises InvalidStateError: the record is not 待审批 (someone decided first).
    :raises FormValidationError: a rejection without its reason.
    """
    record = get_record(ctx, number, lock=True)
    role = _check_role(ctx, record.unit, actor, APPROVER_ROLES, "科室负责人或救助经办人，不能审批失信登记")
    if record.status is not CreditStatus.PROPOSED:
        raise InvalidStateError("该失信登记已审批，请刷新后查看", code="credit_record_decided")
    if actor.username == record.proposed_by:
        _event(ctx, record, "credit_refused", Actor(actor.username, role, actor.user_id),
               {"action": "approve" if approve else "reject", "rule": SOD_RULE})
        error = SeparationOfDutiesError(f"您提出了该失信登记，不能审批（{SOD_RULE}：{RULE_TEXT[SOD_RULE]}）",
                                        rule=SOD_RULE)
        error.commit = True  # the refusal is itself the record (AU-1); nothing else was written
        raise error
    note = (note or "").strip() or None
    if not approve and not note:
        raise FormValidationError(fields={"note": ["不予登记须填写理由"]})
    if note and len(note) > 2000:
        raise FormValidationError(fields={"note": ["不超过 2000 字"]})
    record.status = CreditStatus.REGISTERED if approve else CreditStatus.REJECTED
    record.decided_at, record.decided_by, record.decision_note = ctx.now(), actor.username, note
    ctx.session.flush()
    _event(ctx, record, "credit_approved" if approve else "credit_rejected", Actor(actor.username, role, actor.user_id),
           {"note": note})
    logger.info("Credit record %s %s by %s", record.number, record.status.value, actor.username)
    return record


def revoke_record(ctx: EngineContext, number: str, *, reason: str, actor: Actor) -> CreditRecord:
    """Revoke a registered record (in force or expired) with a reason; the record and its history stay.

    :raises PermissionDeniedError: ``role_required`` without a deciding role in the registering department.
    :raises InvalidStateError: the record is not registered.
    :raises FormValidationError: no reason.
    """
    record = get_record(ctx, number, lock=True)
    role = _check_role(ctx, record.unit, actor, APPROVER_ROLES, "科室负责人或救助经办人，不能撤销失信登记")
    if record.status is not CreditStatus.REGISTERED:
        raise InvalidStateError("只有已登记的失信登记可以撤销", code="credit_record_not_registered")
    reason = (reason or "").strip()
    if not reason:
        raise FormValidationError(fields={"reason": ["请填写撤销理由"]})
    if len(reason) > 2000:
        raise FormValidationError(fields={"reason": ["不超过 2000 字"]})
    record.status, record.revoked_at, record.revoked_by, record.revoke_reason = (
        CreditStatus.REVOKED, ctx.now(), actor.username, reason)
    ctx.session.flush()
    _event(ctx, record, "credit_revoked", Actor(actor.username, role, actor.user_id), {"reason": reason})
    logger.info("Credit record %s revoked by %s", record.number, actor.username)
    return record


def _event(ctx: EngineContext, record: CreditRecord, kind: str, actor: Actor, payload: dict[str, Any]) -> None:
    append_event(ctx, stream=credit_stream(record.id), kind=kind, actor=actor,
                 payload={"credit_record": record.number, **payload})

