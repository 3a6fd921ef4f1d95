"""Cross-city verification (跨地市核对, PS-7, BJ 第十八条, JL 操作规程 三): the city agency's batches.

A county's 审核复审 raises a cross-city request: an :class:`~engine.models.escalation.Escalation`
of kind ``cross_city``, status ``requested``, ``via`` its city agency, ``target`` the province
agency (engine.services.escalations). From there this module carries it:

1. :func:`gather_requests` (the job ``cross_city.gather`` and the 「立即汇总」 action) puts each city
   agency's waiting requests into one :class:`~engine.models.escalation.CrossCityBatch` numbered
   ``KS-<city agency>-<year>-<n>`` and starts the batch's own process ``cross_city_batch`` there;
2. 市级审核 (:func:`on_batch_task`): refused requests go back to their county at once with the
   reason; the accepted ones are entrusted to the province in one 委托书, one province case each;
3. when the province's last report is back at the city (:func:`on_report_at_city`, called by
   the escalation code when a province case ends) the batch process goes on to 转送县级, which
   returns every report to its original case.

Every move is an escalation step, so each level sees where a request is.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import cast

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import true
from sqlalchemy import update
from sqlalchemy.engine import CursorResult

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import ConflictError
from engine.errors import FormValidationError
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.history import append_event
from engine.history import instance_stream
from engine.jobs import job
from engine.models import HumanTask
from engine.models import Unit
from engine.models import WorkflowInstance
from engine.models.escalation import CrossCityBatch
from engine.models.escalation import CrossCityBatchStatus
from engine.models.escalation import Escalation
from engine.models.escalation import EscalationKind
from engine.models.escalation import EscalationStatus
from engine.services.cases import local_today
from engine.services.cases import next_counter_value
from engine.services.escalations import open_upward_entrustment
from engine.services.escalations import record_step
from engine.services.escalations import return_to_origin
from engine.services.escalations import start_upper_case
from engine.services.instances import start_instance
from engine.services.messages import deliver_message

logger = logging.getLogger(__name__)

PROCESS_ID = "cross_city_batch"
#: delivered once the accepted requests are entrusted (payload: the latest report due date)
ENTRUSTED_MESSAGE = "cross_city_entrusted"
#: delivered once every province report of the batch is back at the city
REPORTS_MESSAGE = "cross_city_reports_back"
GATHER_ACTOR = Actor.system("job:cross_city_gather")
RELAY_ACTOR = Actor.system("cross_city")
#: first key of the advisory locks taken per city agency while gathering (PostgreSQL); 7 for PS-7
GATHER_LOCK_SPACE = 7007
#: roles of a city agency that may gather its requests now (「立即汇总」)
GATHER_ROLES = ("review_officer", "supervisor")


# --- gathering ------------------------------------------------------------------------------------------------


@job("cross_city.gather")
def gather_job(ctx: EngineContext) -> list[str]:
    """Gather every city agency's waiting cross-city requests (every HEDUI_CROSS_CITY_GATHER_INTERVAL s)."""
    return [batch.number for batch in gather_requests(ctx, actor=GATHER_ACTOR)]


def gather_requests(ctx: EngineContext, *, actor: Actor, city_agency: Unit | None = None) -> list[CrossCityBatch]:
    """Put the waiting cross-city requests into one new batch per city agency (and province); idempotent.

    Safe with several gatherers at once: on PostgreSQL each city is taken with a transaction-level
    advisory lock (``pg_try_advisory_xact_lock``; a city another gatherer holds is left to it, so its
    requests are never split over two batches) and its requests are read under ``FOR UPDATE``;
    everywhere, the claim is a conditional update that must move exactly the rows read.

    :param city_agency: only this city agency's requests (「立即汇总」); default every city's.
    :returns: the batches created (none when nothing waits).
    """
    waiting = (Escalation.kind == EscalationKind.CROSS_CITY, Escalation.status == EscalationStatus.REQUESTED,
               Escalation.batch_id.is_(None))
    city_ids = ctx.session.execute(
        select(Escalation.via_unit_id).where(*waiting, Escalation.via_unit_id.is_not(None))
        .where(Escalation.via_unit_id == city_agency.id if city_agency is not None else true())
        .distinct()).scalars().all()
    batches = []
    for city_id in sorted(cid for cid in city_ids if cid is not None):
        if not _take_city(ctx, city_id):
            continue
        query = select(Escalation).where(*waiting, Escalation.via_unit_id == city_id).order_by(Escalation.id)
        if _postgresql(ctx):
            query = query.with_for_update()
        groups: dict[int, list[Escalation]] = defaultdict(list)
        for escalation in ctx.session.execute(query).scalars():
            groups[escalation.target_agency_unit_id].append(escalation)
        batches += [_open_batch(ctx, city_id, province_id, requests, actor)
                    for province_id, requests in sorted(groups.items())]
    return batches


