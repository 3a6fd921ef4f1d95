"""Two workers gathering cross-city requests at once (PS-7): one batch per city, no request twice.

Real sessions that commit (``committing_url``); the races need PostgreSQL's row and advisory
locks. On SQLite (one writer at a time) gathering twice in a row is checked instead.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models.escalation import CrossCityBatch
from engine.models.escalation import Escalation
from engine.models.escalation import EscalationStatus
from engine.services.cross_city import gather_requests
from engine.services.cross_city import on_report_at_city
from engine.services.escalations import record_step
from engine.services.instances import complete_task
from tests.engine.cross_city_factory import open_task
from tests.engine.cross_city_factory import raise_request
from tests.engine.recheck_factory import as_user
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


def test_two_province_reports_at_once_still_release_the_batch(world: World, committing_url: str) -> None:
    """The last two province results of a batch arriving in two transactions at once: the batch goes on to
    转送县级 (each reads the batch's requests under the batch's row lock, never both "the other is out")."""
    if committing_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")

    def entrust(ctx: EngineContext) -> list[int]:
        ctx.deadline = WorkingCalendar(ctx.session).deadline
        [batch] = gather_requests(ctx, actor=GATHERER)
        complete_task(ctx, open_task(ctx, batch, "city_review").id, {},
                      actor=as_user(ctx, "cc_reviewer", "review_officer"))
        return [e.id for e in batch.escalations]

    ids = world.run(entrust)

    def reported(escalation_id: int) -> Any:
        def step(ctx: EngineContext) -> None:
            ctx.deadline = WorkingCalendar(ctx.session).deadline
            escalation = ctx.session.get(Escalation, escalation_id)
            assert escalation is not None and escalation.status == EscalationStatus.ENTRUSTED
            record_step(ctx, escalation, EscalationStatus.REPORTED, escalation.via_unit, GATHERER, note="核对报告")
            on_report_at_city(ctx, escalation)
        return step

    def all_but_one(ctx: EngineContext) -> None:
        for escalation_id in ids[:-2]:
            reported(escalation_id)(ctx)

    world.run(all_but_one)

    def first(ctx: EngineContext) -> None:
        reported(ids[-2])(ctx)
        thread = threading.Thread(target=lambda: world.run(reported(ids[-1])))
        thread.start()
        thread.join(3)  # unfixed, the second reads this uncommitted request as entrusted and commits
        holder["thread"] = thread

    holder: dict[str, threading.Thread] = {}
    world.run(first)
    holder["thread"].join(60)

    def relay_open(ctx: EngineContext) -> bool:
        batch = ctx.session.execute(select(CrossCityBatch)).scalar_one()
        return ctx.session.execute(select(HumanTask.id).where(
            HumanTask.instance_id == batch.instance_id, HumanTask.bpmn_id == "relay_reports",
            HumanTask.status == HumanTaskStatus.OPEN)).first() is not None

    assert world.run(relay_open)
