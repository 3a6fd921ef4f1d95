"""Officers preparing batches of one unit at the same moment get distinct, consecutive batch numbers.

PostgreSQL only: it is the database where requests really run in parallel; SQLite serialises writers.
Before the counter, both prepares counted the same existing batches and one failed on the unique
``batch_no``.
"""

from __future__ import annotations

import pytest

from engine.context import EngineContext
from engine.exchange.batches import prepare_batch
from engine.exchange.requests import collect_requests
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import case_in_exchange
from tests.engine.exchange_factory import officer
from tests.engine.exchange_factory import setup_exchange
from tests.engine.test_concurrency import World
from tests.engine.test_concurrency import _race

RACERS = 3


def test_concurrent_prepares_get_consecutive_batch_numbers(committing_url: str) -> None:
    if committing_url.startswith("sqlite"):
        pytest.skip("row-lock race needs PostgreSQL (SQLite serialises writers)")
    world = World(committing_url)
    try:
        def setup(ctx: EngineContext) -> None:
            setup_exchange(ctx, world.clock)
            for i in range(RACERS):
                case_in_exchange(ctx, ["CC-GA"], index=i)
            world.clock.set(IN_WINDOW)
            collect_requests(ctx)

        world.run(setup)

        def prepare(ctx: EngineContext) -> str:
            return prepare_batch(ctx, "CC-GA", actor=officer(ctx, "cy_exchange_1"), limit=1).batch_no

        results = _race(world, [prepare] * RACERS)
        assert all(isinstance(r, str) for r in results), results
        assert sorted(results) == [f"JH-CC-GA-20261214-{n:04d}" for n in range(1, RACERS + 1)]
    finally:
        world.engine.dispose()