def _postgresql(ctx: EngineContext) -> bool:
    return ctx.session.get_bind().dialect.name == "postgresql"


def _take_city(ctx: EngineContext, city_id: int) -> bool:
    """Whether this unit of work may gather the city's requests (PostgreSQL: nobody else is gathering them)."""
    if not _postgresql(ctx):
        return True  # SQLite serialises writers; the conditional claim in _open_batch is the guard
    return bool(ctx.session.execute(select(func.pg_try_advisory_xact_lock(GATHER_LOCK_SPACE, city_id))).scalar())


def _open_batch(ctx: EngineContext, city_id: int, province_id: int, requests: list[Escalation],
                actor: Actor) -> CrossCityBatch:
    city = ctx.session.get(Unit, city_id)
    assert city is not None
    year = local_today(ctx).year
    number = f"KS-{city.code}-{year}-{next_counter_value(ctx, city.id, year, 'cross_city_batch'):06d}"
    batch = CrossCityBatch(number=number, status=CrossCityBatchStatus.GATHERED, city_agency_unit_id=city.id,
                           province_agency_unit_id=province_id, created_at=ctx.now(), created_by=actor.username)
    ctx.session.add(batch)
    ctx.session.flush()
    claimed = cast(CursorResult[Any], ctx.session.execute(
        update(Escalation)
        .where(Escalation.id.in_([e.id for e in requests]), Escalation.batch_id.is_(None),
               Escalation.status == EscalationStatus.REQUESTED)
        .values(batch_id=batch.id).execution_options(synchronize_session=False)))
    if claimed.rowcount != len(requests):
        raise ConflictError("跨地市核对请求正由另一汇总任务处理，请稍后重试", code="gather_conflict")
    for escalation in requests:
        escalation.batch_id = batch.id
        record_step(ctx, escalation, EscalationStatus.GATHERED, city, actor, note=f"汇总入批次 {number}")
    instance = start_instance(ctx, PROCESS_ID, actor=actor, business_key=number,
                              data={"batch_no": number, "request_count": len(requests)},
                              agency_unit_id=city.id, region_code=city.region_code)
    batch.instance_id = instance.id
    ctx.session.flush()
    append_event(ctx, stream=instance_stream(instance.id), kind="cross_city_gathered", actor=actor,
                 instance_id=instance.id, payload={"batch_no": number, "requests": [e.number for e in requests]})
    logger.info("Cross-city batch %s gathered at %s: %s requests", number, city.code, len(requests))
    return batch


# --- the batch process's steps (engine.services.followups) --------------------------------------------------


def on_batch_task(ctx: EngineContext, instance: WorkflowInstance, task: HumanTask, values: Mapping[str, Any],
                  actor: Actor) -> None:
    """After 市级审核 or 转送县级 was completed (through any channel: inbox, API)."""
    batch = ctx.session.execute(
        select(CrossCityBatch).where(CrossCityBatch.instance_id == instance.id)).scalar_one_or_none()
    if batch is None:
        return
    if task.bpmn_id == "city_review":
        _review(ctx, batch, values, actor)
    elif task.bpmn_id == "relay_reports":
        _relay(ctx, batch, values, actor)


