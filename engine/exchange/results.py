"""Answers from sharing units: staged, confirmed by a second officer, applied to cases (SD-2, DX-4, PS-10).

An answer (media package or system delivery) is first *staged*: verified, checked against its
batch, stored as received, nothing applied. A second registered officer confirms it; then
every result is stored per person × category × unit, raw and normalised, and each case of the
batch gets its ``exchange_result`` message (correlation ``case_no:unit``) and continues once all
its units answered or timed out. A request whose case stopped waiting (the BPMN timer fired)
is 超期未反馈: ``mark_overdue`` writes that into its results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.exchange.batches import get_batch
from engine.exchange.batches import log_batch
from engine.exchange.control import require_registered
from engine.exchange.control import require_second_officer
from engine.exchange.normalise import normalise
from engine.history import append_event
from engine.history import instance_stream
from engine.models import MessageSubscription
from engine.models.exchange import BatchStatus
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeMode
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import ExchangeRequestLine
from engine.models.exchange import ExchangeResult
from engine.models.exchange import ImportStatus
from engine.models.exchange import RequestStatus
from engine.models.exchange import ResultStatus
from engine.persistence import lock_instance
from engine.services.messages import deliver_message

ANSWER_STATUSES = {"has_data": ResultStatus.FOUND, "no_record": ResultStatus.NONE}
#: the fields of one result record (docs/exchange-protocol.md); each but ``records`` a text or a whole number
RECORD_FIELDS = frozenset({"request_id", "id_number", "category", "status", "records"})
OVERDUE_ACTOR = Actor.system("job:exchange")


def records_digest(records: Sequence[dict[str, Any]]) -> str:
    canonical = json.dumps(list(records), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_records(ctx: EngineContext, batch: ExchangeBatch, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every record must name a request of this batch, a person asked in it and a category asked."""
    asked = {(r, i): set(c) for r, i, c in ctx.session.execute(
        select(ExchangeRequestLine.request_id, ExchangeRequestLine.id_number, ExchangeRequestLine.categories)
        .join(ExchangeRequest, ExchangeRequest.id == ExchangeRequestLine.request_id)
        .where(ExchangeRequest.batch_id == batch.id)).all()}
    clean = []
    for n, record in enumerate(records):
        if not _well_formed(record):
            raise ValidationError(f"第 {n + 1} 条反馈记录格式不正确", code="answer_invalid")
        key = (record.get("request_id"), record.get("id_number"))
        status = record.get("status")
        if key not in asked or record.get("category") not in asked[key] or status not in ANSWER_STATUSES:
            raise ValidationError(f"第 {n + 1} 条反馈记录不属于批次 {batch.batch_no} 的请求，整份反馈未导入",
                                  code="answer_wrong_batch")
        raw = record.get("records")
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            raise ValidationError(f"第 {n + 1} 条反馈记录格式不正确", code="answer_invalid")
        clean.append({"request_id": key[0], "id_number": key[1], "category": record["category"], "status": status,
                      "records": raw})
    return clean


