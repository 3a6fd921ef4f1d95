"""Batch re-verification (PS-8): rows checked, cases started in committed chunks, failures, pause, resume, crash.

Every run commits per chunk (in tests a commit releases a savepoint of the test's
transaction), so "a crash" is an exception in the middle of a chunk followed by a rollback:
only the uncommitted chunk is lost, and running again resumes without duplicates.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import InvalidStateError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import verify_chain
from engine.models import Event
from engine.models import Household
from engine.models import ItemStatus
from engine.models import RecheckBatchItem
from engine.models.recheck import BatchStatus
from engine.persistence import load_workflow
from engine.services import recheck_batches
from engine.services.authorisations import end_authorisation
from engine.services.instances import list_open_tasks
from engine.services.org import get_unit_by_code
from engine.services.recheck_batches import batch_status
from engine.services.recheck_batches import create_batch
from engine.services.recheck_batches import get_batch
from engine.services.recheck_batches import pause_batch
from engine.services.recheck_batches import resume_batch
from engine.services.recheck_batches import run_batch
from tests.engine.recheck_factory import as_user
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def prepared(ctx: EngineContext) -> EngineContext:
    return prepare(ctx)


def _create(ctx: EngineContext, refs: list[str], agency: str = "CY-HDZX", **kwargs: Any) -> int:
    batch = create_batch(ctx, entrusting_unit=get_unit_by_code(ctx, "CY-MZJ"),
                         agency_unit=get_unit_by_code(ctx, agency), title="2026 年度低保对象复核",
                         actor=as_user(ctx, "cy_assistance", "assistance_officer"), case_nos=refs, **kwargs)
    ctx.session.commit()
    return batch.id


def _items(ctx: EngineContext, batch_id: int) -> list[tuple[int, str, str | None]]:
    rows = ctx.session.execute(select(RecheckBatchItem).where(RecheckBatchItem.batch_id == batch_id)
                               .order_by(RecheckBatchItem.row)).scalars()
    return [(i.row, i.status.value, i.reason) for i in rows]


def _crash_at(ctx: EngineContext, batch_id: int, monkeypatch: pytest.MonkeyPatch, *, start: int,
              chunk_size: int) -> None:
    """Run the batch until the worker dies at its ``start``-th household; roll back what was not committed."""
    real, calls = recheck_batches.start_reverification, []

    def crashing(*args: Any, **kwargs: Any) -> Household:
        calls.append(1)
        if len(calls) == start:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(recheck_batches, "start_reverification", crashing)
        with pytest.raises(RuntimeError):
            run_batch(ctx, batch_id, chunk_size=chunk_size, commit=ctx.session.commit)
    ctx.session.rollback()
    ctx.session.expire_all()


@pytest.mark.parametrize("profile", ["jilin", "baoji"])
def test_batch_with_failures_crash_pause_and_resume(prepared: EngineContext, clock: Any, profile: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = prepared
    ctx.policy_profile = profile
    households = enrol(ctx, 5, signed_on=date(2026, 11, 20))
    # the fourth household's authorisation ended: its row fails alone (PR-1)
    end_authorisation(ctx, households[3].authorisations[0].id, last_day=date(2026, 11, 22),
                      reason="assistance_stopped", actor=Actor("admin"))
    refs = [h.case_no for h in households] + ["HD-CY-HDZX-2026-999999", households[0].case_no]
    batch_id = _create(ctx, refs)
    batch = get_batch(ctx, batch_id)
    assert (batch.status, batch.total, batch.started, batch.failed) == (BatchStatus.PENDING, 7, 0, 2)
    assert batch.entrustment.number.startswith("FHWT-CY-MZJ-") and batch.entrustment.household_count == 5
    assert ctx.after_commit_jobs[-1] == ("rechecks.run_batch", {"batch_id": batch_id})
    assert _items(ctx, batch_id)[5:] == [(6, "failed", "核对业务编号不存在"), (7, "failed", "与前面的行重复")]

    # a crash in the middle of the second chunk: the first chunk stays, the second is rolled back
    _crash_at(ctx, batch_id, monkeypatch, start=3, chunk_size=2)
    assert [s for _, s, _ in _items(ctx, batch_id)] == ["started", "started", "pending", "pending", "pending",
                                                        "failed", "failed"]
    assert get_batch(ctx, batch_id).status is BatchStatus.RUNNING

    # paused between chunks by a user: the job stops there
    def commit_then_pause() -> None:
        ctx.session.commit()
        if get_batch(ctx, batch_id).status is BatchStatus.RUNNING and get_batch(ctx, batch_id).started == 3:
            pause_batch(ctx, batch_id, actor=as_user(ctx, "cy_assistance", "assistance_officer"))
            ctx.session.commit()

    assert run_batch(ctx, batch_id, chunk_size=1, commit=commit_then_pause) == "paused"
    ctx.session.expire_all()
    batch = get_batch(ctx, batch_id)
    assert (batch.status, batch.started, batch.pending) == (BatchStatus.PAUSED, 3, 2)
    assert run_batch(ctx, batch_id, commit=ctx.session.commit) == "paused"  # a queued job does nothing while paused
    with pytest.raises(InvalidStateError):
        pause_batch(ctx, batch_id, actor=Actor("cy_assistance"))

    resume_batch(ctx, batch_id, actor=as_user(ctx, "cy_assistance", "assistance_officer"))
    assert run_batch(ctx, batch_id, commit=ctx.session.commit) == "completed"
    ctx.session.expire_all()
    batch = get_batch(ctx, batch_id)
    assert (batch.status, batch.total, batch.started, batch.failed, batch.progress) == (
        BatchStatus.COMPLETED, 7, 4, 3, 100)
    assert _items(ctx, batch_id)[3] == (4, "failed", "该户的授权书已失效，须重新签署授权书后才能复核（先授权，后核对）")
    # exactly one new case per household of the batch, each linked to its original
    started = ctx.session.execute(select(RecheckBatchItem.original_household_id, func.count()).where(
        RecheckBatchItem.batch_id == batch_id, RecheckBatchItem.status == ItemStatus.STARTED)
        .group_by(RecheckBatchItem.original_household_id)).all()
    assert sorted(started) == sorted((h.id, 1) for h in households if h is not households[3])
    assert ctx.session.execute(select(func.count()).select_from(Household).where(
        Household.entrustment_id == batch.entrustment_id)).scalar_one() == 4
    item = ctx.session.execute(select(RecheckBatchItem).where(RecheckBatchItem.batch_id == batch_id,
                                                              RecheckBatchItem.row == 1)).scalar_one()
    case = ctx.session.get(Household, item.household_id)
    [intake] = list_open_tasks(ctx, instance_id=case.instance_id)
    assert load_workflow(ctx, case.instance).task_data(intake.id)["verification_days"] == 15
    linked = ctx.session.execute(select(Event).where(Event.instance_id == case.instance_id,
                                                     Event.kind == "entrustment_received")).scalar_one()
    assert (linked.payload["batch"], linked.payload["original_case_no"]) == (batch.number, households[0].case_no)
    kinds = ctx.session.execute(select(Event.kind).where(Event.stream == "system", Event.kind.like("recheck_batch_%"))
                                .order_by(Event.seq)).scalars().all()  # PostgreSQL returns no order otherwise
    assert kinds == ["recheck_batch_created", "recheck_batch_paused", "recheck_batch_resumed",
                     "recheck_batch_completed"]

    report = batch_status(ctx, batch)
    assert (report.stages, report.overdue, report.finished) == ({"受理初审": 4}, 0, 0)
    assert [r["row"] for r in report.failed_rows] == [4, 6, 7]
    clock.set(datetime(2026, 11, 26, 9, tzinfo=SHANGHAI))  # 受理初审 is due within 2 working days
    assert batch_status(ctx, batch).overdue == 4
    assert verify_chain(ctx.session) == []


def test_rows_outside_the_agency_region_fail_and_the_package_source(prepared: EngineContext) -> None:
    ctx = prepared
    households = enrol(ctx, 2)
    batch_id = _create(ctx, [h.case_no for h in households], agency="NG-HDZX")
    assert [r[2] for r in _items(ctx, batch_id)] == ["该户不在受托核对机构的辖区内"] * 2
    assert run_batch(ctx, batch_id, commit=ctx.session.commit) == "completed"
    number = households[0].entrustment.number
    package = create_batch(ctx, entrusting_unit=get_unit_by_code(ctx, "CY-MZJ"),
                           agency_unit=get_unit_by_code(ctx, "CY-HDZX"), title="导入数据包复核",
                           actor=Actor("system"), entrustment_number=number)
    assert (package.source, package.total, package.failed) == ("package", 2, 0)
    assert run_batch(ctx, package.id, commit=ctx.session.commit) == "completed"
    assert get_batch(ctx, package.id).started == 2


def test_who_may_create_a_batch(prepared: EngineContext) -> None:
    ctx = prepared
    [household] = enrol(ctx)
    with pytest.raises(PermissionDeniedError):
        create_batch(ctx, entrusting_unit=get_unit_by_code(ctx, "CY-MZJ"), agency_unit=get_unit_by_code(ctx, "CY-HDZX"),
                     title="复核", actor=as_user(ctx, "cy_intake", "intake_officer"), case_nos=[household.case_no])
    with pytest.raises(ValidationError) as empty:
        _create(ctx, [])
    assert empty.value.code == "batch_empty"
    with pytest.raises(ValidationError):
        create_batch(ctx, entrusting_unit=get_unit_by_code(ctx, "CY-HDZX"),
                     agency_unit=get_unit_by_code(ctx, "CY-HDZX"), title="复核", actor=Actor("system"),
                     case_nos=[household.case_no])


def test_a_batch_whose_worker_died_is_interrupted_after_the_stale_time_and_resumed(
        prepared: EngineContext, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """PS-8: a crashed worker leaves the batch "running"; after the stale time: 已中断, resumed by the periodic job."""
    ctx = prepared
    households = enrol(ctx, 3, signed_on=date(2026, 11, 20))
    batch_id = _create(ctx, [h.case_no for h in households])
    clock.advance(minutes=1)
    _crash_at(ctx, batch_id, monkeypatch, start=2, chunk_size=1)
    batch = get_batch(ctx, batch_id)
    assert (batch.status, batch.started) == (BatchStatus.RUNNING, 1)

    clock.advance(minutes=14)  # 14 minutes after the last started row: still counted as running
    assert not recheck_batches.is_interrupted(ctx, batch, stale_minutes=15)
    assert recheck_batches.resume_interrupted(ctx, stale_minutes=15) == []
    with pytest.raises(InvalidStateError):
        resume_batch(ctx, batch_id, actor=as_user(ctx, "cy_assistance", "assistance_officer"), stale_minutes=15)
    assert recheck_batches.is_interrupted(ctx, batch, stale_minutes=10)  # the stale time is configurable

    clock.advance(minutes=2)
    assert recheck_batches.is_interrupted(ctx, batch, stale_minutes=15)
    ctx.after_commit_jobs.clear()
    assert recheck_batches.resume_interrupted(ctx, stale_minutes=15) == [batch.number]
    assert batch.status is BatchStatus.PENDING and not recheck_batches.is_interrupted(ctx, batch, stale_minutes=15)
    assert ctx.after_commit_jobs == [("rechecks.run_batch", {"batch_id": batch_id})]
    resumed = ctx.session.execute(select(Event).where(Event.kind == "recheck_batch_resumed")).scalar_one()
    assert (resumed.actor, resumed.payload["interrupted"]) == ("rechecks.resume_interrupted", True)
    ctx.session.commit()
    assert run_batch(ctx, batch_id, commit=ctx.session.commit) == "completed"
    batch = get_batch(ctx, batch_id)
    assert (batch.started, batch.failed) == (3, 0)
    clock.advance(hours=2)  # a finished (or paused) batch is never interrupted
    assert not recheck_batches.is_interrupted(ctx, batch, stale_minutes=15)
    assert recheck_batches.resume_interrupted(ctx, stale_minutes=15) == []


def test_starting_a_chunk_reads_shared_rows_once_not_per_household(prepared: EngineContext) -> None:
    """PS-8 at scale: the definition, the roles and a new case's (empty) derived rows are not re-read per household."""
    ctx = prepared
    households = enrol(ctx, 4, signed_on=date(2026, 11, 20))
    batch_id = _create(ctx, [h.case_no for h in households])
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(" ".join(str(args[2]).split()))

    connection = ctx.session.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        assert run_batch(ctx, batch_id, commit=ctx.session.commit) == "completed"
    finally:
        event.remove(connection, "before_cursor_execute", count)
    per_table = {table: sum(1 for s in statements if s.startswith("SELECT") and f"FROM {table} " in s + " ")
                 for table in ("current_definitions", "roles", "human_tasks", "timers", "message_subscriptions")}
    assert per_table["current_definitions"] <= 1 and per_table["roles"] <= 1, per_table
    assert per_table["human_tasks"] == per_table["timers"] == per_table["message_subscriptions"] == 0, per_table
    assert not [s for s in statements if "GROUP BY" in s and "recheck_batch_items" in s]  # no recount of the batch
    assert get_batch(ctx, batch_id).started == 4
