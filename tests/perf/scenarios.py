"""What the benchmark runs on every backend: the scenarios, the drivers in lockstep."""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import event

from engine.context import Actor
from engine.db import make_engine
from engine.migrate import upgrade
from tests.perf.drivers import LINEAR
from tests.perf.drivers import LOOP
from tests.perf.drivers import REAL
from tests.perf.drivers import Driver
from tests.perf.drivers import ServiceDriver
from tests.perf.drivers import build_drivers
from tests.perf.drivers import server_description

EARLY, LATE = 5, 50
LOOP_ROUNDS = LATE
CURVE = (1, 5, 10, 20, 30, 40, 50)


@dataclass(frozen=True)
class Plan:
    """Repetitions; warm-up instances run first on every driver and are not recorded."""

    warmup: int = 3
    linear: int = 30
    loop: int = 12
    real: int = 15
    throughput: int = 50
    micro: int = 30
    profile: int = 10


QUICK = Plan(warmup=1, linear=5, loop=3, real=3, throughput=10, micro=5, profile=3)


@dataclass
class Results:
    backend: str
    server_version: str
    labels: dict[str, str] = field(default_factory=dict)
    #: (driver, scenario) -> samples in ns; scenarios "linear", "loop@5", "loop@50", "real:<step>", "real:tasks"
    samples: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: (driver, round) -> median ns per loop round
    curve: dict[tuple[str, int], float] = field(default_factory=dict)
    #: (driver, point) -> state bytes; points "loop@4", "loop@5", "loop@49", "loop@50", "real:<after step>"
    sizes: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (driver, round) -> median (load, run, dump) ns without SQL
    phases: dict[tuple[str, int], tuple[float, float, float]] = field(default_factory=dict)
    #: driver -> {"instances", "completions", "seconds", "rate", "tx_rate"}
    throughput: dict[str, dict[str, float]] = field(default_factory=dict)
    #: driver -> SQL statements of one completion (10-step process, step 2), as "VERB table"
    statements: dict[str, list[str]] = field(default_factory=dict)
    spec_bytes: dict[str, int] = field(default_factory=dict)
    #: round -> (ms per step under the profiler, [(function, share of the step or None if not called)])
    profile: dict[int, tuple[float, list[tuple[str, float | None]]]] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)
    seconds: float = 0.0

    def median(self, driver: str, scenario: str) -> float:
        return statistics.median(self.samples[(driver, scenario)])


def form(step: int) -> dict[str, Any]:
    return {"remark": f"第 {step} 步已核对，材料齐全"}


def _advance(d: Driver, iid: int, rounds: int) -> int:
    for rnd in range(1, rounds + 1):
        d.complete(d.open_task(iid), form(rnd))
    return iid


# --------------------------------------------------------------------------- the bench processes


def rotated(drivers: list[Any], i: int) -> list[Any]:
    """The drivers in a different order every repetition (no engine always runs first or last)."""
    k = i % len(drivers)
    return drivers[k:] + drivers[:k]


def run_linear(drivers: list[Driver], plan: Plan, res: Results) -> None:
    """Engines in lockstep: step n of every engine's instance runs before step n + 1 of any."""
    for i in range(plan.warmup + plan.linear):
        order = rotated(drivers, i)
        iids = {d.key: d.start(LINEAR) for d in order}
        for step in range(1, 11):
            for d in order:
                ns = d.complete(d.open_task(iids[d.key]), form(step))
                if i >= plan.warmup:
                    res.samples.setdefault((d.key, "linear"), []).append(ns)
        assert all(d.open_task(iids[d.key]) is None for d in order)


def run_loop(drivers: list[Driver], plan: Plan, res: Results) -> dict[tuple[str, int], int]:
    """Rounds 1-50 in lockstep; returns one twin per (driver, round) parked before that round."""
    per_round: dict[tuple[str, int], list[int]] = {}
    parked: dict[tuple[str, int], int] = {}
    for i in range(plan.warmup + plan.loop):
        first, order = i == plan.warmup, rotated(drivers, i)
        iids = {d.key: d.start(LOOP) for d in order}
        for rnd in range(1, LOOP_ROUNDS + 1):
            for d in order:
                iid = iids[d.key]
                if first and rnd in (EARLY, LATE):
                    res.sizes[(d.key, f"loop@{rnd - 1}")] = len(d.state(iid).encode("utf-8"))
                    parked[(d.key, rnd)] = _advance(d, d.start(LOOP), rnd - 1)
                ns = d.complete(d.open_task(iid), form(rnd))
                if i >= plan.warmup:
                    per_round.setdefault((d.key, rnd), []).append(ns)
                if first and rnd in (EARLY, LATE):
                    res.sizes[(d.key, f"loop@{rnd}")] = len(d.state(iid).encode("utf-8"))
    for (key, rnd), values in per_round.items():
        res.curve[(key, rnd)] = statistics.median(values)
        if rnd in (EARLY, LATE):
            res.samples[(key, f"loop@{rnd}")] = values
    return parked


