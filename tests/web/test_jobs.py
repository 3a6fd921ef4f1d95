"""Background jobs on every queue: in-process threads, a real Celery worker on Redis, concurrent sweeps.

Jobs commit for real, so these tests do not use the rolled-back ``app`` fixture: each app gets
its own copy of the migrated SQLite template (or, for the concurrency test, its own PostgreSQL
database), shared by the test thread and the job threads.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery.signals import task_failure
from celery.signals import task_postrun
from celery.signals import task_retry
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select

from engine.clock import FixedClock
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import ConflictError
from engine.errors import InvalidStateError
from engine.jobs import job
from engine.migrate import upgrade
from engine.models import Event
from engine.models import InstanceStatus
from engine.models import Timer
from engine.models import TimerStatus
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.services.deploy import deploy_files
from engine.services.instances import start_instance
from tests.conftest import PG_URL
from tests.conftest import T0
from tests.conftest import read_files
from tests.pgdb import temporary_database
from web import create_app
from web.jobs import InProcessJobQueue
from web.jobs import execute
from web.state import HeduiState
from web.worker import TASK_NAME
from web.worker import CeleryJobQueue
from web.worker import make_celery

REDIS_URL = os.environ.get("HEDUI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CLERK = Actor("zhao_clerk", "street_clerk")
DESIGNER = Actor("designer", "process_designer")
DUE = T0 + timedelta(days=3)
WAIT = 20.0  # generous: polling stops as soon as the effect is visible


def _eventually(probe: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Poll ``probe`` until it returns something truthy; fail with its last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            assert value, f"not reached within {timeout}s: {value!r}"
            return value
        time.sleep(0.05)


# --- apps and data -------------------------------------------------------------------------


@pytest.fixture
def make_app(sqlite_template: Path, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Apps on their own copy of the migrated SQLite file; queues stopped and pools closed afterwards."""
    apps: list[Flask] = []

    def _make(clock: FixedClock, **config: Any) -> Flask:
        path = tmp_path / f"hedui-{len(apps)}.db"
        shutil.copy(sqlite_template, path)
        app = create_app({"ENV": "testing", "SECRET_KEY": "test-secret", "DATABASE_URL": f"sqlite:///{path}",
                          "CLOCK": clock, "JOBS": "inprocess", **config})
        apps.append(app)
        return app

    yield _make
    for app in apps:
        _close(app.extensions["hedui"])


def _close(state: HeduiState) -> None:
    if isinstance(state.jobs, InProcessJobQueue):
        state.jobs.shutdown()
    state.db_engine.dispose()


def _start_instances(state: HeduiState, count: int) -> list[int]:
    """Deploy timer_boundary and start ``count`` instances whose boundary timer is due at ``DUE``; committed."""
    with state.unit_of_work() as ctx:
        deploy_files(ctx, read_files("timer_boundary.bpmn"), actor=DESIGNER)
        instances = [start_instance(ctx, "timer_boundary", actor=CLERK, business_key=f"case-{n}",
                                    data={"materials_due": DUE.isoformat()}) for n in range(count)]
        return [i.id for i in instances]


def _timer_statuses(state: HeduiState) -> list[TimerStatus]:
    with state.session_factory() as session:
        return list(session.execute(select(Timer.status)).scalars())


def _assert_each_fired_once(state: HeduiState, instance_ids: list[int]) -> None:
    """Every timer fired, with exactly one timer_fired event; every instance ran start -> end_withdrawn once."""
    ctx = state.new_context()
    try:
        _check_timers(ctx, instance_ids)
        for instance_id in instance_ids:
            instance = ctx.session.get(WorkflowInstance, instance_id)
            assert instance is not None and instance.status == InstanceStatus.COMPLETED
            kinds = ctx.session.execute(
                select(Event.kind).where(Event.instance_id == instance_id).order_by(Event.seq)
            ).scalars().all()
            assert kinds == ["started", "timer_fired"]
            assert "end_withdrawn" in [t.bpmn_id for t in load_workflow(ctx, instance).trace()]
    finally:
        ctx.session.close()


