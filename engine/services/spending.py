"""Spending inquiries (支出调查, DO-9; BJ 第十四条): open, record spending, void, conclude.

* :func:`open_inquiry` — staff of the case's verification agency (受理初审, 审核复审 or 出具报告
  officers, :data:`INVESTIGATOR_ROLES`) open the one inquiry of a running case whose report is not
  issued yet, stating why and, when known, the household's declared monthly income.
* :func:`add_item` / :func:`void_item` — the spending found; a wrong entry is voided with a reason,
  never deleted.
* :func:`conclude` — the finding (explained / clearly out of line and unexplained / not
  established) and its account. The report (``engine.reports.content``) carries the concluded
  inquiry; issuing a report while an inquiry is open is refused (:func:`report_section`).

Every change is an event of the inquiry's own hash-chained stream ``spending:<id>``, ordered by the
inquiry's row lock; payloads carry amounts and categories, never names or ID numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError

import forms
from engine.calendar import SHANGHAI
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import ConflictError
from engine.errors import FormValidationError
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.history import append_event
from engine.models import Household
from engine.models import InstanceStatus
from engine.models import Membership
from engine.models import Report
from engine.models.spending import OUTCOME_NAMES
from engine.models.spending import InquiryOutcome
from engine.models.spending import InquiryStatus
from engine.models.spending import SpendingInquiry
from engine.models.spending import SpendingItem
from forms.spending import CATEGORIES
from forms.spending import SOURCES

logger = logging.getLogger(__name__)

INVESTIGATOR_ROLES = ("intake_officer", "review_officer", "report_officer")
LEGAL_BASIS = "《宝鸡市社会救助家庭经济状况核对办法》第十四条"


def spending_stream(inquiry_id: int) -> str:
    return f"spending:{inquiry_id}"


def inquiry_of(ctx: EngineContext, household: Household, *, lock: bool = False) -> SpendingInquiry | None:
    query = select(SpendingInquiry).where(SpendingInquiry.household_id == household.id)
    if lock:
        query = query.with_for_update()
    return ctx.session.execute(query).scalar_one_or_none()


def may_investigate(ctx: EngineContext, user_id: int, household: Household) -> bool:
    """Whether the user holds an investigating role in the case's verification agency."""
    return ctx.session.execute(select(exists().where(
        Membership.user_id == user_id, Membership.unit_id == household.entrustment.agency_unit_id,
        Membership.role_code.in_(INVESTIGATOR_ROLES)))).scalar() is True


def closed_reason(ctx: EngineContext, household: Household) -> str | None:
    """Why the case's inquiry can no longer change (Chinese), or None while it can."""
    instance = household.instance
    if instance is None or instance.status is not InstanceStatus.RUNNING:
        return "案件核对已结束，支出调查不能再变更"
    if ctx.session.execute(select(exists().where(Report.household_id == household.id))).scalar():
        return "本案已出具核对报告，支出调查不能再变更"
    return None


def _check(ctx: EngineContext, household: Household, actor: Actor) -> None:
    if actor.user_id is None or not may_investigate(ctx, actor.user_id, household):
        raise PermissionDeniedError("只有本案核对机构的受理、审核或出具报告人员可以办理支出调查",
                                    code="spending_role_required")
    reason = closed_reason(ctx, household)
    if reason:
        raise InvalidStateError(reason, code="spending_case_closed")


