"""Two workers gathering cross-city requests at once (PS-7): one batch per city, no request twice.

Real sessions that commit (``committing_url``); the races need PostgreSQL's row and advisory
locks. On SQLite (one writer at a time) gathering twice in a row is checked instead.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.models.escalation import CrossCityBatch
from engine.models.escalation import Escalation
from engine.models.escalation import EscalationStatus
from engine.services.cross_city import gather_requests
from tests.engine.cross_city_factory import raise_request
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare
from tests.engine.test_concurrency import World
from tests.engine.test_concurrency import _race

GATHERER = Actor.system("job:cross_city_gather")


@pytest.fixture
def world(committing_url: str):  # type: ignore[no-untyped-def]
    w = World(committing_url)

    def setup(ctx: EngineContext) -> None:
        prepare(ctx)
        for household in enrol(ctx, 3):
            raise_request(ctx, household)

    w.run(setup)
    yield w
    w.engine.dispose()


def _gather(ctx: EngineContext) -> list[str]:
    return [b.number for b in gather_requests(ctx, actor=GATHERER)]


def _outcome(world: World) -> tuple[list[int], list[tuple[int | None, Any]]]:
    def read(ctx: EngineContext) -> tuple[list[int], list[tuple[int | None, Any]]]:
        batches = ctx.session.execute(select(CrossCityBatch.id)).scalars().all()
        rows = ctx.session.execute(select(Escalation.batch_id, Escalation.status)).all()
        return list(batches), [tuple(r) for r in rows]

    return world.run(read)  # type: ignore[no-any-return]


def test_two_gatherers_at_once_make_one_batch(world: World, committing_url: str) -> None:
    if committing_url.startswith("sqlite"):
        results = [world.run(_gather), world.run(_gather)]
    else:
        results = _race(world, [_gather, _gather])
    assert sorted(results, key=len) == [[], ["KS-CC-HDZX-2026-000001"]], results
    batches, rows = _outcome(world)
    assert len(batches) == 1 and len(rows) == 3
    assert {batch_id for batch_id, _ in rows} == set(batches)
    assert {status for _, status in rows} == {EscalationStatus.GATHERED}


def test_a_gatherer_skips_a_city_another_one_holds(world: World, committing_url: str) -> None:
    """While one worker gathers (uncommitted), a second returns at once with nothing instead of waiting."""
    if committing_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")
    second: dict[str, Any] = {}

    def first(ctx: EngineContext) -> list[str]:
        numbers = _gather(ctx)
        thread = threading.Thread(target=lambda: second.setdefault("numbers", world.run(_gather)))
        thread.start()
        thread.join(60)
        assert not thread.is_alive(), "the second gatherer waited for the first"
        return numbers

    assert world.run(first) == ["KS-CC-HDZX-2026-000001"]
    assert second["numbers"] == []
    assert len(_outcome(world)[0]) == 1
