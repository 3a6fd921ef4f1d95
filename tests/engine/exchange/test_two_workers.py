"""Two workers sending system batches at once: every request is sent exactly once (PostgreSQL, SKIP LOCKED)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Mapping

import pytest
from sqlalchemy import select

from engine.clock import FixedClock
from engine.context import EngineContext
from engine.db import make_engine
from engine.exchange.batches import confirm_batch
from engine.exchange.batches import prepare_batch
from engine.exchange.sender import TransportResponse
from engine.exchange.system_mode import send_due_batches
from engine.models.exchange import BatchStatus
from engine.models.exchange import ExchangeBatch
from tests.conftest import committing_run
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import case_in_exchange
from tests.engine.exchange_factory import officer
from tests.engine.exchange_factory import setup_exchange

SYSTEM_UNITS = ["CC-GA", "CC-GJJ", "CC-SW", "CC-BANK"]


class CountingTransport:
    def __init__(self) -> None:
        self.sent: Counter[int] = Counter()
        self.lock = threading.Lock()

    def __call__(self, method: str, url: str, body: bytes, headers: Mapping[str, str],
                 timeout: float) -> TransportResponse:
        time.sleep(0.01)  # a slow unit: the other worker runs meanwhile
        with self.lock:
            self.sent.update({line["request_id"] for line in json.loads(body)["lines"]})
        return TransportResponse(202, {}, b"{}")


def test_two_workers_send_every_request_exactly_once(committing_url: str) -> None:
    if not committing_url.startswith("postgresql"):
        pytest.skip("row locks with SKIP LOCKED are a PostgreSQL matter; SQLite has one writer")
    engine = make_engine(committing_url)
    clock = FixedClock(IN_WINDOW)
    run = committing_run(engine, clock)

    def prepare(ctx: EngineContext) -> int:
        setup_exchange(ctx, clock)
        for i in range(3):
            case_in_exchange(ctx, SYSTEM_UNITS, index=i)
        clock.set(IN_WINDOW)
        count = 0
        for unit in SYSTEM_UNITS:
            for _ in range(3):  # one batch per request: many small batches to fight over
                batch = prepare_batch(ctx, unit, actor=officer(ctx, "cy_exchange_1"), limit=1)
                confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_2"))
                count += 1
        return count

    batches = run(prepare)
    transport = CountingTransport()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            while run(lambda ctx: send_due_batches(ctx, limit=2, transport=transport)):
                pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    statuses = run(lambda ctx: list(ctx.session.execute(select(ExchangeBatch.status)).scalars()))
    assert len(statuses) == batches == 12 and set(statuses) == {BatchStatus.SENT}
    assert len(transport.sent) == 12 and set(transport.sent.values()) == {1}
    engine.dispose()