def _check_timers(ctx: EngineContext, instance_ids: list[int]) -> None:
    timers = ctx.session.execute(select(Timer).where(Timer.instance_id.in_(instance_ids))).scalars().all()
    assert len(timers) == len(instance_ids)
    assert {t.status for t in timers} == {TimerStatus.FIRED}
    events_per_timer = dict(ctx.session.execute(
        select(Event.task_id, func.count()).where(Event.kind == "timer_fired").group_by(Event.task_id)
    ).all())
    assert events_per_timer == {t.id: 1 for t in timers}


# --- in-process queue ----------------------------------------------------------------------


def test_inprocess_queue_runs_a_job(make_app, clock) -> None:  # type: ignore[no-untyped-def]
    state = make_app(clock).extensions["hedui"]
    assert isinstance(state.jobs, InProcessJobQueue)
    assert state.jobs.enqueue("noop", value={"检查": 1}).result(timeout=WAIT) == {"检查": 1}


def test_inprocess_queue_fires_due_timers(make_app, clock) -> None:  # type: ignore[no-untyped-def]
    state = make_app(clock).extensions["hedui"]
    [instance_id] = _start_instances(state, 1)
    assert state.jobs.enqueue("timers.run_due").result(timeout=WAIT) == 0
    assert _timer_statuses(state) == [TimerStatus.PENDING]
    clock.set(DUE + timedelta(minutes=1))
    assert state.jobs.enqueue("timers.run_due").result(timeout=WAIT) == 1
    _assert_each_fired_once(state, [instance_id])


# --- a real Celery worker on Redis ---------------------------------------------------------

_flaky_attempts: list[str] = []


@job("tests.conflict_once")
def _conflict_once(ctx: EngineContext, token: str) -> str:
    """Lose a race on the first attempt, as a job does when a user completes the same task at once."""
    _flaky_attempts.append(token)
    if _flaky_attempts.count(token) == 1:
        raise ConflictError("simulated concurrent change")
    return token


@job("tests.invalid_state")
def _invalid_state(ctx: EngineContext, token: str) -> str:
    _flaky_attempts.append(token)
    raise InvalidStateError("task already completed")


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Celery worker tests skipped: Redis at {REDIS_URL} is unreachable ({exc})")


class _TaskSignals:
    """What the worker reports about ``hedui.run_job``: ``postrun:<STATE>``, ``retry``, ``failure``, by job name."""

    def __init__(self) -> None:
        self.seen: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        self.log: list[tuple[str, str, Any]] = []

    def connect(self) -> None:
        task_postrun.connect(self._postrun, weak=False)
        task_retry.connect(self._retry, weak=False)
        task_failure.connect(self._failure, weak=False)

    def disconnect(self) -> None:
        task_postrun.disconnect(self._postrun)
        task_retry.disconnect(self._retry)
        task_failure.disconnect(self._failure)

    def _postrun(self, sender: Any = None, args: Any = (), state: str = "", retval: Any = None, **_: Any) -> None:
        if sender is not None and sender.name == TASK_NAME:
            self.seen.put((f"postrun:{state}", args[0], retval))

    def _retry(self, request: Any = None, reason: Any = None, **_: Any) -> None:
        # ``reason`` is Celery's Retry; the error that caused it is its ``exc``
        self.seen.put(("retry", request.args[0], type(getattr(reason, "exc", reason)).__name__))

    def _failure(self, sender: Any = None, args: Any = (), exception: Any = None, **_: Any) -> None:
        self.seen.put(("failure", args[0], type(exception).__name__))

    def wait_for(self, kind: str, name: str) -> Any:
        """Collect reports until ``kind`` arrives for job ``name``; return its detail."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                event = self.seen.get(timeout=0.1)
            except queue.Empty:
                continue
            self.log.append(event)
            if event[:2] == (kind, name):
                return event[2]
        raise AssertionError(f"no {kind} for {name} within {WAIT}s; saw {self.log}")


@pytest.fixture(scope="module")
def celery_env(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One app in celery mode on a private Redis queue, with a worker thread consuming it."""
    from celery.contrib.testing.worker import start_worker

    _redis_or_skip()
    path = tmp_path_factory.mktemp("celery") / "hedui.db"
    shutil.copy(sqlite_template, path)
    clock = FixedClock(T0)
    app = create_app({"ENV": "testing", "SECRET_KEY": "test-secret", "DATABASE_URL": f"sqlite:///{path}",
                      "CLOCK": clock, "JOBS": "celery", "BROKER_URL": REDIS_URL})
    celery = make_celery(app)
    queue_name = f"hedui-test-{uuid.uuid4().hex[:12]}"  # concurrent test runs share the Redis db
    celery.conf.task_default_queue = queue_name
    celery.conf.worker_enable_remote_control = False  # no pidbox queues left in the shared Redis
    signals = _TaskSignals()
    signals.connect()
    try:
        with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=WAIT):
            yield {"state": app.extensions["hedui"], "clock": clock, "signals": signals}
    finally:
        signals.disconnect()
        _close(app.extensions["hedui"])
        _drop_queue(queue_name)


