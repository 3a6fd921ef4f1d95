"""Overdue escalation against a database that really commits: concurrent sweeps (PS-10; kept apart from
test_escalation.py, which seeds once per module in an open transaction)."""

from __future__ import annotations

import threading

from sqlalchemy import func
from sqlalchemy import select

from engine.history import verify_chain
from engine.models import Event
from engine.models import TaskEscalation
from engine.services.org import get_unit_by_code
from tests.conftest import T0
from tests.engine.test_escalation import JUST_AFTER
from tests.engine.test_escalation import _start
from tests.engine.test_escalation import seed


def test_concurrent_sweeps_escalate_each_task_once(committing_url: str) -> None:
    """Several workers sweeping at once (real commits, both backends): one escalation and one event per task."""
    from engine.clock import FixedClock
    from web import create_app
    from web.jobs import execute

    clock = FixedClock(T0)
    app = create_app({"ENV": "testing", "DATABASE_URL": committing_url, "CLOCK": clock, "SECRET_KEY": "t"})
    state = app.extensions["hedui"]
    with state.unit_of_work() as ctx:
        seed(ctx)
        agency = get_unit_by_code(ctx, "CY-HDZX").id
        ids = [_start(ctx, f"HD-{n}", agency).id for n in range(12)]
    clock.set(JUST_AFTER)
    barrier, errors, counts = threading.Barrier(3), [], []

    def sweep() -> None:
        try:
            barrier.wait(timeout=30)
            while (n := execute(state, "tasks.escalate_overdue", {"limit": 2})) > 0:
                counts.append(n)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and sum(counts) == len(ids)
    with state.session_factory() as session:
        per_instance = dict(session.execute(
            select(Event.instance_id, func.count()).where(Event.kind == "task_overdue").group_by(Event.instance_id)
        ).all())
        assert per_instance == {i: 1 for i in ids}
        assert session.execute(select(func.count()).select_from(TaskEscalation)).scalar() == len(ids)
        assert verify_chain(session) == []
    state.db_engine.dispose()