def _validated(form_key: str, form: Mapping[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in form.items() if v not in (None, "")}
    try:
        return forms.validate(form_key, data)
    except forms.FormError as exc:
        raise FormValidationError(fields=exc.fields) from exc


def _open_inquiry(ctx: EngineContext, household: Household) -> SpendingInquiry:
    inquiry = inquiry_of(ctx, household, lock=True)
    if inquiry is None:
        raise NotFoundError("本案尚未启动支出调查", code="spending_inquiry_not_found")
    if inquiry.status is not InquiryStatus.OPEN:
        raise InvalidStateError("支出调查已办结，不能再变更", code="spending_inquiry_concluded")
    return inquiry


def open_inquiry(ctx: EngineContext, household: Household, form: Mapping[str, Any], *,
                 actor: Actor) -> SpendingInquiry:
    """Open the case's inquiry. :raises ConflictError: ``spending_inquiry_exists`` (one per case)."""
    _check(ctx, household, actor)
    values = _validated("spending_inquiry", form)
    if inquiry_of(ctx, household) is not None:
        raise ConflictError("本案已启动支出调查", code="spending_inquiry_exists")
    inquiry = SpendingInquiry(household_id=household.id, unit_id=household.entrustment.agency_unit_id,
                              basis=values["basis"], declared_monthly_income=values["declared_monthly_income"],
                              status=InquiryStatus.OPEN, opened_at=ctx.now(), opened_by=actor.username)
    try:
        with ctx.session.begin_nested():
            ctx.session.add(inquiry)
            ctx.session.flush()
    except DBIntegrityError as exc:  # opened concurrently by a colleague
        raise ConflictError("本案已启动支出调查", code="spending_inquiry_exists") from exc
    declared = inquiry.declared_monthly_income
    _event(ctx, inquiry, "spending_inquiry_opened", actor,
           {"case_no": household.case_no, "declared_monthly_income": str(declared) if declared is not None else None})
    logger.info("Spending inquiry opened on %s by %s", household.case_no, actor.username)
    return inquiry


def add_item(ctx: EngineContext, household: Household, form: Mapping[str, Any], *, actor: Actor) -> SpendingItem:
    _check(ctx, household, actor)
    values = _validated("spending_item", form)
    inquiry = _open_inquiry(ctx, household)
    item = SpendingItem(inquiry=inquiry, recorded_at=ctx.now(), recorded_by=actor.username, **values)
    ctx.session.add(item)
    ctx.session.flush()
    _event(ctx, inquiry, "spending_item_recorded", actor,
           {"item_id": item.id, "category": item.category, "amount": str(item.amount),
            "spent_on": item.spent_on.isoformat() if item.spent_on else None, "source": item.source})
    return item


def void_item(ctx: EngineContext, household: Household, item_id: int, *, reason: str, actor: Actor) -> SpendingItem:
    _check(ctx, household, actor)
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise FormValidationError(fields={"reason": ["请填写作废原因（不超过 500 字）"]})
    inquiry = _open_inquiry(ctx, household)
    item = next((i for i in inquiry.items if i.id == item_id), None)
    if item is None:
        raise NotFoundError("没有这条支出记录", code="spending_item_not_found")
    if item.voided_at is not None:
        raise InvalidStateError("这条支出记录已作废", code="spending_item_voided")
    item.voided_at, item.voided_by, item.void_reason = ctx.now(), actor.username, reason
    ctx.session.flush()
    _event(ctx, inquiry, "spending_item_voided", actor, {"item_id": item.id, "reason": reason})
    return item


def conclude(ctx: EngineContext, household: Household, form: Mapping[str, Any], *, actor: Actor) -> SpendingInquiry:
    _check(ctx, household, actor)
    values = _validated("spending_conclusion", form)
    inquiry = _open_inquiry(ctx, household)
    inquiry.outcome, inquiry.conclusion = InquiryOutcome(values["outcome"]), values["conclusion"]
    inquiry.status, inquiry.concluded_at, inquiry.concluded_by = InquiryStatus.CONCLUDED, ctx.now(), actor.username
    ctx.session.flush()
    _event(ctx, inquiry, "spending_inquiry_concluded", actor,
           {"outcome": inquiry.outcome.value, "items": len(inquiry.valid_items), "total": str(inquiry.total)})
    return inquiry


def report_section(ctx: EngineContext, household: Household) -> dict[str, Any] | None:
    """What the 核对报告 says of the inquiry (None without one).

    :raises InvalidStateError: ``spending_inquiry_open`` — the finding belongs in the report.
    """
    inquiry = inquiry_of(ctx, household)
    if inquiry is None:
        return None
    if inquiry.status is InquiryStatus.OPEN:
        raise InvalidStateError("本案的支出调查尚未办结，请先填写调查结论再出具核对报告", code="spending_inquiry_open")
    assert inquiry.outcome is not None and inquiry.concluded_at is not None
    declared = inquiry.declared_monthly_income
    return {
        "legal_basis": LEGAL_BASIS, "basis": inquiry.basis,
        "declared_monthly_income": str(declared) if declared is not None else None,
        "items": [{"category": CATEGORIES.get(i.category, i.category), "description": i.description,
                   "amount": str(i.amount), "spent_on": i.spent_on.isoformat() if i.spent_on else None,
                   "source": SOURCES.get(i.source, i.source)} for i in inquiry.valid_items],
        "total": str(inquiry.total), "outcome": OUTCOME_NAMES[inquiry.outcome.value],
        "conclusion": inquiry.conclusion, "concluded_on": inquiry.concluded_at.astimezone(SHANGHAI).date().isoformat(),
    }


def _event(ctx: EngineContext, inquiry: SpendingInquiry, kind: str, actor: Actor, payload: dict[str, Any]) -> None:
    append_event(ctx, stream=spending_stream(inquiry.id), kind=kind, actor=actor, payload=payload)