def _drop_queue(queue_name: str) -> None:
    """Delete the private queue and its kombu binding keys (all named after it) from the shared Redis."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"*{queue_name}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.mark.redis
def test_celery_worker_runs_a_job(celery_env) -> None:  # type: ignore[no-untyped-def]
    state = celery_env["state"]
    assert isinstance(state.jobs, CeleryJobQueue)
    token = uuid.uuid4().hex
    state.jobs.enqueue("noop", value=token)
    assert celery_env["signals"].wait_for("postrun:SUCCESS", "noop") == token


@pytest.mark.redis
def test_celery_worker_fires_due_timers_after_commit(celery_env) -> None:  # type: ignore[no-untyped-def]
    state, clock = celery_env["state"], celery_env["clock"]
    [instance_id] = _start_instances(state, 1)
    clock.set(DUE + timedelta(minutes=1))
    with state.unit_of_work() as ctx:  # the sweep is sent by dispatch_jobs once this commits
        ctx.enqueue_after_commit("timers.run_due", limit=10)
    _eventually(lambda: _timer_statuses(state) == [TimerStatus.FIRED])
    assert celery_env["signals"].wait_for("postrun:SUCCESS", "timers.run_due") == 1
    _assert_each_fired_once(state, [instance_id])


@pytest.mark.redis
def test_celery_worker_retries_a_conflict(celery_env) -> None:  # type: ignore[no-untyped-def]
    token = uuid.uuid4().hex
    celery_env["state"].jobs.enqueue("tests.conflict_once", token=token)
    signals = celery_env["signals"]
    assert signals.wait_for("retry", "tests.conflict_once") == "ConflictError"
    assert signals.wait_for("postrun:SUCCESS", "tests.conflict_once") == token
    assert _flaky_attempts.count(token) == 2


@pytest.mark.redis
def test_celery_worker_does_not_retry_invalid_state(celery_env) -> None:  # type: ignore[no-untyped-def]
    token = uuid.uuid4().hex
    celery_env["state"].jobs.enqueue("tests.invalid_state", token=token)
    signals = celery_env["signals"]
    assert signals.wait_for("failure", "tests.invalid_state") == "InvalidStateError"
    assert ("retry", "tests.invalid_state", "InvalidStateError") not in signals.log
    assert _flaky_attempts.count(token) == 1


def test_enqueue_refuses_an_unknown_job(make_app, clock) -> None:  # type: ignore[no-untyped-def]
    state = make_app(clock, JOBS="celery", BROKER_URL="redis://127.0.0.1:1/0").extensions["hedui"]
    with pytest.raises(KeyError, match="no.such.job"):
        state.jobs.enqueue("no.such.job")


def test_celery_a_finds_the_app(monkeypatch, sqlite_template, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``celery -A web.worker`` resolves to a configured app with the job task and the timer schedule."""
    from celery.app.utils import find_app

    import web.worker

    shutil.copy(sqlite_template, tmp_path / "env.db")
    monkeypatch.setenv("HEDUI_JOBS", "celery")
    monkeypatch.setenv("HEDUI_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("HEDUI_TIMER_INTERVAL", "7")
    monkeypatch.setattr(web.worker, "_lazy_celery", None)  # restored afterwards: the cache is per process
    celery = find_app("web.worker")
    try:
        assert celery is web.worker.celery
        assert TASK_NAME in celery.tasks
        sweep = celery.conf.beat_schedule["timers.run_due"]
        assert sweep["schedule"] == timedelta(seconds=7) and sweep["args"] == ("timers.run_due", {})
        assert celery.conf.task_acks_late and celery.conf.worker_prefetch_multiplier == 1
        assert celery.conf.accept_content == ["json"]
    finally:
        _close(celery.flask_app.extensions["hedui"])


# --- PostgreSQL: concurrent sweeps -------------------------------------------------------


@pytest.fixture(scope="module")
def pg_state() -> Iterator[HeduiState]:
    """A HeduiState on a private PostgreSQL database, created and dropped here (never the shared one)."""
    if not PG_URL:
        pytest.skip("PostgreSQL concurrency test skipped: HEDUI_TEST_DATABASE_URL is not set")
    with temporary_database(PG_URL, f"hedui_jobs_test_{uuid.uuid4().hex[:10]}") as url:
        upgrade(url)
        app = create_app({"ENV": "testing", "SECRET_KEY": "test-secret", "DATABASE_URL": url,
                          "CLOCK": FixedClock(T0), "JOBS": "inprocess"})
        state = app.extensions["hedui"]
        try:
            yield state
        finally:
            _close(state)


@pytest.mark.postgres
def test_concurrent_sweeps_never_fire_a_timer_twice(pg_state) -> None:  # type: ignore[no-untyped-def]
    instance_ids = _start_instances(pg_state, 40)
    pg_state.clock.set(DUE + timedelta(minutes=1))
    sweepers = 4
    start = threading.Barrier(sweepers)
    fired: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        # small batches, so the sweepers keep overlapping until every timer is claimed
        try:
            start.wait(timeout=WAIT)
            while (n := execute(pg_state, "timers.run_due", {"limit": 3})) > 0:
                fired.append(n)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=sweep, name=f"sweeper-{i}") for i in range(sweepers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and not any(t.is_alive() for t in threads)
    assert sum(fired) == len(instance_ids)
    _assert_each_fired_once(pg_state, instance_ids)


# --- CLI -----------------------------------------------------------------------------------


def test_jobs_run_runs_a_job(make_app, clock) -> None:  # type: ignore[no-untyped-def]
    result = make_app(clock).test_cli_runner().invoke(args=["jobs", "run", "noop", "--arg", "value=7"])
    assert result.exit_code == 0, result.output
    assert "任务 noop 已完成: 7" in result.output


def test_jobs_run_commits_its_unit_of_work(make_app, clock) -> None:  # type: ignore[no-untyped-def]
    app = make_app(clock)
    state = app.extensions["hedui"]
    [instance_id] = _start_instances(state, 1)
    clock.set(DUE + timedelta(minutes=1))
    result = app.test_cli_runner().invoke(args=["jobs", "run", "timers.run_due", "--arg", "limit=5"])
    assert result.exit_code == 0, result.output
    assert "已完成: 1" in result.output
    _assert_each_fired_once(state, [instance_id])


def test_jobs_run_refuses_an_unknown_job(make_app, clock) -> None:  # type: ignore[no-untyped-def]
    result = make_app(clock).test_cli_runner().invoke(args=["jobs", "run", "no.such.job"])
    assert result.exit_code == 2 and "未知任务" in result.output


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_worker_and_beat_refuse_without_celery_mode(make_app, clock, command) -> None:  # type: ignore[no-untyped-def]
    result = make_app(clock, JOBS="inprocess").test_cli_runner().invoke(args=[command])
    assert result.exit_code == 1
    assert "HEDUI_JOBS=celery" in result.output