def stage_answer(ctx: EngineContext, batch: ExchangeBatch, records: Sequence[dict[str, Any]], *, delivery_id: str,
                 source: ExchangeMode, actor: Actor, idempotent: bool = True,
                 officer: str | None = None) -> ExchangeImport:
    """Keep a verified answer for the second officer; nothing reaches a case yet.

    ``officer`` is the unit-side officer who released the answer, already checked by the
    caller (``engine.exchange.officers``); it is kept in the history with the staging.

    The same delivery twice is the same staged import (idempotent); a different answer under
    a used delivery id, or an answer for a batch already answered, is refused.
    """
    digest = records_digest(records)
    existing = ctx.session.execute(select(ExchangeImport).where(
        ExchangeImport.unit_id == batch.unit_id, ExchangeImport.delivery_id == delivery_id)).scalar_one_or_none()
    if existing is not None:
        if not idempotent:
            raise InvalidStateError(f"该数据交换包已导入过（批次 {batch.batch_no}），不能重复导入",
                                    code="answer_duplicate")
        if existing.digest != digest or existing.batch_id != batch.id:
            raise ValidationError("该交付编号已用于另一份反馈", code="delivery_id_reused")
        return existing
    if batch.status is BatchStatus.ANSWERED or _has_import(ctx, batch):
        raise InvalidStateError(f"批次 {batch.batch_no} 的反馈已导入，不能重复导入", code="answer_duplicate")
    if batch.status is not BatchStatus.SENT:
        raise InvalidStateError(f"批次 {batch.batch_no} 尚未发送或导出，不能导入反馈", code="answer_wrong_batch")
    clean = _check_records(ctx, batch, records)
    staged = ExchangeImport(unit_id=batch.unit_id, batch_id=batch.id, delivery_id=delivery_id, source=source,
                            status=ImportStatus.STAGED, digest=digest, records=clean, record_count=len(clean),
                            staged_by=actor.username, staged_at=ctx.now())
    ctx.session.add(staged)
    ctx.session.flush()
    log_batch(ctx, batch, "exchange_answer_staged", actor, import_id=staged.id, source=source.value,
              records=len(clean), digest=digest, officer=officer)
    return staged


def _well_formed(record: object) -> bool:
    """An object of the record fields only, whose keys are texts or whole numbers (or left out: then the
    record names no request of the batch, ``answer_wrong_batch``)."""
    return isinstance(record, dict) and set(record) <= RECORD_FIELDS and all(
        type(record.get(name)) in (str, int, type(None)) for name in RECORD_FIELDS - {"records"})


def _has_import(ctx: EngineContext, batch: ExchangeBatch) -> bool:
    return ctx.session.execute(select(ExchangeImport.id).where(ExchangeImport.batch_id == batch.id)).first() is not None