def _review(ctx: EngineContext, batch: CrossCityBatch, values: Mapping[str, Any], actor: Actor) -> None:
    refusals = {r["number"]: r["reason"] for r in values.get("refusals") or []}
    numbers = {e.number for e in batch.escalations}
    unknown = sorted(set(refusals) - numbers)
    if unknown:
        # raised before anything moved: the whole completion rolls back (nothing half-written)
        raise FormValidationError(fields={"refused": [f"请求 {'、'.join(unknown)} 不在本批次中"]})
    moved = [e.number for e in batch.escalations if e.status != EscalationStatus.GATHERED]
    if moved:
        raise InvalidStateError(f"请求 {'、'.join(moved)} 已不在审核中", code="batch_changed", batch_no=batch.number)
    batch.reviewed_at, batch.reviewed_by, batch.review_note = ctx.now(), actor.username, values.get("note")
    for escalation in batch.escalations:
        if escalation.number in refusals:
            return_to_origin(ctx, escalation, actor=actor, note=f"市级审核不同意：{refusals[escalation.number]}",
                             cancelled=True)
    accepted = [e for e in batch.escalations if e.number not in refusals]
    if not accepted:
        batch.status, batch.finished_at = CrossCityBatchStatus.REFUSED, ctx.now()
        ctx.session.flush()
        return
    _entrust(ctx, batch, accepted, actor)


def _entrust(ctx: EngineContext, batch: CrossCityBatch, accepted: Sequence[Escalation], actor: Actor) -> None:
    """One 委托书 from the city to the province for the accepted requests, one province case each."""
    entrustment = open_upward_entrustment(ctx, from_unit=batch.city_agency, to_unit=batch.province_agency,
                                          escalations=accepted, actor=actor)
    batch.entrustment_id, batch.status = entrustment.id, CrossCityBatchStatus.ENTRUSTED
    for escalation in accepted:
        start_upper_case(ctx, escalation, entrustment, actor=actor)
    ctx.session.flush()
    dues = [e.due_at for e in accepted if e.due_at is not None]
    if not dues:
        raise InvalidStateError("省级核对案件没有核对期限", code="no_due_date", batch_no=batch.number)
    deliver_message(ctx, ENTRUSTED_MESSAGE, batch.number,
                    {"reports_due": max(dues).isoformat(), "entrustment_number": entrustment.number,
                     "accepted": [e.number for e in accepted]}, actor=actor)
    logger.info("Cross-city batch %s entrusted to %s with %s (%s requests)", batch.number,
                batch.province_agency.code, entrustment.number, len(accepted))


def on_report_at_city(ctx: EngineContext, escalation: Escalation) -> None:
    """A province report of a batch reached the city (status REPORTED): once the last one is in,
    the batch process goes on to 转送县级. Called by the escalation code when a province case ends."""
    batch = escalation.batch
    if batch is None or batch.status != CrossCityBatchStatus.ENTRUSTED:
        logger.warning("Report of %s reached the city outside an entrusted batch", escalation.number)
        return
    # Two province cases ending at once must not both read the other's request as still entrusted (then
    # nobody would deliver): the batch row is locked first, so the second reads after the first committed.
    ctx.session.execute(select(CrossCityBatch.id).where(CrossCityBatch.id == batch.id).with_for_update())
    statuses = ctx.session.execute(select(Escalation.number, Escalation.status)
                                   .where(Escalation.batch_id == batch.id)).all()
    if any(status == EscalationStatus.ENTRUSTED for _, status in statuses):
        return
    reported = [number for number, status in statuses if status == EscalationStatus.REPORTED]
    try:
        deliver_message(ctx, REPORTS_MESSAGE, batch.number, {"reported": reported}, actor=RELAY_ACTOR)
    except NotFoundError:
        logger.warning("Cross-city batch %s was not waiting for its reports", batch.number)


def _relay(ctx: EngineContext, batch: CrossCityBatch, values: Mapping[str, Any], actor: Actor) -> None:
    """转送县级: every report of the batch goes back to its original case (a terminated province case's
    reason, cancelled)."""
    note = values.get("note") or f"市级核对机构转送（批次 {batch.number}）"
    for escalation in batch.escalations:
        if escalation.status != EscalationStatus.REPORTED:
            continue
        # a province case terminated at its review comes back without a report, with its reason
        terminated = escalation.report_id is None
        reason = escalation.steps[-1].note if terminated and escalation.steps else None
        return_to_origin(ctx, escalation, actor=actor, note=f"{reason}；{note}" if reason else note,
                         cancelled=terminated)
    batch.status, batch.finished_at = CrossCityBatchStatus.RETURNED, ctx.now()
    ctx.session.flush()
