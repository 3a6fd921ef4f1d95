"""Entrustment intake against a database that really commits: concurrent intakes (kept apart from
test_entrustments.py, which seeds once per module in an open transaction)."""

from __future__ import annotations

from tests.engine.package_factory import synthetic_household
from tests.engine.test_entrustments import _entrust
from tests.engine.test_entrustments import seed


def test_concurrent_intakes_get_distinct_case_numbers(committing_url: str) -> None:
    """Two intakes at the same agency at once (first counter row included): both succeed, numbers differ."""
    import threading

    from engine.clock import FixedClock
    from engine.db import make_engine
    from tests.conftest import T0
    from tests.conftest import committing_run

    db = make_engine(committing_url)
    run = committing_run(db, FixedClock(T0))
    run(seed)
    barrier, results = threading.Barrier(2), [None, None]

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = run(lambda ctx: [h.case_no for h in _entrust(ctx, [synthetic_household(i)]).households])
        except Exception as exc:  # noqa: BLE001 - inspected below
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    db.dispose()
    assert sorted(r[0] for r in results) == ["HD-CY-HDZX-2026-000001", "HD-CY-HDZX-2026-000002"], results