def run_phases(drivers: list[Driver], parked: dict[tuple[str, int], int], plan: Plan, res: Results) -> None:
    runs: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for i in range(plan.micro + 2):
        for d in rotated(drivers, i):
            for rnd in (EARLY, LATE):
                sample = d.phases(parked[(d.key, rnd)], form(rnd))
                if i >= 2:
                    runs.setdefault((d.key, rnd), []).append(sample)
    for key, samples in runs.items():
        res.phases[key] = tuple(statistics.median(r[k] for r in samples) for k in range(3))  # type: ignore


# --------------------------------------------------------------------------- the real diagram

INTAKE = Actor("li_intake", "intake_officer")
UNITS = ("bank_a", "tax")
#: (step, form data or message payload, actor); SoD: intake/review/report and prepare/confirm by different people
REAL_STEPS: tuple[tuple[str, dict[str, Any], Actor], ...] = (
    ("intake_check", {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True}, INTAKE),
    ("review", {"decision": "accept"}, Actor("wang_review", "review_officer")),
    ("prepare_exchange", {"batch_checked": True}, Actor("chen_exchange", "exchange_officer")),
    ("message:bank_a", {"result_id": 501}, Actor("unit:bank_a")),
    ("message:tax", {"result_id": 502}, Actor("unit:tax")),
    ("confirm_exchange", {"statuses_checked": True}, Actor("liu_exchange", "exchange_officer")),
    ("issue_report", {"report_no": "CY-2026-00042", "remarks": "无"}, Actor("zhao_report", "report_officer")),
    ("feedback", {"remark": "已收到核对报告"}, Actor("sun_assist", "assistance_officer")),
)
REAL_TASKS = tuple(s for s, _, _ in REAL_STEPS if not s.startswith("message:"))


def run_real(drivers: list[ServiceDriver], plan: Plan, res: Results) -> None:
    """One standard-verification case per driver and repetition, in lockstep, every command its own transaction."""
    for i in range(plan.warmup + plan.real):
        order = rotated(drivers, i)
        cases = {d.key: f"HD-2026-{d.key}-{i:04d}" for d in order}
        times: dict[str, dict[str, int]] = {d.key: {} for d in order}
        iids = {}
        for d in order:
            data = {"case_no": cases[d.key], "subject_ids": [101, 102, 103], "sharing_units": list(UNITS)}
            t0 = time.perf_counter_ns()
            iids[d.key] = d.start(REAL, data=data, business_key=cases[d.key], actor=INTAKE)
            times[d.key]["start"] = time.perf_counter_ns() - t0
        for step, payload, actor in REAL_STEPS:
            for d in order:
                if step.startswith("message:"):
                    key = f"{cases[d.key]}:{step.split(':', 1)[1]}"
                    times[d.key][step] = d.deliver("exchange_result", key, payload, actor)
                else:
                    tid = d.open_task(iids[d.key], step)
                    assert tid is not None, (d.key, step)
                    times[d.key][step] = d.complete(tid, payload, actor)
                if i == plan.warmup and step in ("prepare_exchange", "feedback"):
                    res.sizes[(d.key, f"real:{step}")] = len(d.state(iids[d.key]).encode("utf-8"))
        for d in order:
            assert d.status(iids[d.key]) == "completed", (d.key, cases[d.key])
            if i >= plan.warmup:
                for step, ns in times[d.key].items():
                    res.samples.setdefault((d.key, f"real:{step}"), []).append(ns)
                res.samples.setdefault((d.key, "real:tasks"), []).append(sum(times[d.key][s] for s in REAL_TASKS))


# --------------------------------------------------------------------------- throughput and statements