def get_import(ctx: EngineContext, import_id: int, *, lock: bool = False) -> ExchangeImport:
    query = select(ExchangeImport).where(ExchangeImport.id == import_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    staged = ctx.session.execute(query).scalar_one_or_none()
    if staged is None:
        raise NotFoundError("反馈导入记录不存在", code="import_not_found")
    return staged


def confirm_import(ctx: EngineContext, import_id: int, *, actor: Actor) -> int:
    """The second officer confirms a staged answer; it is applied completely. Returns the cases informed."""
    staged = get_import(ctx, import_id, lock=True)
    require_registered(ctx, actor, staged.unit)
    if staged.status is not ImportStatus.STAGED:
        raise InvalidStateError("该反馈已导入", code="import_not_staged")
    require_second_officer(staged.staged_by, actor, "反馈导入")
    batch = get_batch(ctx, staged.batch_id, lock=True)
    by_request: dict[int, list[dict[str, Any]]] = {}
    for record in staged.records:
        by_request.setdefault(record["request_id"], []).append(record)
    informed = 0
    requests = ctx.session.execute(select(ExchangeRequest).where(ExchangeRequest.batch_id == batch.id)
                                   .order_by(ExchangeRequest.id)).scalars().all()
    for request in requests:
        informed += _apply_request(ctx, request, staged, by_request.get(request.id, []), actor)
    staged.status, staged.confirmed_by, staged.confirmed_at = ImportStatus.APPLIED, actor.username, ctx.now()
    staged.records = []  # applied: the results table holds them now
    batch.status = BatchStatus.ANSWERED
    ctx.session.flush()
    log_batch(ctx, batch, "exchange_answer_applied", actor, import_id=staged.id, cases_informed=informed)
    return informed


def _apply_request(ctx: EngineContext, request: ExchangeRequest, staged: ExchangeImport,
                   records: list[dict[str, Any]], actor: Actor) -> int:
    """Store one request's answers and inform its case; an answer after the time-out stays 超期未反馈.

    A late answer's raw records are still kept (and the event says so), but the case has already
    gone on without it, so its status must agree with the case: 超期未反馈.
    """
    now = ctx.now()
    waiting = _still_waiting(ctx, request)
    lines = {line.id_number: line.person_id for line in request.lines}
    answers = {(lines.get(r["id_number"]), r["category"]): r for r in records}
    for row in ctx.session.execute(select(ExchangeResult).where(ExchangeResult.request_id == request.id)).scalars():
        record = answers.get((row.person_id, row.category))
        if record is None:
            continue  # not answered by the unit: stays 未反馈 (or 超期未反馈)
        row.import_id, row.raw = staged.id, {"records": record["records"]}
        row.normalised, row.updated_at = normalise(row.category, record["records"]), now
        if waiting:
            row.status = ANSWER_STATUSES[record["status"]]
    request.answered_at = now
    if not waiting:
        _set_overdue(ctx, request, actor, kind="exchange_result_late", import_id=staged.id)
        return 0
    request.status = RequestStatus.ANSWERED
    ctx.session.flush()
    deliver_message(ctx, "exchange_result", request.correlation_key,
                    {"result_id": request.id, "import_id": staged.id}, actor=actor)
    return 1


def _still_waiting(ctx: EngineContext, request: ExchangeRequest) -> bool:
    """Whether the case still waits for this unit's answer (its reply timer has not fired)."""
    return ctx.session.execute(select(MessageSubscription.id).where(
        MessageSubscription.message_name == "exchange_result",
        MessageSubscription.instance_id == request.instance_id,
        MessageSubscription.correlation_key == request.correlation_key)).first() is not None


def _set_overdue(ctx: EngineContext, request: ExchangeRequest, actor: Actor, *, kind: str, **payload: Any) -> None:
    request.status = RequestStatus.OVERDUE
    for row in ctx.session.execute(select(ExchangeResult).where(
            ExchangeResult.request_id == request.id,
            ExchangeResult.status == ResultStatus.PENDING)).scalars():
        row.status, row.updated_at = ResultStatus.OVERDUE, ctx.now()
    ctx.session.flush()
    lock_instance(ctx.session, request.instance_id)
    append_event(ctx, stream=instance_stream(request.instance_id), kind=kind, actor=actor,
                 instance_id=request.instance_id,
                 payload={"request_id": request.id, "unit": request.unit.code,
                          "reply_due": request.reply_due.isoformat(), **payload})


def mark_overdue(ctx: EngineContext, *, limit: int = 500) -> int:
    """Requests whose case stopped waiting (time limit ran out) become 超期未反馈; returns how many."""
    candidates = ctx.session.execute(
        select(ExchangeRequest).where(ExchangeRequest.status.in_([RequestStatus.OPEN, RequestStatus.BATCHED,
                                                                  RequestStatus.SENT]),
                                      ExchangeRequest.reply_due <= ctx.now())
        .order_by(ExchangeRequest.id).limit(limit)).scalars().all()
    marked = 0
    for request in candidates:
        if _still_waiting(ctx, request):
            continue  # the case still waits (e.g. the timer sweep has not run yet)
        _set_overdue(ctx, request, OVERDUE_ACTOR, kind="exchange_request_overdue")
        marked += 1
    return marked


def overdue_requests(ctx: EngineContext) -> list[ExchangeRequest]:
    """Requests past their limit that are not answered: for the officers' overdue list (PS-10)."""
    return list(ctx.session.execute(
        select(ExchangeRequest).where(ExchangeRequest.status.in_([RequestStatus.OPEN, RequestStatus.BATCHED,
                                                                  RequestStatus.SENT, RequestStatus.OVERDUE]),
                                      ExchangeRequest.reply_due <= ctx.now())
        .order_by(ExchangeRequest.reply_due, ExchangeRequest.id)).scalars())
