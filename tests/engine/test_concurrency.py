"""Two staff completing or claiming the same task: exactly one success and one clean conflict."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import FixedClock
from engine.context import Actor
from engine.context import EngineContext
from engine.db import make_engine
from engine.errors import ConflictError
from engine.models import Event
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.persistence import lock_instance
from engine.persistence import save_workflow
from engine.runtime import BpmnRuntime
from engine.services.deploy import deploy_files
from engine.services.instances import claim_task
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from tests.conftest import T0
from tests.conftest import read_files

A = Actor("staff_a", "intake_officer")
B = Actor("staff_b", "intake_officer")


class World:
    """Real sessions that commit, one per simulated request."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.clock = FixedClock(T0)
        self.runtime = BpmnRuntime(self.clock)

    def run(self, fn: Callable[[EngineContext], Any]) -> Any:
        with Session(self.engine, expire_on_commit=False) as session:
            ctx = EngineContext(session, self.runtime, self.clock)
            try:
                result = fn(ctx)
                session.commit()
                return result
            except BaseException:
                session.rollback()
                raise


@pytest.fixture
def world(committing_url: str):  # type: ignore[no-untyped-def]
    w = World(committing_url)
    w.run(lambda ctx: deploy_files(ctx, read_files("linear_review.bpmn"), actor=Actor("designer")))
    yield w
    w.engine.dispose()


def _first_task(world: World) -> tuple[int, str]:
    def go(ctx: EngineContext) -> tuple[int, str]:
        instance = start_instance(ctx, "linear_review", actor=A)
        return instance.id, list_open_tasks(ctx, instance_id=instance.id)[0].id

    return world.run(go)  # type: ignore[no-any-return]


def _race(world: World, fns: list[Callable[[EngineContext], Any]]) -> list[Any]:
    """Run ``fns`` in threads started together; return each result or exception."""
    barrier = threading.Barrier(len(fns))
    results: list[Any] = [None] * len(fns)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = world.run(fns[i])
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _held_lock_race(world: World, instance_id: int, second: Callable[[EngineContext], Any],
                    first_action: Callable[[EngineContext], Any]) -> Any:
    """Request 1 holds the instance lock while request 2 starts; then 1 finishes and commits."""
    started, outcome = threading.Event(), {}

    def request_two() -> None:
        started.set()
        try:
            outcome["value"] = world.run(second)
        except Exception as exc:  # noqa: BLE001
            outcome["value"] = exc

    def request_one(ctx: EngineContext) -> None:
        lock_instance(ctx.session, instance_id)
        thread = threading.Thread(target=request_two)
        thread.start()
        started.wait()
        first_action(ctx)
        outcome["thread"] = thread

    world.run(request_one)
    outcome["thread"].join(60)
    return outcome["value"]


def test_completing_the_same_task_twice_concurrently(world: World) -> None:
    instance_id, task_id = _first_task(world)
    loser = _held_lock_race(world, instance_id,
                            second=lambda ctx: complete_task(ctx, task_id, {}, actor=B),
                            first_action=lambda ctx: complete_task(ctx, task_id, {}, actor=A))
    assert isinstance(loser, ConflictError)
    _assert_completed_once(world, instance_id, task_id, by="staff_a")


def test_racing_completions_one_success(world: World) -> None:
    for _ in range(5):
        instance_id, task_id = _first_task(world)
        results = _race(world, [lambda ctx, a=a: complete_task(ctx, task_id, {}, actor=a) for a in (A, B)])
        assert sum(isinstance(r, ConflictError) for r in results) == 1, results
        assert sum(isinstance(r, HumanTask) for r in results) == 1, results
        winner = next(r for r in results if isinstance(r, HumanTask))
        _assert_completed_once(world, instance_id, task_id, by=winner.completed_by)


def test_racing_claims_one_success(world: World) -> None:
    instance_id, task_id = _first_task(world)
    results = _race(world, [lambda ctx, a=a: claim_task(ctx, task_id, actor=a) for a in (A, B)])
    assert sum(isinstance(r, ConflictError) for r in results) == 1, results
    claims = world.run(lambda ctx: ctx.session.execute(
        select(func.count()).select_from(Event).where(Event.kind == "task_claimed")).scalar())
    assert claims == 1


def _assert_completed_once(world: World, instance_id: int, task_id: str, by: str) -> None:
    def check(ctx: EngineContext) -> None:
        row = ctx.session.get(HumanTask, task_id)
        assert row.status == HumanTaskStatus.COMPLETED and row.completed_by == by
        completions = ctx.session.execute(select(func.count()).select_from(Event).where(
            Event.kind == "task_completed", Event.task_id == task_id)).scalar()
        assert completions == 1
        trace = [t.bpmn_id for t in load_workflow(ctx, ctx.session.get(WorkflowInstance, instance_id)).trace()]
        assert trace.count("intake_check") == 1
        assert [t.bpmn_id for t in list_open_tasks(ctx, instance_id=instance_id)] == ["review"]

    world.run(check)


@pytest.mark.postgres
def test_version_check_refuses_a_stale_writer(world: World, committing_url: str) -> None:
    if committing_url.startswith("sqlite"):
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE; a stale read cannot happen there")
    instance_id, task_id = _first_task(world)
    with Session(world.engine) as s1, Session(world.engine) as s2:
        ctx1 = EngineContext(s1, world.runtime, world.clock)
        ctx2 = EngineContext(s2, world.runtime, world.clock)
        # both read without the row lock (as a buggy caller would) ...
        i1, i2 = s1.get(WorkflowInstance, instance_id), s2.get(WorkflowInstance, instance_id)
        wf1, wf2 = load_workflow(ctx1, i1), load_workflow(ctx2, i2)
        wf1.complete_task(task_id, {})
        save_workflow(ctx1, i1, wf1, actor=A)
        s1.commit()
        wf2.complete_task(task_id, {})
        # ... and the version column still refuses the second write
        with pytest.raises(ConflictError):
            save_workflow(ctx2, i2, wf2, actor=B)


def test_sweep_skips_an_instance_a_request_holds(committing_url: str) -> None:
    """A user completing a task while its boundary timer is due: no deadlock, nothing fired twice."""
    from datetime import timedelta

    from engine.models import Timer
    from engine.models import TimerStatus
    from engine.services.timers import fire_due_timers

    world = World(committing_url)
    world.run(lambda ctx: deploy_files(ctx, read_files("timer_boundary.bpmn"), actor=Actor("designer")))
    due = (T0 + timedelta(days=1)).isoformat()
    instance_id = world.run(lambda ctx: start_instance(ctx, "timer_boundary", actor=A, data={"materials_due": due}).id)
    task_id = world.run(lambda ctx: list_open_tasks(ctx, instance_id=instance_id)[0].id)
    world.clock.advance(days=2)
    if committing_url.startswith("sqlite"):
        fired = world.run(lambda ctx: fire_due_timers(ctx))
        assert fired == 1
    else:
        swept = _held_lock_race(world, instance_id, second=lambda ctx: fire_due_timers(ctx),
                                first_action=lambda ctx: complete_task(ctx, task_id, {}, actor=A))
        assert swept == 0  # skipped, not blocked: the request's completion won
        assert world.run(lambda ctx: fire_due_timers(ctx)) == 0
        status = world.run(lambda ctx: ctx.session.execute(select(Timer.status)).scalar_one())
        assert status == TimerStatus.CANCELLED
    world.engine.dispose()
