"""The engines the benchmark compares, and the scratch databases it runs them on.

Production code imports SpiffWorkflow only inside ``engine/runtime/`` (``tests/test_layering.py``).
This module is a benchmark, not production code: it imports SpiffWorkflow to build the naive
baseline's stock serializer and the thin reference embedding.

* :class:`ServiceDriver` drives the real Hedui services (``start_instance``, ``complete_task``,
  ``deliver_message``, ``list_open_tasks``), one committed transaction per call, like a request.
  It runs with one of three runtimes, which is the only thing that differs between them:

  - ``BpmnRuntime`` as configured in production (spec stored once per definition and restored
    once per thread, last committed workflow of each instance kept in memory);
  - ``BpmnRuntime`` with ``saved_limit = 0`` (no workflow cache: every command restores the
    state, against the per-thread spec cache);
  - :class:`NaiveRuntime`: persistence the way SpiffWorkflow's example application does it
    (spiff-example-cli ``FileSerializer``: the whole ``to_dict(workflow)``, spec and
    ``subprocess_specs`` included, written on every save and fully deserialized on every load).

* :class:`ThinDriver` is the first benchmark's baseline, kept as a secondary reference: a much
  thinner app (SQLAlchemy Core, a minimal inbox table, one plain log row, no hash chain, no
  separation of duties, no timer/subscription rows) persisting the same naive way.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import VALIDATOR
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import Engine
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

import forms
from engine.calendar import WorkingCalendar
from engine.calendar import seed_calendar
from engine.clock import FixedClock
from engine.context import Actor
from engine.context import EngineContext
from engine.db import UTCDateTime
from engine.models import ProcessDefinition
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.runtime import BpmnRuntime
from engine.runtime import Workflow
from engine.runtime.sandbox import build_script_engine
from engine.services.deploy import deploy_files
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from engine.services.messages import deliver_message
from tests.pgdb import temporary_database

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
BENCH_FILES = ("bench_linear10.bpmn", "bench_loop.bpmn")
REAL_FILE = ROOT / "bpmn" / "standard_verification.bpmn"
LINEAR, LOOP, REAL = "bench_linear10", "bench_loop", "standard_verification"
#: Monday 23 Nov 2026, 09:00 in Beijing; the clock never moves (no timer comes due during a run)
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone(timedelta(hours=8)))
ACTOR = Actor("bench_officer", "intake_officer")


def ns_since(started: int) -> int:
    return time.perf_counter_ns() - started


# --------------------------------------------------------------------------- the naive runtime


def full_serializer() -> BpmnWorkflowSerializer:
    """The stock serializer (spec included), with the same custom types Hedui registers."""
    registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
    registry.register(date, lambda d: {"value": d.isoformat()}, lambda d: date.fromisoformat(d["value"]))
    registry.register(Decimal, lambda d: {"value": str(d)}, lambda d: Decimal(d["value"]))
    return BpmnWorkflowSerializer(registry)


class NaiveRuntime(BpmnRuntime):
    """Persists like the example application: whole workflow with spec, full restore on every load.

    Everything else (sandboxed script engine, clock and calendar scope, error mapping, the
    ``Workflow`` API the services use) is inherited, so the services run unchanged.
    """

    #: stock SpiffWorkflow, as the example application runs it
    workflow_class = BpmnWorkflow

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.saved_limit = 0  # no workflow cache

    def _full_serializer(self) -> BpmnWorkflowSerializer:
        local = self._state()
        if not hasattr(local, "full_serializer"):
            local.full_serializer = full_serializer()
        return local.full_serializer

    def _specs(self, definition_key: str, spec_source: Any) -> tuple[Any, dict[str, Any]]:
        # no spec cache either: starting a workflow restores its spec from the stored JSON
        body = json.loads(spec_source if isinstance(spec_source, str) else spec_source())
        registry = self._full_serializer().registry
        return registry.restore(body["spec"]), {k: registry.restore(v) for k, v in body["subprocess_specs"].items()}

    def load(self, definition_key: str, spec_source: Any, state_json: str, *_: Any, deadline: Any = None,
             **__: Any) -> Workflow:
        with self._guard():
            wf = self._full_serializer().deserialize_json(state_json)
        wf.script_engine = self._state().script_engine  # not serialized: reattach, as BpmnRuntime.load does
        return Workflow(self, wf, deadline)

    def dump(self, workflow: Workflow) -> str:
        with self._guard():
            return self._full_serializer().serialize_json(workflow.wf)


# --------------------------------------------------------------------------- drivers


class ServiceDriver:
    """The real Hedui services with a given runtime; one committed transaction per call."""

    def __init__(self, key: str, label: str, runtime: BpmnRuntime, session_factory: sessionmaker[Session],
                 calendar: WorkingCalendar) -> None:
        self.key, self.label, self.runtime = key, label, runtime
        self.session_factory, self.calendar = session_factory, calendar

    def ctx(self, session: Session) -> EngineContext:
        # what web.state.HeduiState.new_context builds per request
        return EngineContext(session, self.runtime, self.runtime.clock,
                             deadline=self.calendar.using(session).deadline)

    def start(self, process_id: str, data: dict[str, Any] | None = None, business_key: str | None = None,
              actor: Actor = ACTOR) -> int:
        with self.session_factory() as s:
            instance = start_instance(self.ctx(s), process_id, actor=actor, data=data, business_key=business_key)
            s.commit()
            return instance.id

    def open_task(self, instance_id: int, bpmn_id: str | None = None) -> str | None:
        """The inbox lookup (derived table only)."""
        with self.session_factory() as s:
            rows = list_open_tasks(self.ctx(s), instance_id=instance_id, limit=10)
            ids = [r.id for r in rows if bpmn_id is None or r.bpmn_id == bpmn_id]
            return ids[0] if ids else None

    def complete(self, task_id: str, data: dict[str, Any], actor: Actor = ACTOR) -> int:
        started = time.perf_counter_ns()
        with self.session_factory() as s:
            complete_task(self.ctx(s), task_id, data, actor=actor)
            s.commit()
        return ns_since(started)

    def deliver(self, message: str, key: str, payload: dict[str, Any], actor: Actor) -> int:
        started = time.perf_counter_ns()
        with self.session_factory() as s:
            delivered = deliver_message(self.ctx(s), message, key, payload, actor=actor)
            s.commit()
        elapsed = ns_since(started)
        assert len(delivered) == 1, delivered
        return elapsed

    def state(self, instance_id: int) -> str:
        with self.session_factory() as s:
            return s.execute(select(WorkflowInstance.state).where(WorkflowInstance.id == instance_id)).scalar_one()

    def status(self, instance_id: int) -> str:
        with self.session_factory() as s:
            return str(s.execute(select(WorkflowInstance.status).where(WorkflowInstance.id == instance_id))
                       .scalar_one().value)

    def phases(self, instance_id: int, data: dict[str, Any]) -> tuple[int, int, int]:
        """load / run / dump of one step without SQL timing (runtime only); nothing is saved.

        ``load`` goes through ``load_workflow`` exactly as ``complete_task`` does; with the workflow
        cache on, the cache is first primed (untimed) the way the previous commit would have left it
        (restored, then dumped, which leaves the finished tasks' JSON in the workflow's fragment cache).
        """
        with self.session_factory() as s:
            ctx = self.ctx(s)
            instance = s.get(WorkflowInstance, instance_id)
            assert instance is not None
            instance.definition  # noqa: B018 - load the relationship outside the timed region
            if self.runtime.saved_limit > 0:
                primed = self.runtime.load(instance.definition.content_hash, instance.definition.serialized_spec,
                                           instance.state, instance.serializer_version)
                self.runtime.dump(primed)  # the previous commit dumped it (and kept its task texts)
                self.runtime.put_cached(instance.id, instance.version, primed)
            t0 = time.perf_counter_ns()
            wf = load_workflow(ctx, instance)
            t1 = time.perf_counter_ns()
            wf.complete_task(wf.ready_human_tasks()[0].task_id, forms.validate("acknowledge", data))
            t2 = time.perf_counter_ns()
            self.runtime.dump(wf)
            return t1 - t0, t2 - t1, ns_since(t2)


class ThinDriver:
    """The first benchmark's baseline: a thin app, whole workflow with spec in one TEXT column."""

    key, label = "thin", "thin naive app (Core)"

    def __init__(self, engine: Engine, clock: FixedClock) -> None:
        self.engine, self.clock = engine, clock
        meta = MetaData()
        self.wf_table = Table(
            "bench_naive_workflows", meta, Column("id", Integer, primary_key=True), Column("process_id", String(100)),
            Column("state", Text), Column("completed", Boolean), Column("updated_at", UTCDateTime()))
        self.task_table = Table(
            "bench_naive_tasks", meta, Column("id", String(36), primary_key=True),
            Column("workflow_id", Integer, index=True), Column("bpmn_id", String(100)), Column("lane", String(100)),
            Column("status", String(20)), Column("completed_by", String(100)), Column("completed_at", UTCDateTime()))
        self.log_table = Table(
            "bench_naive_log", meta, Column("id", Integer, primary_key=True), Column("workflow_id", Integer),
            Column("task_id", String(36)), Column("actor", String(100)), Column("payload", Text),
            Column("at", UTCDateTime()))
        meta.create_all(engine)
        self.serializer = full_serializer()
        self.script_engine = build_script_engine()
        parser = SpiffBpmnParser(validator=VALIDATOR)
        parser.add_bpmn_files([str(DATA / n) for n in BENCH_FILES])
        self.specs = {p: (parser.get_spec(p), parser.get_subprocess_specs(p)) for p in (LINEAR, LOOP)}

    def _ready_rows(self, wf: BpmnWorkflow, workflow_id: int) -> list[dict[str, Any]]:
        return [{"id": str(t.id), "workflow_id": workflow_id, "bpmn_id": t.task_spec.bpmn_id,
                 "lane": t.task_spec.lane, "status": "open"}
                for t in wf.get_tasks(state=TaskState.READY, manual=True)]

    def start(self, process_id: str) -> int:
        spec, subprocess_specs = self.specs[process_id]
        wf = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        wf.do_engine_steps()
        with self.engine.begin() as conn:
            wid = conn.execute(insert(self.wf_table).values(
                process_id=process_id, state=self.serializer.serialize_json(wf), completed=wf.is_completed(),
                updated_at=self.clock.now())).inserted_primary_key[0]
            conn.execute(insert(self.task_table), self._ready_rows(wf, wid))
        return int(wid)

    def open_task(self, workflow_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(self.task_table.c.id).where(
                self.task_table.c.workflow_id == workflow_id, self.task_table.c.status == "open").limit(1)).scalar()

    def _step(self, wf: BpmnWorkflow, task_id: str, values: dict[str, Any]) -> None:
        task = wf.get_task_from_id(UUID(task_id))
        task.data.update(values)
        task.run()
        wf.do_engine_steps()

    def complete(self, task_id: str, data: dict[str, Any], actor: Actor = ACTOR) -> int:
        started = time.perf_counter_ns()
        tasks, wfs, now = self.task_table, self.wf_table, self.clock.now()
        with self.engine.begin() as conn:
            wid = conn.execute(select(tasks.c.workflow_id).where(tasks.c.id == task_id)).scalar_one()
            blob = conn.execute(select(wfs.c.state).where(wfs.c.id == wid).with_for_update()).scalar_one()
            wf = self.serializer.deserialize_json(blob)
            wf.script_engine = self.script_engine
            values = forms.validate("acknowledge", data)
            self._step(wf, task_id, values)
            conn.execute(update(wfs).where(wfs.c.id == wid).values(
                state=self.serializer.serialize_json(wf), completed=wf.is_completed(), updated_at=now))
            conn.execute(update(tasks).where(tasks.c.id == task_id).values(
                status="completed", completed_by=actor.username, completed_at=now))
            conn.execute(delete(tasks).where(tasks.c.workflow_id == wid, tasks.c.status == "open"))
            ready = self._ready_rows(wf, wid)
            if ready:
                conn.execute(insert(tasks), ready)
            conn.execute(insert(self.log_table).values(
                workflow_id=wid, task_id=task_id, actor=actor.username, payload=json.dumps(values), at=now))
        return ns_since(started)

    def state(self, workflow_id: int) -> str:
        with self.engine.connect() as conn:
            return conn.execute(select(self.wf_table.c.state).where(self.wf_table.c.id == workflow_id)).scalar_one()

    def phases(self, workflow_id: int, data: dict[str, Any]) -> tuple[int, int, int]:
        blob = self.state(workflow_id)
        t0 = time.perf_counter_ns()
        wf = self.serializer.deserialize_json(blob)
        wf.script_engine = self.script_engine
        t1 = time.perf_counter_ns()
        task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
        self._step(wf, str(task.id), forms.validate("acknowledge", data))
        t2 = time.perf_counter_ns()
        self.serializer.serialize_json(wf)
        return t1 - t0, t2 - t1, ns_since(t2)


