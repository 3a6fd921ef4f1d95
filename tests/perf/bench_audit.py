"""Audit benchmark: replaying one closed standard case, replaying every case, verifying the whole log.

Run from the repository root::

    python -m tests.perf.bench_audit                     # SQLite in a temp dir, 120 generated cases
    python -m tests.perf.bench_audit --cases 400 --repeat 100
    python -m tests.perf.bench_audit --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python -m tests.perf.bench_audit --cases 10000 --driven 1000   # what ``make bench`` runs

The database holds the demo (``hedui demo``: its organisation and four cases at different stages)
plus ``--cases`` generated cases. The first ``--driven`` of them are driven through the services
(the slow part: every command runs the engine and commits); the rest are copies of those at the SQL
level with a new instance id and business key and the event chain re-hashed for the new stream, so
each copy is a complete, verifiable case whose replay costs exactly what its original's does.

The generated cases are real ``bpmn/standard_verification.bpmn`` cases driven through the services,
one committed transaction per command, on the engine clock: most closed (two sharing units answer),
some with a unit timing out (``timer_fired``), some with a delay notice, some still running.
Goals (issue: replaying one closed standard case < 50 ms; ``hedui audit replay --all`` reports its
rate) are printed, never asserted. On PostgreSQL a scratch database ``hedui_bench_audit_<pid>`` is
created on the server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from engine.audit import iter_replays
from engine.audit import replay_instance
from engine.audit import verify_all
from engine.calendar import WorkingCalendar
from engine.calendar import seed_calendar
from engine.clock import FixedClock
from engine.context import Actor
from engine.context import EngineContext
from engine.db import make_engine
from engine.history import _hashed_fields
from engine.history import event_hash
from engine.history import instance_stream
from engine.migrate import upgrade
from engine.models import Event
from engine.models import InstanceStatus
from engine.models import WorkflowInstance
from engine.runtime import BpmnRuntime
from engine.services.demo import seed_demo
from engine.services.demo_cases import seed_demo_cases
from engine.services.deploy import deploy_files
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from engine.services.messages import deliver_message
from engine.services.timers import fire_due_timers
from tests.perf.report import run_captured
from tests.perf.scratch import scratch_database

BPMN = Path(__file__).parents[2] / "bpmn" / "standard_verification.bpmn"
START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
INTAKE, REVIEWER = Actor("li_intake", "intake_officer"), Actor("wang_review", "review_officer")
EXCHANGE, CHECKER = Actor("chen_exchange", "exchange_officer"), Actor("liu_exchange", "exchange_officer")
REPORTER, ASSISTANCE = Actor("zhao_report", "report_officer"), Actor("sun_assist", "assistance_officer")
INTAKE_OK = {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True}


class Bench:
    """A migrated database with the calendar and the standard diagram; one transaction per command."""

    def __init__(self, url: str) -> None:
        upgrade(url)
        self.engine = make_engine(url)
        self.sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.clock = FixedClock(START)
        self.runtime = BpmnRuntime(self.clock)
        with self.sessions() as session:
            seed_calendar(session, [2026], clock=self.clock)
            session.commit()
        self.run(lambda ctx: deploy_files(ctx, {BPMN.name: BPMN.read_bytes()}, actor=Actor("designer")))
        self.run(lambda ctx: (seed_demo(ctx, actor=Actor("admin", "admin")),
                              seed_demo_cases(ctx, actor=Actor("admin", "admin"))))

    def run(self, fn: Callable[[EngineContext], Any]) -> Any:
        with self.sessions() as session:
            ctx = EngineContext(session, self.runtime, self.clock, deadline=WorkingCalendar(session).deadline)
            result = fn(ctx)
            session.commit()
            return result

    def do(self, iid: int, bpmn_id: str, data: dict[str, Any], actor: Actor) -> None:
        def step(ctx: EngineContext) -> None:
            [task] = [t for t in list_open_tasks(ctx, instance_id=iid) if t.bpmn_id == bpmn_id]
            complete_task(ctx, task.id, data, actor=actor)

        self.clock.advance(minutes=20)
        self.run(step)

    def deliver(self, message: str, key: str, payload: dict[str, Any]) -> None:
        self.clock.advance(hours=3)
        self.run(lambda ctx: deliver_message(ctx, message, key, payload, actor=Actor("unit:bank")))


def generate(bench: Bench, cases: int) -> int:
    """Drive ``cases`` standard cases; returns the id of the first closed one (the replay subject)."""
    first_closed = 0
    for i in range(cases):
        bench.clock.set(START + timedelta(days=i // 20, minutes=i))
        key, units = f"HD-2026-{i:05d}", ["bank_a", "tax"]
        iid = bench.run(lambda ctx, key=key, units=units: start_instance(
            ctx, "standard_verification", actor=INTAKE, business_key=key,
            data={"case_no": key, "subject_ids": [101, 102, 103], "sharing_units": units})).id
        bench.do(iid, "intake_check", INTAKE_OK, INTAKE)
        bench.do(iid, "review", {"decision": "accept"}, REVIEWER)
        if i % 10 == 9:
            continue  # still at the exchange preparation
        bench.do(iid, "prepare_exchange", {"batch_checked": True}, EXCHANGE)
        if i % 10 == 8:
            bench.deliver("exchange_delay", f"{key}:tax", {"days": 3, "notice_id": i})
        bench.deliver("exchange_result", f"{key}:bank_a", {"result_id": 2 * i})
        if i % 10 == 7:
            bench.clock.advance(days=20)
            bench.run(fire_due_timers)  # tax never answers
        else:
            bench.deliver("exchange_result", f"{key}:tax", {"result_id": 2 * i + 1})
        bench.do(iid, "confirm_exchange", {"statuses_checked": True}, CHECKER)
        bench.do(iid, "issue_report", {"report_no": f"核报〔2026〕{i}号"}, REPORTER)
        bench.do(iid, "feedback", {}, ASSISTANCE)
        if not first_closed:
            first_closed = iid
    return first_closed


def clone(bench: Bench, total: int) -> int:
    """Copy the generated cases (not the demo's) until there are ``total``; returns how many copies were made."""
    with bench.sessions() as session:
        sources = session.execute(select(WorkflowInstance).where(WorkflowInstance.business_key.like("HD-2026-%"))
                                  .order_by(WorkflowInstance.id)).scalars().all()
        made, round_ = 0, 1
        while sources and len(sources) + made < total:
            for source in sources:
                if len(sources) + made >= total:
                    break
                _copy(session, source, f"{source.business_key}-C{round_}")
                made += 1
                if made % 500 == 0:
                    session.commit()
            round_ += 1
        session.commit()
    return made


def _copy(session: Any, source: WorkflowInstance, key: str) -> None:
    columns = {c.key: getattr(source, c.key) for c in WorkflowInstance.__table__.columns if c.key != "id"}
    copy = WorkflowInstance(**(columns | {"business_key": key}))
    session.add(copy)
    session.flush()
    prev = None
    events = session.execute(select(Event).where(Event.stream == instance_stream(source.id)).order_by(Event.seq))
    for original in events.scalars():
        payload = original.payload
        if original.kind == "started" and isinstance(payload, dict):
            payload = payload | {"business_key": key}
        ev = Event(stream=instance_stream(copy.id), seq=original.seq, instance_id=copy.id, kind=original.kind,
                   actor=original.actor, actor_role=original.actor_role, occurred_at=original.occurred_at,
                   definition_hash=original.definition_hash, task_id=original.task_id, bpmn_id=original.bpmn_id,
                   payload=payload, prev_hash=prev or original.prev_hash)
        ev.hash = event_hash(_hashed_fields(ev))
        prev = ev.hash
        session.add(ev)
    session.flush()


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.2f} ms"