def run_throughput(drivers: list[ServiceDriver], plan: Plan, res: Results, blocks: int = 5) -> None:
    """N ten-step instances started and completed back to back; each step = inbox lookup + complete.

    Each engine's N instances run in ``blocks`` runs of back-to-back instances, the engines taking
    turns, so a burst of other load on the machine does not land on one engine only.
    """
    for d in drivers:
        _advance(d, d.start(LINEAR), 10)  # warm-up
    totals = {d.key: [0, 0.0] for d in drivers}
    per_block = [plan.throughput // blocks + (b < plan.throughput % blocks) for b in range(blocks)]
    for b, count in enumerate(per_block):
        for d in rotated(drivers, b):
            completions, started = 0, time.perf_counter()
            for _ in range(count):
                iid = d.start(LINEAR)
                while (tid := d.open_task(iid)) is not None:
                    d.complete(tid, form(completions))
                    completions += 1
            totals[d.key][0] += completions
            totals[d.key][1] += time.perf_counter() - started
    for d in drivers:
        completions, wall = totals[d.key]
        res.throughput[d.key] = {"instances": plan.throughput, "completions": completions, "seconds": wall,
                                 "rate": completions / wall, "tx_rate": (completions + plan.throughput) / wall}


def _statement_kind(sql: str) -> str:
    words = sql.replace("\n", " ").split()
    verb = words[0].upper()
    if verb in ("INSERT", "DELETE"):
        return f"{verb} {words[2]}"
    if verb == "UPDATE":
        return f"UPDATE {words[1]}"
    if verb == "SELECT" and "FROM" in words:
        return f"SELECT {words[words.index('FROM') + 1]}"
    return " ".join(words[:2])


def count_statements(engine: Engine, drivers: list[Driver], res: Results) -> None:
    counter: list[str] = []

    def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        counter.append(_statement_kind(statement))

    for d in drivers:
        iid = _advance(d, d.start(LINEAR), 1)
        tid = d.open_task(iid)
        event.listen(engine, "before_cursor_execute", _count)
        try:
            d.complete(tid, form(2))
        finally:
            event.remove(engine, "before_cursor_execute", _count)
        res.statements[d.key] = list(counter)
        counter.clear()


# --------------------------------------------------------------------------- profile

#: (label, path fragment, function) whose cumulative time is shown as a share of the step; fragments are
#: loose ("engine/runtime/") because the engine's modules are still being split and renamed
PROFILE_POINTS = (
    ("instance lock + task and open task rows (`_lock_task_and_open_rows`)", "engine/services/",
     "_lock_task_and_open_rows"),
    ("separation-of-duties / role check (`check_task_action`)", "engine/", "check_task_action"),
    ("form validation (`_validated`)", "engine/services/", "_validated"),
    ("load (`load_workflow`)", "engine/persistence", "load_workflow"),
    ("  of which restore (`BpmnRuntime.load`)", "engine/runtime/", "load"),
    ("run task + engine steps (`Workflow.complete_task`)", "engine/runtime/", "complete_task"),
    ("  of which `do_engine_steps`", "SpiffWorkflow/bpmn/workflow.py", "do_engine_steps"),
    ("event log (`append_event`)", "engine/history", "append_event"),
    ("save (`save_workflow`)", "engine/persistence", "save_workflow"),
    ("  of which dump (`BpmnRuntime.dump`)", "engine/runtime/", "dump"),
    ("  of which human-task rows (`_sync_human_tasks`)", "engine/", "_sync_human_tasks"),
    ("  of which timer rows (`_sync_timers`)", "engine/", "_sync_timers"),
    ("  of which subscription rows (`_sync_subscriptions`)", "engine/", "_sync_subscriptions"),
    ("  of which ORM flush (`Session._flush`)", "sqlalchemy/orm/session.py", "_flush"),
    ("COMMIT (`Session.commit`)", "sqlalchemy/orm/session.py", "commit"),
    ("session close", "sqlalchemy/orm/session.py", "close"),
    ("across all of the above: statements in the DB driver (`do_execute`)", "sqlalchemy/engine/default.py",
     "do_execute"),
    ("across all of the above: SpiffWorkflow task-tree iteration (`TaskIterator.__next__`)",
     "SpiffWorkflow/util/task.py", "__next__"),
    ("across all of the above: Hedui's task-tree walk (`engine.runtime.tree.walk`)", "engine/runtime/tree",
     "walk"),
)


#: (label, predicate on (file, function name)): own (not cumulative) time by package; first match wins
OWN_TIME = (
    ("SpiffWorkflow", lambda f, n: "SpiffWorkflow/" in f),
    ("SQLAlchemy (Python side of ORM and Core)", lambda f, n: "sqlalchemy/" in f),
    ("DB driver and database (sqlite3 C calls / psycopg)", lambda f, n: "psycopg" in f or "psycopg" in n
     or "sqlite3" in n),
    ("JSON encode/decode (stdlib json)", lambda f, n: "/json/" in f or "_json" in n),
    ("Hedui (engine/, forms/)", lambda f, n: "/engine/" in f or "/forms/" in f),
    ("everything else (stdlib, builtins, uuid, ...)", lambda f, n: True),
)


def profile_hedui(d: ServiceDriver, plan: Plan, res: Results, dump: bool) -> None:
    """cProfile Hedui's transaction at loop round 5 and round 50 (shares of the step, not absolute times).

    cProfile inflates pure-Python code relative to C and I/O (COMMIT), so read shares, not times.
    """
    for rnd, instances, span in ((EARLY, plan.profile * 2, 1), (LATE, max(2, plan.profile // 3), 5)):
        prof, total, steps = cProfile.Profile(), 0, 0
        for _ in range(instances):
            iid = _advance(d, d.start(LOOP), rnd - 1 - span // 2)
            for step in range(rnd - span // 2, rnd - span // 2 + span):
                tid = d.open_task(iid)
                prof.enable()
                total += d.complete(tid, form(step))
                prof.disable()
                steps += 1
        table = pstats.Stats(prof).stats  # type: ignore[attr-defined]

        def cumulative(fragment: str, name: str, table: dict[Any, Any] = table) -> float | None:
            # max, not sum: nested functions of one name (Session.commit -> SessionTransaction.commit) overlap
            return max((v[3] for (f, _, n), v in table.items() if n == name and fragment in f), default=None)

        whole = cumulative("tests/perf/drivers.py", "complete") or 1.0
        own = dict.fromkeys((label for label, _ in OWN_TIME), 0.0)
        for (f, _, n), v in table.items():
            own[next(label for label, match in OWN_TIME if match(f, n))] += v[2]
        res.profile[rnd] = (total / steps / 1e6, [(label, None if (c := cumulative(f, n)) is None else c / whole)
                                                  for label, f, n in PROFILE_POINTS]
                            + [(f"own time: {label}", t / whole) for label, t in own.items()])
        if dump:
            print(f"\n=== cProfile, Hedui, {res.backend}, loop round {rnd}: {steps} steps ===")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
            pstats.Stats(prof).sort_stats("tottime").print_stats(20)


# --------------------------------------------------------------------------- one backend


def run_backend(backend: str, url: str, plan: Plan, profile_dump: bool) -> Results:
    upgrade(url)
    engine = make_engine(url)
    try:
        res = Results(backend, server_description(engine))
        drivers, res.spec_bytes = build_drivers(engine)
        res.labels = {d.key: d.label for d in drivers}
        services = [d for d in drivers if isinstance(d, ServiceDriver)]
        hedui = services[0]
        load_before, t = os.getloadavg()[0], time.perf_counter()
        jobs: list[tuple[str, Callable[[], None]]] = [
            ("10-step", lambda: run_linear(drivers, plan, res)),
            ("loop", lambda: run_phases(drivers, run_loop(drivers, plan, res), plan, res)),
            ("standard_verification", lambda: run_real(services, plan, res)),
            ("throughput", lambda: run_throughput(services, plan, res)),
            ("statements", lambda: count_statements(engine, drivers, res)),
            ("profile", lambda: profile_hedui(hedui, plan, res, profile_dump)),
        ]
        for label, job in jobs:
            step = time.perf_counter()
            job()
            print(f"[{backend}] {label}: {time.perf_counter() - step:.1f}s", file=sys.stderr)
        res.load = (load_before, os.getloadavg()[0])
        res.seconds = time.perf_counter() - t
        print(f"[{backend}] done in {res.seconds:.1f}s", file=sys.stderr)
        return res
    finally:
        engine.dispose()