Driver = ServiceDriver | ThinDriver


def build_drivers(engine: Engine) -> tuple[list[Driver], dict[str, int]]:
    """Seed the calendar, deploy the diagrams once, and build the four drivers on one database.

    :returns: the drivers (Hedui, Hedui without workflow cache, naive, thin) and the serialized
        spec size per process id.
    """
    clock = FixedClock(T0)
    session_factory = sessionmaker(bind=engine, expire_on_commit=False)
    calendar = WorkingCalendar(session_factory)
    setup = BpmnRuntime(clock)
    with session_factory() as s:
        seed_calendar(s, [2025, 2026], clock=clock)
        ctx = EngineContext(s, setup, clock, deadline=calendar.using(s).deadline)
        designer = Actor("bench_designer", "process_designer")
        deploy_files(ctx, {n: (DATA / n).read_bytes() for n in BENCH_FILES}, actor=designer)
        deploy_files(ctx, {REAL_FILE.name: REAL_FILE.read_bytes()}, actor=designer)
        s.commit()
        specs = {pid: len(spec.encode("utf-8")) for pid, spec in
                 s.execute(select(ProcessDefinition.process_id, ProcessDefinition.serialized_spec)).all()}
    uncached = BpmnRuntime(clock)
    uncached.saved_limit = 0
    drivers: list[Driver] = [
        ServiceDriver("hedui", "Hedui", BpmnRuntime(clock), session_factory, calendar),
        ServiceDriver("nocache", "Hedui, no workflow cache", uncached, session_factory, calendar),
        ServiceDriver("naive", "naive (same services)", NaiveRuntime(clock), session_factory, calendar),
        ThinDriver(engine, clock),
    ]
    return drivers, specs


# --------------------------------------------------------------------------- databases


def server_description(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            show = {k: conn.execute(text(f"SHOW {k}")).scalar()
                    for k in ("server_version", "fsync", "synchronous_commit")}
            return (f"PostgreSQL {show['server_version']} (local server over TCP 127.0.0.1, fsync={show['fsync']}, "
                    f"synchronous_commit={show['synchronous_commit']})")
        sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(conn.exec_driver_sql("PRAGMA synchronous").scalar())
        journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        return (f"SQLite {sqlite3.sqlite_version} (file in the system temp dir, journal_mode={journal}, "
                f"synchronous={sync}, `BEGIN IMMEDIATE`)")


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="hedui_bench_") as tmp:
        yield f"sqlite:///{tmp}/bench.db"


@contextmanager
def postgres_url(server_url: str) -> Iterator[str]:
    """Create ``hedui_bench_<pid>`` on the server (via its ``postgres`` database) and drop it afterwards.

    The database named in ``server_url`` itself (e.g. ``test``) is never used.
    """
    with temporary_database(server_url, f"hedui_bench_{os.getpid()}") as url:
        yield url
