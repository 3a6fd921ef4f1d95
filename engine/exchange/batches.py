"""Exchange batches: one officer collects a unit's open requests, a second one confirms (SD-2, SD-3).

Jilin collects only in the monthly exchange window (days 11–20, PS-11); Baoji any day. A
confirmed batch goes out by the unit's mode: system batches are queued for the sender job,
media batches wait for an officer to export the package. Every step is an event in the
batch's own stream (``exchange_batch:<id>``) and is listed per case by request.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.exchange.catalogue import MODE_NAMES
from engine.exchange.catalogue import agreement_valid
from engine.exchange.catalogue import require_profile
from engine.exchange.catalogue import sharing_unit
from engine.exchange.control import officer_agency
from engine.exchange.control import require_registered
from engine.exchange.control import require_second_officer
from engine.exchange.requests import collect_requests
from engine.history import append_event
from engine.models.case import CaseCounter
from engine.models.exchange import BatchStatus
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeMode
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import ExchangeRequestLine
from engine.models.exchange import RequestStatus
from engine.policy import effective_policy
from engine.services.authorisations import find_unauthorised
from engine.services.cases import next_counter_value

#: ``case_counters`` key of the per-unit batch sequence (not per year: the numbers never restarted)
BATCH_COUNTER_KIND, BATCH_COUNTER_YEAR = "exchange_batch", 0

BATCH_STATUS_NAMES = {"prepared": "待确认", "confirmed": "已确认待发送", "sent": "已发送待反馈", "answered": "已反馈"}


def batch_stream(batch_id: int) -> str:
    return f"exchange_batch:{batch_id}"


def log_batch(ctx: EngineContext, batch: ExchangeBatch, kind: str, actor: Actor, **payload: object) -> None:
    append_event(ctx, stream=batch_stream(batch.id), kind=kind, actor=actor,
                 payload={"batch_no": batch.batch_no, "unit": batch.unit.code, **payload})


def get_batch(ctx: EngineContext, batch_id: int, *, lock: bool = False) -> ExchangeBatch:
    query = select(ExchangeBatch).where(ExchangeBatch.id == batch_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    batch = ctx.session.execute(query).scalar_one_or_none()
    if batch is None:
        raise NotFoundError("交换批次不存在", code="batch_not_found", batch_id=batch_id)
    return batch




def _check_window(ctx: EngineContext) -> None:
    policy = effective_policy(ctx, ctx.policy_profile)
    day = ctx.today()
    if policy.in_window("exchange", day):
        return
    first, last = policy.window("exchange", day.year, day.month)  # type: ignore[misc]
    start = policy.next_window_start("exchange", day)
    raise ValidationError(
        f"每月 {first.day}–{last.day} 日为数据交换时段（PS-11）；今天（{day.month} 月 {day.day} 日）不能组织交换批次，"
        f"下一时段自 {start.month} 月 {start.day} 日开始。", code="outside_exchange_window")


def prepare_batch(ctx: EngineContext, unit_code: str, *, actor: Actor, mode: str | None = None,
                  limit: int = 20000, enforce_window: bool = True) -> ExchangeBatch:
    """Collect the unit's open requests into a new batch (the first officer of SD-2).

    :param enforce_window: False only for seeding the demo on any day of the month.
    """
    unit = sharing_unit(ctx, unit_code)
    require_registered(ctx, actor, unit)
    profile = require_profile(ctx, unit)
    if enforce_window:
        _check_window(ctx)
    if not agreement_valid(profile, ctx.today()):
        raise ValidationError(f"与「{unit.name}」的数据交换与保密协议未登记或不在有效期内（DX-6）",
                              code="exchange_agreement_missing")
    chosen = ExchangeMode(mode) if mode else (ExchangeMode.SYSTEM if profile.mode is ExchangeMode.BOTH
                                               else profile.mode)
    if chosen is ExchangeMode.BOTH or (profile.mode is not ExchangeMode.BOTH and chosen is not profile.mode):
        raise ValidationError(f"「{unit.name}」不支持{MODE_NAMES[chosen.value]}", code="exchange_mode_unsupported")
    collect_requests(ctx)
    agency_id = officer_agency(ctx, actor, unit)
    query = (select(ExchangeRequest).where(ExchangeRequest.unit_id == unit.id,
                                           ExchangeRequest.status == RequestStatus.OPEN,
                                           ExchangeRequest.agency_unit_id == agency_id)
             .order_by(ExchangeRequest.id).limit(limit))
    if ctx.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    requests, held = _authorised_only(ctx, list(ctx.session.execute(query).scalars().all()))
    if not requests:
        raise InvalidStateError(f"「{unit.name}」没有可交换的请求" + ("（对象授权已失效）" if held else ""),
                                code="no_open_requests", held_back=len(held))
    day = ctx.today()
    seq = next_batch_seq(ctx, unit.id)
    persons = ctx.session.execute(select(func.count()).select_from(ExchangeRequestLine).where(
        ExchangeRequestLine.request_id.in_([r.id for r in requests]))).scalar_one()
    batch = ExchangeBatch(batch_no=f"JH-{unit.code}-{day:%Y%m%d}-{seq:04d}", unit_id=unit.id,
                          agency_unit_id=agency_id, mode=chosen,
                          status=BatchStatus.PREPARED, request_count=len(requests), person_count=persons,
                          prepared_by=actor.username, prepared_at=ctx.now())
    ctx.session.add(batch)
    ctx.session.flush()
    for request in requests:
        request.batch_id, request.status = batch.id, RequestStatus.BATCHED
    ctx.session.flush()
    log_batch(ctx, batch, "exchange_batch_prepared", actor, mode=chosen.value, requests=len(requests),
              persons=persons, request_ids=[r.id for r in requests], held_back=[r.id for r in held])
    return batch


def next_batch_seq(ctx: EngineContext, unit_id: int) -> int:
    """The unit's next batch sequence number, drawn from the locked counter so concurrent prepares never collide.

    Batch numbers count on per unit over all years (``year`` 0 in ``case_counters``). The first
    call for a unit seeds the counter from the highest number already issued, so batches made
    before the counter existed keep their numbers and new ones continue after them.
    """
    exists = ctx.session.execute(select(CaseCounter.last_value).where(
        CaseCounter.agency_unit_id == unit_id, CaseCounter.year == BATCH_COUNTER_YEAR,
        CaseCounter.kind == BATCH_COUNTER_KIND)).first()
    if exists is None:
        numbers = ctx.session.execute(select(ExchangeBatch.batch_no).where(ExchangeBatch.unit_id == unit_id)).scalars()
        highest = max((int(n.rsplit("-", 1)[1]) for n in numbers), default=0)
        try:
            with ctx.session.begin_nested():
                ctx.session.add(CaseCounter(agency_unit_id=unit_id, year=BATCH_COUNTER_YEAR, kind=BATCH_COUNTER_KIND,
                                            last_value=highest))
        except IntegrityError:
            pass  # another prepare seeded it first; the counter's row lock orders us after it
    return next_counter_value(ctx, unit_id, BATCH_COUNTER_YEAR, BATCH_COUNTER_KIND)


def _authorised_only(ctx: EngineContext, requests: list[ExchangeRequest]
                     ) -> tuple[list[ExchangeRequest], list[ExchangeRequest]]:
    """Split off requests naming anyone whose authorisation is no longer valid today (PR-1).

    They were checked when the case asked; an authorisation may have ended since. Those requests
    stay open (not sent) until the authorisation is renewed or the case's time runs out.
    """
    pairs = ctx.session.execute(select(ExchangeRequestLine.request_id, ExchangeRequestLine.person_id).where(
        ExchangeRequestLine.request_id.in_([r.id for r in requests]))).all() if requests else []
    unauthorised = set(find_unauthorised(ctx, [person for _, person in pairs], ctx.today()))
    blocked = {request_id for request_id, person in pairs if person in unauthorised}
    return [r for r in requests if r.id not in blocked], [r for r in requests if r.id in blocked]


def confirm_batch(ctx: EngineContext, batch_id: int, *, actor: Actor, queue_send: bool = True) -> ExchangeBatch:
    """A second registered officer confirms the batch; system batches are then queued for sending (SD-2).

    :param queue_send: False when the caller sends at once itself (demo seeding); the periodic
        sweep picks the batch up anyway.
    """
    batch = get_batch(ctx, batch_id, lock=True)
    require_registered(ctx, actor, batch.unit)
    if batch.status is not BatchStatus.PREPARED:
        raise InvalidStateError("该批次不是待确认状态", code="batch_not_prepared")
    require_second_officer(batch.prepared_by, actor, "交换批次")
    batch.status, batch.confirmed_by, batch.confirmed_at = BatchStatus.CONFIRMED, actor.username, ctx.now()
    if batch.mode is ExchangeMode.SYSTEM:
        batch.next_attempt_at = ctx.now()
        if queue_send:
            ctx.enqueue_after_commit("exchange.send_due")
    ctx.session.flush()
    log_batch(ctx, batch, "exchange_batch_confirmed", actor, mode=batch.mode.value)
    return batch




def mark_sent(ctx: EngineContext, batch: ExchangeBatch, actor: Actor, **payload: object) -> None:
    """The batch left (sent or exported): its requests now wait for the answer."""
    now = ctx.now()
    batch.status, batch.sent_at = BatchStatus.SENT, now
    for request in ctx.session.execute(select(ExchangeRequest).where(ExchangeRequest.batch_id == batch.id,
                                                                     ExchangeRequest.status == RequestStatus.BATCHED)
                                       ).scalars():
        request.status, request.sent_at = RequestStatus.SENT, now
    ctx.session.flush()
    log_batch(ctx, batch, "exchange_batch_sent", actor, **payload)


def iter_batch_lines(ctx: EngineContext, batch: ExchangeBatch) -> Iterator[dict[str, object]]:
    """What leaves for the unit (DX-4): request id, name, ID number, categories — nothing else.

    Streamed in chunks, so exporting a batch of any size holds a chunk in memory, not the batch; the cursor
    (server-side on PostgreSQL) is closed when the caller stops early (an export that failed midway).
    """
    rows = ctx.session.execute(
        select(ExchangeRequestLine.request_id, ExchangeRequestLine.name, ExchangeRequestLine.id_number,
               ExchangeRequestLine.categories)
        .join(ExchangeRequest, ExchangeRequest.id == ExchangeRequestLine.request_id)
        .where(ExchangeRequest.batch_id == batch.id).order_by(ExchangeRequestLine.id)
        .execution_options(yield_per=2000))
    try:
        for r, n, i, c in rows:
            yield {"request_id": r, "name": n, "id_number": i, "categories": c}
    finally:
        rows.close()


def batch_lines(ctx: EngineContext, batch: ExchangeBatch) -> list[dict[str, object]]:
    return list(iter_batch_lines(ctx, batch))