def bench_one(bench: Bench, iid: int, repeat: int) -> None:
    def replay(ctx: EngineContext) -> Any:
        return replay_instance(ctx, iid)

    cold: list[float] = []

    def in_fresh_thread() -> None:  # a new thread: no replay runtime, no spec restored yet
        t0 = time.perf_counter_ns()
        bench.run(replay)
        cold.append(time.perf_counter_ns() - t0)

    thread = threading.Thread(target=in_fresh_thread)
    thread.start()
    thread.join()
    samples = []
    for _ in range(3 + repeat):
        t0 = time.perf_counter_ns()
        result = bench.run(replay)
        samples.append(time.perf_counter_ns() - t0)
    samples = samples[3:]
    assert result.consistent, result.first_divergence
    p90 = statistics.quantiles(samples, n=10)[-1] if len(samples) >= 10 else max(samples)
    print(f"replay one closed standard case (instance {iid}, {result.steps} steps, session + reads included):")
    print(f"  median {_ms(statistics.median(samples))}  p90 {_ms(p90)}  min {_ms(min(samples))}  "
          f"(n={repeat}; first in a fresh thread: {_ms(cold[0])})  goal < 50 ms")


def bench_all(bench: Bench) -> None:
    with bench.sessions() as session:
        ctx = EngineContext(session, bench.runtime, bench.clock, deadline=WorkingCalendar(session).deadline)
        t0 = time.perf_counter()
        results = list(iter_replays(ctx))
        seconds = time.perf_counter() - t0
        steps = sum(r.steps for r in results)
        bad = [r.instance_id for r in results if not r.consistent]
        closed = session.execute(select(func.count()).where(
            WorkflowInstance.status == InstanceStatus.COMPLETED)).scalar_one()
        t0 = time.perf_counter()
        report = verify_all(ctx)
        verify_seconds = time.perf_counter() - t0
        events = session.execute(select(func.count(Event.id))).scalar_one()
    print("replay all (what `hedui audit replay --all` runs: engine.audit.iter_replays, one session):")
    print(f"  {len(results)} cases ({closed} closed), {steps} commands re-executed in {seconds:.2f} s: "
          f"{len(results) / seconds:.1f} cases/s, {steps / seconds:.0f} commands/s; inconsistent: {bad or 'none'}")
    print(f"verify all: {events} events, {report.instances_checked} states in {verify_seconds:.2f} s: "
          f"{events / verify_seconds:.0f} events/s; problems: {len(report.problems)}")



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=120, help="standard cases to generate (default 120)")
    parser.add_argument("--driven", type=int, default=1000,
                        help="of those, how many to drive through the services; the rest are copies (default 1000)")
    parser.add_argument("--repeat", type=int, default=50, help="replays of the one closed case (default 50)")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server URL (a scratch database is created)")
    parser.add_argument("--out", type=Path, help="also write the results as the bench:audit section of this file")
    args = parser.parse_args(argv)
    text_out = run_captured(_run, args)
    if args.out:
        _write(args.out, text_out, argv)
    return 0


