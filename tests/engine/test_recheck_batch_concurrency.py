"""Two workers resuming the same interrupted batch re-verification at once (PS-8): every household is
started exactly once, the counters add up, the batch is resumed and completed once.

Real sessions that commit (``committing_url``). The batch's worker died after its first chunk; after the
stale time both workers run the periodic ``resume_interrupted`` and then the batch job (a job delivered
twice, as a queue may). On PostgreSQL they run in two threads at once (row locks, ``SKIP LOCKED`` chunks);
on SQLite (one writer at a time) the second worker runs between two chunks of the first.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import EngineContext
from engine.models import Event
from engine.models import Household
from engine.models import ItemStatus
from engine.models import RecheckBatch
from engine.models import RecheckBatchItem
from engine.models.recheck import BatchStatus
from engine.services.org import get_unit_by_code
from engine.services.recheck_batches import create_batch
from engine.services.recheck_batches import resume_interrupted
from engine.services.recheck_batches import run_batch
from tests.engine.recheck_factory import as_user
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare
from tests.engine.test_concurrency import World
from tests.engine.test_concurrency import _race

HOUSEHOLDS = 8
STALE = 15


class WorkerDiedError(Exception):
    """The batch job's process was killed (after a committed chunk)."""


@pytest.fixture
def world(committing_url: str):  # type: ignore[no-untyped-def]
    w = World(committing_url)
    yield w
    w.engine.dispose()


def _interrupted_batch(world: World) -> int:
    """A batch of ``HOUSEHOLDS`` rows whose worker died after its first chunk of two, stale by now."""
    def setup(ctx: EngineContext) -> int:
        prepare(ctx)
        households = enrol(ctx, HOUSEHOLDS, signed_on=date(2026, 11, 20))
        batch = create_batch(ctx, entrusting_unit=get_unit_by_code(ctx, "CY-MZJ"),
                             agency_unit=get_unit_by_code(ctx, "CY-HDZX"), title="2026 年度低保对象复核",
                             actor=as_user(ctx, "cy_assistance", "assistance_officer"),
                             case_nos=[h.case_no for h in households])
        return batch.id

    batch_id: int = world.run(setup)
    commits = []

    def dying_job(ctx: EngineContext) -> None:
        ctx.deadline = WorkingCalendar(ctx.session).deadline

        def commit() -> None:
            ctx.session.commit()
            commits.append(1)
            if len(commits) == 2:  # "running", then the first chunk
                raise WorkerDiedError

        run_batch(ctx, batch_id, commit=commit, chunk_size=2)

    with pytest.raises(WorkerDiedError):
        world.run(dying_job)
    world.clock.advance(minutes=STALE + 1)
    assert _counts(world, batch_id)[:3] == (BatchStatus.RUNNING, 2, 0)
    return batch_id


def _worker(batch_id: int, between_chunks: Any = None) -> Any:
    """The periodic resume job, then the batch job it queued (``between_chunks``: run after the first chunk)."""
    def work(ctx: EngineContext) -> tuple[list[str], str]:
        ctx.deadline = WorkingCalendar(ctx.session).deadline
        resumed = resume_interrupted(ctx, stale_minutes=STALE)
        ctx.session.commit()
        chunks = []

        def commit() -> None:
            ctx.session.commit()
            chunks.append(1)
            if between_chunks is not None and len(chunks) == 2:
                between_chunks()

        return resumed, run_batch(ctx, batch_id, commit=commit, chunk_size=2)

    return work


def _counts(world: World, batch_id: int) -> tuple[BatchStatus, int, int, dict[str, int], list[int], dict[str, int]]:
    """Batch status and counters, rows per status, new cases per original household, batch events by kind."""
    def read(ctx: EngineContext) -> Any:
        batch = ctx.session.get(RecheckBatch, batch_id)
        assert batch is not None
        rows = dict(ctx.session.execute(select(RecheckBatchItem.status, func.count()).where(
            RecheckBatchItem.batch_id == batch_id).group_by(RecheckBatchItem.status)).all())
        per_original = ctx.session.execute(select(func.count()).select_from(Household).join(
            RecheckBatchItem, RecheckBatchItem.household_id == Household.id).where(
            RecheckBatchItem.batch_id == batch_id).group_by(RecheckBatchItem.original_household_id)).scalars()
        events = dict(ctx.session.execute(select(Event.kind, func.count()).where(
            Event.kind.like("recheck_batch_%")).group_by(Event.kind)).all())
        return (batch.status, batch.started, batch.failed, {s.value: n for s, n in rows.items()},
                sorted(per_original), events)

    return world.run(read)  # type: ignore[no-any-return]


def _assert_started_once(world: World, batch_id: int, results: list[Any]) -> None:
    assert not [r for r in results if isinstance(r, BaseException)], results
    number = world.run(lambda ctx: ctx.session.get(RecheckBatch, batch_id).number)
    # the periodic job resumed the batch once: the other worker found it no longer interrupted
    assert sorted(r[0] for r in results) == [[], [number]]
    assert {r[1] for r in results} == {"completed"}
    status, started, failed, rows, per_original, events = _counts(world, batch_id)
    assert (status, started, failed) == (BatchStatus.COMPLETED, HOUSEHOLDS, 0)
    assert rows == {ItemStatus.STARTED.value: HOUSEHOLDS}
    assert per_original == [1] * HOUSEHOLDS  # one new case per household, none twice
    assert events == {"recheck_batch_created": 1, "recheck_batch_resumed": 1, "recheck_batch_completed": 1}


def test_two_workers_resume_an_interrupted_batch_at_once(world: World, committing_url: str) -> None:
    if committing_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite has one writer at a time (see the interleaved test)")
    batch_id = _interrupted_batch(world)
    results = _race(world, [_worker(batch_id), _worker(batch_id)])
    _assert_started_once(world, batch_id, results)


def test_a_second_worker_between_two_chunks_of_the_first(world: World) -> None:
    """Both databases: the second resume job and batch job run while the first is between chunks."""
    batch_id = _interrupted_batch(world)
    second: list[Any] = []
    first = world.run(_worker(batch_id, between_chunks=lambda: second.append(world.run(_worker(batch_id)))))
    assert len(second) == 1
    _assert_started_once(world, batch_id, [first, second[0]])
