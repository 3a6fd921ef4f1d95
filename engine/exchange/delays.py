"""Written delay notices from sharing units (DX-5, PS-10): recorded with their document, ≤ 5 working days.

A notice is accepted once per request, only while the case still waits for the unit, and
for 1–5 working days (the profile's ``delay_days``); it is stored with its document and
delivered to the case as ``exchange_delay``, whose BPMN moves the reply timer. The request's
own ``reply_due`` follows, so the overdue list stays right. The notice names the unit-side
officer who signed it; one not filed for the unit on the notice's date is refused (SD-3).
"""

from __future__ import annotations

import hashlib
from datetime import date

from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.exchange.batches import log_batch
from engine.exchange.officers import registration_username
from engine.exchange.officers import require_unit_officer
from engine.models import Unit
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeDelayNotice
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import RequestStatus
from engine.policy import effective_policy
from engine.services.messages import deliver_message


def find_request(ctx: EngineContext, case_no: str, unit_code: str) -> ExchangeRequest:
    request = ctx.session.execute(
        select(ExchangeRequest).join(Unit, Unit.id == ExchangeRequest.unit_id)
        .where(ExchangeRequest.case_no == case_no, Unit.code == unit_code)).scalar_one_or_none()
    if request is None:
        raise NotFoundError("没有该案件向该单位的交换请求", code="request_not_found")
    return request


def record_delay_notice(ctx: EngineContext, request: ExchangeRequest, *, days: int, reason: str,
                        document_name: str, document: bytes, actor: Actor, officer: object,
                        on: date | None = None) -> ExchangeDelayNotice:
    """Record the notice and extend the case's limit by ``days`` working days (at most ``delay_days``).

    ``officer`` is the unit-side officer who signed the notice: filed for the unit and valid on
    ``on`` (the notice's date; default today), else it is refused on record (SD-3).
    """
    batch = ctx.session.get(ExchangeBatch, request.batch_id) if request.batch_id is not None else None
    registration = require_unit_officer(ctx, request.unit, officer, on or ctx.today(), batch=batch, actor=actor,
                                        source="delay_notice", request_id=request.id, case_no=request.case_no)
    limit = effective_policy(ctx, ctx.policy_profile).sharing_delay_max_days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= limit:
        raise ValidationError(f"延期天数应为 1–{limit} 个工作日（PS-10）", code="delay_too_long",
                              fields={"days": [f"最多延期 {limit} 个工作日"]})
    if not document or not document_name:
        raise ValidationError("请附书面延期说明文件", code="delay_document_missing",
                              fields={"document": ["请上传书面说明"]})
    if not reason.strip():
        raise ValidationError("请填写延期原因", fields={"reason": ["请填写延期原因"]})
    if request.status not in (RequestStatus.BATCHED, RequestStatus.SENT):
        raise InvalidStateError("该请求不在等待反馈状态，不能登记延期", code="delay_not_waiting")
    existing = ctx.session.execute(select(ExchangeDelayNotice.id).where(
        ExchangeDelayNotice.request_id == request.id)).first()
    if existing is not None:
        raise InvalidStateError("该请求已登记过延期说明，只可延期一次", code="delay_already_recorded")
    notice = ExchangeDelayNotice(request_id=request.id, days=days, reason=reason.strip()[:500],
                                 document_name=document_name[:255],
                                 document_sha256=hashlib.sha256(document).hexdigest(),
                                 document=document, received_at=ctx.now(), recorded_by=actor.username)
    ctx.session.add(notice)
    ctx.session.flush()
    try:
        deliver_message(ctx, "exchange_delay", request.correlation_key, {"days": days, "notice_id": notice.id},
                        actor=actor)
    except NotFoundError:
        raise InvalidStateError("该案件已不再等待该单位的反馈（已反馈或已超期）", code="delay_not_waiting") from None
    calendar = WorkingCalendar(ctx.session)
    request.reply_due = calendar.deadline(request.reply_due, days)
    request.extended_days = days
    ctx.session.flush()
    if batch is not None:
        log_batch(ctx, batch, "exchange_delay_recorded", actor, request_id=request.id, case_no=request.case_no,
                  days=days, notice_id=notice.id, document_sha256=notice.document_sha256,
                  officer=registration_username(ctx, registration),
                  reply_due=request.reply_due.isoformat())
    return notice