NOTES = [
    "- The cases: the demo (`hedui demo`: 4 cases at different stages) plus `--cases` generated ones; `--driven` of "
    "those run through the services (one committed transaction per command, the slow part), the rest are SQL-level "
    "copies with a new id, business key and re-hashed event chain: complete, verifiable cases whose replay costs "
    "what their original's does.",
    "- \"replay all\" is `engine.audit.iter_replays`, the loop behind `hedui audit replay --all`, in one session.",
    "- `make bench` runs `--cases 10000 --driven 1000` (`AUDIT_CASES`, `AUDIT_DRIVEN`); on a shared 2-core VM "
    "that takes about 8 minutes, two thirds of it generating the cases; the load average line shows how busy "
    "the machine was.",
]


def _write(path: Path, text: str, argv: list[str] | None) -> None:
    from tests.perf.report import write_section

    start, end = "<!-- bench:audit:start -->", "<!-- bench:audit:end -->"
    command = "python -m tests.perf.bench_audit " + " ".join(argv if argv is not None else sys.argv[1:])
    section = "\n".join([
        start, "## Audit: replaying cases and verifying the log", "",
        f"_Generated by `tests/perf/bench_audit.py` on {datetime.now(UTC).isoformat(timespec='seconds')}; "
        f"command: `{command.strip()}`; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical cores, Python {platform.python_version()}._", "",
        "Goal: replaying one closed standard case < 50 ms; `hedui audit replay --all` over the demo plus 10,000 "
        "generated cases reports its rate.", "", "```", text.strip(), "```", "", *NOTES, end, ""])
    write_section(path, section, start, end)


def _run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    with scratch_database(args.postgres, "hedui_bench_audit") as url:
        bench = Bench(url)
        t0 = time.perf_counter()
        driven = min(max(args.cases, 1), max(args.driven, 1))
        iid = generate(bench, driven)
        copies = clone(bench, args.cases)
        print(f"backend {bench.engine.dialect.name}: the demo + {args.cases} generated cases ({driven} driven "
              f"through the services, {copies} copies) in {time.perf_counter() - t0:.1f} s")
        bench_one(bench, iid, args.repeat)
        bench_all(bench)
        bench.engine.dispose()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    tail = (f"; load average (1, 5, 15 min) at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}"
            if load else "")
    print(f"total {time.perf_counter() - started:.0f} s" + tail)


if __name__ == "__main__":
    raise SystemExit(main())
