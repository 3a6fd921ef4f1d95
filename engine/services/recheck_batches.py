"""Batch re-verification (批量复核, PS-8, BJ 第十二条、第十七条（一）): one standard case per enrolled household.

- :func:`create_batch` takes the enrolled households — an uploaded list of case numbers, or
  the households of an imported data package's 委托书 — checks every row (unknown, duplicate,
  outside the agency's region: a failed row with its reason), issues one numbered 复核委托书
  and queues the rows. Nothing is started yet.
- :func:`run_batch` (job ``rechecks.run_batch``, registered by the web layer, which owns commits)
  starts the pending rows in chunks and commits after each chunk: a crash loses at most the
  uncommitted chunk, whose rows are still pending, so running it again resumes without
  duplicates (a row turns ``started`` in the same transaction as its case;
  ``(batch, household)`` is unique). A row that cannot start (e.g.
  the authorisation ended) fails alone, with its reason. Between chunks the job re-reads the
  batch: :func:`pause_batch` stops it there, :func:`resume_batch` queues it again.
- :func:`batch_status` counts the batch's cases per stage, overdue and finished, from the
  derived task table (no workflow is deserialized).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import selectinload

from engine.assignment import load_memberships
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import HeduiError
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.models import Authorisation
from engine.models import Entrustment
from engine.models import Household
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import ItemStatus
from engine.models import Membership
from engine.models import RecheckBatch
from engine.models import RecheckBatchItem
from engine.models import Region
from engine.models import Unit
from engine.models import UnitKind
from engine.models import WorkflowInstance
from engine.models.recheck import BatchStatus
from engine.services.cases import next_counter_value
from engine.services.reverify import Reverification
from engine.services.reverify import count_subjects
from engine.services.reverify import new_recheck_entrustment
from engine.services.reverify import start_reverification

logger = logging.getLogger(__name__)

JOB = "rechecks.run_batch"
RESUME_JOB = "rechecks.resume_interrupted"
#: minutes without progress after which a pending/running batch counts as interrupted
#: (the app passes HEDUI_RECHECK_BATCH_STALE_MINUTES)
STALE_MINUTES = 15
CHUNK_SIZE = 200
MAX_ROWS = 200_000
BATCH_ROLES = ("assistance_officer",)


def get_batch(ctx: EngineContext, batch_id: int) -> RecheckBatch:
    batch = ctx.session.get(RecheckBatch, batch_id)
    if batch is None:
        raise NotFoundError("批量复核批次不存在", batch_id=batch_id)
    return batch


def create_batch(ctx: EngineContext, *, entrusting_unit: Unit, agency_unit: Unit, title: str, actor: Actor,
                 case_nos: Sequence[str] | None = None, entrustment_number: str | None = None) -> RecheckBatch:
    """Register a batch of enrolled households and its 复核委托书; the job starts the cases.

    :param case_nos: the uploaded list (one case number per row, in order).
    :param entrustment_number: instead, every household of that (imported) 委托书 at ``agency_unit``.
    :raises ValidationError: no rows, too many rows, wrong unit kinds.
    """
    _check_units(ctx, entrusting_unit, agency_unit, actor)
    refs = list(case_nos) if case_nos is not None else _package_refs(ctx, agency_unit, entrustment_number)
    title = (title or "").strip()[:200]
    if not title:
        raise ValidationError(fields={"title": ["请填写批次名称"]})
    if not refs:
        raise ValidationError("名单中没有核对对象", code="batch_empty", fields={"case_nos": ["名单为空"]})
    if len(refs) > MAX_ROWS:
        raise ValidationError(f"一个批次最多 {MAX_ROWS} 户", code="batch_too_large")
    rows = _resolve(ctx, refs, agency_unit)
    pending_ids = [r["original_household_id"] for r in rows if r["status"] == ItemStatus.PENDING]
    entrustment = new_recheck_entrustment(
        ctx, entrusting=entrusting_unit, agency=agency_unit, households=len(pending_ids),
        persons=count_subjects(ctx, pending_ids), contact_name=actor.username, actor=actor)
    today = ctx.today()
    failed = sum(1 for r in rows if r["status"] == ItemStatus.FAILED)
    batch = RecheckBatch(
        number=f"PL-{entrusting_unit.code}-{today.year}-"
               f"{next_counter_value(ctx, entrusting_unit.id, today.year, 'batch'):06d}",
        title=title, source="list" if case_nos is not None else "package", status=BatchStatus.PENDING,
        entrusting_unit_id=entrusting_unit.id, agency_unit_id=agency_unit.id, entrustment_id=entrustment.id,
        total=len(rows), started=0, failed=failed, created_at=ctx.now(), created_by=actor.username)
    ctx.session.add(batch)
    ctx.session.flush()
    now = ctx.now()
    for start in range(0, len(rows), 5000):
        ctx.session.execute(insert(RecheckBatchItem), [
            {**r, "batch_id": batch.id, "updated_at": now} for r in rows[start:start + 5000]])
    append_event(ctx, stream=SYSTEM_STREAM, kind="recheck_batch_created", actor=actor, payload={
        "batch": batch.number, "entrustment": entrustment.number, "entrusting_unit": entrusting_unit.code,
        "agency_unit": agency_unit.code, "rows": len(rows), "failed": failed, "source": batch.source})
    ctx.enqueue_after_commit(JOB, batch_id=batch.id)
    return batch


def _check_units(ctx: EngineContext, entrusting: Unit, agency: Unit, actor: Actor) -> None:
    if entrusting.kind is not UnitKind.ENTRUSTING_DEPARTMENT or agency.kind is not UnitKind.VERIFICATION_AGENCY:
        raise ValidationError("委托单位须为社会救助部门，受托单位须为核对机构", code="batch_invalid",
                              fields={"agency_unit": ["须为核对机构"], "entrusting_unit": ["须为社会救助部门"]})
    if actor.user_id is not None and ctx.session.execute(select(Membership.id).where(
            Membership.user_id == actor.user_id, Membership.unit_id == entrusting.id,
            Membership.role_code.in_(BATCH_ROLES))).first() is None:
        raise PermissionDeniedError("您不是该社会救助部门的救助经办人", code="role_required", roles=list(BATCH_ROLES))


def _package_refs(ctx: EngineContext, agency: Unit, number: str | None) -> list[str]:
    entrustment = ctx.session.execute(select(Entrustment).where(
        Entrustment.agency_unit_id == agency.id, Entrustment.number == (number or ""))).scalar_one_or_none()
    if entrustment is None:
        raise ValidationError("委托书不存在", code="batch_invalid",
                              fields={"entrustment_number": ["该核对机构没有此委托书"]})
    return list(ctx.session.execute(select(Household.case_no).where(Household.entrustment_id == entrustment.id)
                                    .order_by(Household.id)).scalars())


def _resolve(ctx: EngineContext, refs: list[str], agency: Unit) -> list[dict[str, Any]]:
    """Each row: its household, or why it fails (unknown, repeated, outside the agency's region)."""
    cleaned = [str(r or "").strip()[:60] for r in refs]
    found: dict[str, tuple[int, str]] = {}
    wanted = sorted(set(c for c in cleaned if c))
    for start in range(0, len(wanted), 500):
        found.update({case_no: (hid, path) for case_no, hid, path in ctx.session.execute(
            select(Household.case_no, Household.id, Region.path).join(Region, Region.code == Household.region_code)
            .where(Household.case_no.in_(wanted[start:start + 500])))})
    seen: set[int] = set()
    rows = []
    for index, ref in enumerate(cleaned, start=1):
        hit = found.get(ref)
        reason = None
        if hit is None:
            reason = "核对业务编号不存在" if ref else "核对业务编号为空"
        elif not hit[1].startswith(agency.region.path):
            reason = "该户不在受托核对机构的辖区内"
        elif hit[0] in seen:
            reason = "与前面的行重复"
        if reason is None:
            seen.add(hit[0])  # type: ignore[index]
        rows.append({"row": index, "ref": ref or "（空）",
                     "status": ItemStatus.FAILED if reason else ItemStatus.PENDING,
                     "reason": reason, "original_household_id": None if reason else hit[0]})  # type: ignore[index]
    return rows


def pause_batch(ctx: EngineContext, batch_id: int, *, actor: Actor) -> RecheckBatch:
    """Stop the batch after the chunk being started (a running job checks between chunks)."""
    batch = _locked(ctx, batch_id)
    if batch.status not in (BatchStatus.PENDING, BatchStatus.RUNNING):
        raise InvalidStateError("该批次当前不能暂停", code="batch_not_running")
    batch.status = BatchStatus.PAUSED
    ctx.session.flush()
    _batch_event(ctx, batch, "recheck_batch_paused", actor)
    return batch


def resume_batch(ctx: EngineContext, batch_id: int, *, actor: Actor,
                 stale_minutes: int = STALE_MINUTES) -> RecheckBatch:
    """Queue a paused or interrupted batch again; the job starts the rows still pending.

    :param stale_minutes: how long a pending/running batch may go without progress before it
        counts as interrupted (its worker died) and may be resumed.
    """
    batch = _locked(ctx, batch_id)
    interrupted = is_interrupted(ctx, batch, stale_minutes=stale_minutes)
    if batch.status is not BatchStatus.PAUSED and not interrupted:
        raise InvalidStateError("只有已暂停或已中断的批次可以继续", code="batch_not_paused")
    batch.status = BatchStatus.PENDING
    # re-queued now: the rows' clock restarts, so the batch is not seen as interrupted before its worker starts
    ctx.session.execute(update(RecheckBatchItem).where(RecheckBatchItem.batch_id == batch.id,
                                                       RecheckBatchItem.status == ItemStatus.PENDING)
                        .values(updated_at=ctx.now()))
    ctx.session.flush()
    _batch_event(ctx, batch, "recheck_batch_resumed", actor, interrupted=interrupted)
    ctx.enqueue_after_commit(JOB, batch_id=batch.id)
    return batch


def last_progress(ctx: EngineContext, batch: RecheckBatch) -> datetime:
    """When a row of the batch was last started, failed or (re)queued."""
    latest = ctx.session.execute(select(func.max(RecheckBatchItem.updated_at))
                                 .where(RecheckBatchItem.batch_id == batch.id)).scalar()
    return latest or batch.created_at


def is_interrupted(ctx: EngineContext, batch: RecheckBatch, *, stale_minutes: int = STALE_MINUTES) -> bool:
    """A pending or running batch with no progress for ``stale_minutes``: its job was lost or its worker died."""
    if batch.status not in (BatchStatus.PENDING, BatchStatus.RUNNING):
        return False
    return last_progress(ctx, batch) < ctx.now() - timedelta(minutes=stale_minutes)


def resume_interrupted(ctx: EngineContext, *, stale_minutes: int = STALE_MINUTES) -> list[str]:
    """Resume every interrupted batch (the periodic job ``rechecks.resume_interrupted``); returns their numbers."""
    active = ctx.session.execute(select(RecheckBatch.id).where(
        RecheckBatch.status.in_((BatchStatus.PENDING, BatchStatus.RUNNING))).order_by(RecheckBatch.id)).scalars().all()
    resumed = []
    for batch_id in active:
        batch = _locked(ctx, batch_id)
        if is_interrupted(ctx, batch, stale_minutes=stale_minutes):
            resume_batch(ctx, batch_id, actor=Actor.system(RESUME_JOB), stale_minutes=stale_minutes)
            resumed.append(batch.number)
    if resumed:
        logger.warning("Resumed interrupted recheck batches: %s", ", ".join(resumed))
    return resumed


def _locked(ctx: EngineContext, batch_id: int) -> RecheckBatch:
    batch = ctx.session.execute(select(RecheckBatch).where(RecheckBatch.id == batch_id).with_for_update()
                                .execution_options(populate_existing=True)).scalar_one_or_none()
    if batch is None:
        raise NotFoundError("批量复核批次不存在", batch_id=batch_id)
    return batch


def _batch_event(ctx: EngineContext, batch: RecheckBatch, kind: str, actor: Actor, **extra: Any) -> None:
    append_event(ctx, stream=SYSTEM_STREAM, kind=kind, actor=actor, payload={
        "batch": batch.number, "started": batch.started, "failed": batch.failed, "total": batch.total, **extra})


def run_batch(ctx: EngineContext, batch_id: int, *, commit: Callable[[], None], chunk_size: int = CHUNK_SIZE) -> str:
    """Start the pending rows chunk by chunk, committing after each; returns the batch status.

    :param commit: the entry point's commit (the job in ``web/rechecks/jobs.py``): engine services never
        commit themselves; this one is told when a chunk is done.
    """
    actor = Actor.system(f"batch:{batch_id}")
    batch = _locked(ctx, batch_id)
    if batch.status not in (BatchStatus.PENDING, BatchStatus.RUNNING):
        return batch.status.value  # paused, finished, or delivered twice
    batch.status = BatchStatus.RUNNING
    commit()
    assert batch.entrustment is not None
    prepared = Reverification.prepare(ctx, batch.entrustment)
    after = 0
    while True:
        # read, not locked: a pause must not wait for a whole chunk (the counter update locks the row briefly)
        batch = ctx.session.execute(select(RecheckBatch).where(RecheckBatch.id == batch_id)
                                    .execution_options(populate_existing=True)).scalar_one()
        if batch.status is not BatchStatus.RUNNING:
            commit()
            return batch.status.value
        # keyset from the last chunk (the scan never passes over started rows again); from the start once
        # more before finishing, for rows another worker skipped past and left pending
        items = _next_chunk(ctx, batch_id, chunk_size, after)
        if not items and after:
            items = _next_chunk(ctx, batch_id, chunk_size)
        if not items:
            batch.status, batch.finished_at = BatchStatus.COMPLETED, ctx.now()
            _batch_event(ctx, batch, "recheck_batch_completed", actor)
            commit()
            return batch.status.value
        originals = _originals(ctx, [i.original_household_id for i in items if i.original_household_id])
        for item in items:
            _start_item(ctx, batch, item, originals[item.original_household_id or 0], prepared, actor)
        _count_chunk(ctx, batch, items)
        after = items[-1].id
        commit()
        logger.info("Batch %s: %s started, %s failed of %s", batch.number, batch.started, batch.failed, batch.total)


def _next_chunk(ctx: EngineContext, batch_id: int, size: int, after: int = 0) -> list[RecheckBatchItem]:
    query = (select(RecheckBatchItem).where(RecheckBatchItem.batch_id == batch_id,
                                            RecheckBatchItem.status == ItemStatus.PENDING,
                                            RecheckBatchItem.id > after)
             .order_by(RecheckBatchItem.id).limit(size).with_for_update(skip_locked=True))
    return list(ctx.session.execute(query).scalars())


def _originals(ctx: EngineContext, ids: list[int]) -> dict[int, Household]:
    """A chunk's households with what is copied from them, in three queries instead of three per household."""
    query = select(Household).where(Household.id.in_(ids)).options(
        selectinload(Household.persons), selectinload(Household.authorisations).selectinload(Authorisation.persons))
    return {h.id: h for h in ctx.session.execute(query).scalars()}


def _start_item(ctx: EngineContext, batch: RecheckBatch, item: RecheckBatchItem, original: Household,
                prepared: Reverification, actor: Actor) -> None:
    try:
        with ctx.session.begin_nested():  # a refused row leaves nothing behind
            household = start_reverification(ctx, original, prepared, actor=actor,
                                             link={"batch": batch.number, "batch_row": item.row})
        item.status, item.household_id = ItemStatus.STARTED, household.id
    except HeduiError as exc:
        item.status, item.reason = ItemStatus.FAILED, exc.message[:500]
    item.updated_at = ctx.now()
    ctx.session.flush()


def _count_chunk(ctx: EngineContext, batch: RecheckBatch, items: list[RecheckBatchItem]) -> None:
    """Add the chunk's outcomes to the batch's counters, in the chunk's transaction.

    Incremental (the rows of this chunk only, never a rescan of the batch) and done in SQL
    (``started = started + n``), so a second worker on the same batch cannot lose an update.
    """
    started = sum(1 for i in items if i.status is ItemStatus.STARTED)
    failed = sum(1 for i in items if i.status is ItemStatus.FAILED)
    ctx.session.execute(update(RecheckBatch).where(RecheckBatch.id == batch.id).values(
        started=RecheckBatch.started + started, failed=RecheckBatch.failed + failed))
    ctx.session.refresh(batch, ["started", "failed"])


# --- status ----------------------------------------------------------------------------------------------


@dataclass
class BatchReport:
    """What the batch page and the API show: counts per stage, overdue, finished, failed rows."""

    stages: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    finished: int = 0
    failed_rows: list[dict[str, Any]] = field(default_factory=list)


def batch_status(ctx: EngineContext, batch: RecheckBatch, *, failed_limit: int = 200) -> BatchReport:
    """Counts over the batch's started cases, from the derived tables."""
    report = BatchReport()
    cases = (select(Household.instance_id).join(RecheckBatchItem, RecheckBatchItem.household_id == Household.id)
             .where(RecheckBatchItem.batch_id == batch.id))
    open_tasks = ctx.session.execute(
        select(HumanTask.name, HumanTask.due_at).where(HumanTask.instance_id.in_(cases),
                                                       HumanTask.status == HumanTaskStatus.OPEN)).all()
    now = ctx.now()
    report.stages = dict(Counter(name for name, _ in open_tasks).most_common())
    report.overdue = sum(1 for _, due in open_tasks if due is not None and due < now)
    report.finished = ctx.session.execute(select(func.count()).select_from(WorkflowInstance).where(
        WorkflowInstance.id.in_(cases), WorkflowInstance.status != "running")).scalar_one()
    failed = ctx.session.execute(select(RecheckBatchItem).where(
        RecheckBatchItem.batch_id == batch.id, RecheckBatchItem.status == ItemStatus.FAILED)
        .order_by(RecheckBatchItem.row).limit(failed_limit)).scalars()
    report.failed_rows = [{"row": i.row, "case_no": i.ref, "reason": i.reason} for i in failed]
    return report


def batch_visible_to(ctx: EngineContext, user_id: int, batch: RecheckBatch) -> bool:
    """Whether the user works in the batch's entrusting department or its agency (who may follow it)."""
    return bool(load_memberships(ctx, user_id).unit_ids & {batch.entrusting_unit_id, batch.agency_unit_id})


def list_batches(ctx: EngineContext, unit_ids: Sequence[int], limit: int = 50) -> list[RecheckBatch]:
    """Batches entrusted by or to ``unit_ids``, newest first."""
    return list(ctx.session.execute(select(RecheckBatch).where(
        (RecheckBatch.entrusting_unit_id.in_(unit_ids)) | (RecheckBatch.agency_unit_id.in_(unit_ids)))
        .order_by(RecheckBatch.id.desc()).limit(limit)).scalars())
