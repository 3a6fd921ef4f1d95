"""Version migration benchmark (版本迁移): plan and migrate N running cases of ``linear_review``, time and peak memory.

Run from the repository root::

    python -m tests.perf.bench_migration                      # SQLite in a temp dir, 2,000 running cases
    python -m tests.perf.bench_migration --cases 500          # a quick run
    python -m tests.perf.bench_migration --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
                                                              # SQLite, then PostgreSQL (or HEDUI_BENCH_DATABASE_URL)

Set-up (not measured): the demo region, ``linear_review`` v1 deployed, N cases started through the
services (every tenth one past 受理初审, at 审核复审), then v2 (``tests.engine.migration_factory.ADDED_STEP``:
a step added, a task renamed) deployed. Measured, each in its own transaction as the web page and
the CLI run them: one page of the plan (what the 版本迁移 page checks), the whole plan streamed
(``hedui bpmn migrate --plan``); then the first half of the cases moved inline (``migrate_instances``
with their ids, one commit: 迁移所选案件 or ``hedui bpmn migrate --instance``) and the other half by a
background run (``create_run`` + the job's ``run_migration``, a commit after every chunk of 200:
迁移全部可迁移案件 or ``--background``), the job run in this process as the embedded queue runs it.
Memory: the resident set size before each step and its peak during the step (Linux ``VmHWM``, reset
before each step), so a plan or a migration that held every case would show as growth. Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import WorkingCalendar
from engine.calendar import seed_calendar
from engine.clock import FixedClock
from engine.context import Actor
from engine.context import EngineContext
from engine.db import make_engine
from engine.migrate import upgrade
from engine.models import WorkflowInstance
from engine.runtime import BpmnRuntime
from engine.services.demo import seed_demo
from engine.services.instance_migration import CHUNK
from engine.services.instance_migration import iter_plan_items
from engine.services.instance_migration import migrate_instances
from engine.services.instance_migration import plan_migration
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from engine.services.migration_runs import create_run
from engine.services.migration_runs import run_migration
from tests.engine.migration_factory import ADDED_STEP
from tests.engine.migration_factory import DESIGNER
from tests.engine.migration_factory import V1
from tests.engine.migration_factory import deploy_text
from tests.perf.report import run_captured
from tests.perf.report import write_text_section
from tests.perf.scratch import scratch_database

START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
ADMIN = Actor("admin", "admin")
INTAKE = Actor("li_intake", "intake_officer")
PAGE = 50


def _reset_peak() -> None:
    """Linux: start the peak resident set size (VmHWM) again from the current one, so each step has its own."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) in MiB; ``ru_maxrss`` where /proc is missing."""
    with contextlib.suppress(OSError, StopIteration):
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field + ":"))
        return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _start_cases(ctx: EngineContext, n: int) -> None:
    """N running cases on v1 (not timed); every tenth has finished 受理初审 and waits at 审核复审."""
    for i in range(n):
        instance = start_instance(ctx, "linear_review", actor=INTAKE, business_key=f"HD-MIG-{i:06d}")
        if i % 10 == 9:
            [task] = list_open_tasks(ctx, instance_id=instance.id)
            complete_task(ctx, task.id, {}, actor=INTAKE)
        if i % 200 == 199:
            ctx.session.commit()
            ctx.session.expunge_all()
    ctx.session.commit()


def _timed(label: str, step: Callable[[], None]) -> None:
    _reset_peak()
    rss0, t0 = _mib("VmRSS"), time.perf_counter()
    step()
    print(f"{label}: {time.perf_counter() - t0:.2f} s; memory {rss0:.0f} MiB before, peak "
          f"{_mib('VmHWM'):.0f} MiB during the step")


def _run(args: argparse.Namespace) -> None:
    for server in [None, *([args.postgres] if args.postgres else [])]:
        before = os.getloadavg()[0]
        _run_on(server, args.cases)
        print(f"1-minute load average before → after: {before:.2f} → {os.getloadavg()[0]:.2f} (above ~0.5 "
              f"means other work shared the {os.cpu_count()} cores and inflated the times)")


def _run_on(server: str | None, cases: int) -> None:
    with scratch_database(server, "hedui_bench_migration") as url:
        upgrade(url)
        db = make_engine(url)
        clock = FixedClock(START)
        with Session(db) as session:
            seed_calendar(session, [2026], clock=clock)
            runtime = BpmnRuntime(clock, script_time_limit=5.0)
            ctx = EngineContext(session, runtime, clock)
            ctx.deadline = WorkingCalendar(session).deadline
            seed_demo(ctx, actor=ADMIN)
            deploy_text(ctx, V1)
            session.commit()
            t0 = time.perf_counter()
            _start_cases(ctx, cases)
            deploy_text(ctx, ADDED_STEP)
            session.commit()
            runtime.saved_limit = 0  # no workflow kept from the set-up: every case is read from its stored state
            print(f"backend {db.dialect.name}: {cases} running cases started in "
                  f"{time.perf_counter() - t0:.1f} s (set-up, not measured)")

            def page() -> None:
                plan = plan_migration(ctx, "linear_review", 1, 2, offset=0, limit=PAGE)
                print(f"  {plan.total} running, {len(plan.items)} checked on the page")
                session.rollback()

            def stream() -> None:
                plan = plan_migration(ctx, "linear_review", 1, 2, limit=0)
                compatible = sum(item.compatible for item in iter_plan_items(ctx, plan))
                print(f"  {compatible} of {plan.total} compatible")
                session.rollback()

            first_half = list(session.execute(select(WorkflowInstance.id).where(
                WorkflowInstance.process_id == "linear_review").order_by(WorkflowInstance.id)
                .limit(cases // 2)).scalars())

            def migrate() -> None:
                result = migrate_instances(ctx, "linear_review", 1, 2, actor=DESIGNER, reason="基准测试",
                                           instance_ids=first_half)
                session.commit()
                print(f"  {len(result.migrated)} migrated, {len(result.skipped)} skipped, "
                      f"{len(result.failed)} failed")

            def background() -> None:
                run = create_run(ctx, "linear_review", 1, 2, actor=DESIGNER, reason="基准测试")
                session.commit()
                status = run_migration(ctx, run.id, commit=session.commit)
                print(f"  run {status}: {run.migrated} migrated, {run.blocked} not moved, {run.failed} failed, "
                      f"{-(-run.total // CHUNK)} chunks committed")

            _timed(f"plan, one page of {PAGE} (the 版本迁移 page)", page)
            _timed("plan, every case streamed (hedui bpmn migrate --plan)", stream)
            began = time.perf_counter()
            _timed(f"migrate {len(first_half)} chosen cases inline, one commit (迁移所选案件)", migrate)
            print(f"  {len(first_half) / (time.perf_counter() - began):.0f} cases/s")
            began = time.perf_counter()
            _timed(f"migrate the other {cases - len(first_half)} as a background run, a commit per chunk "
                   "(迁移全部可迁移案件)", background)
            print(f"  {(cases - len(first_half)) / (time.perf_counter() - began):.0f} cases/s")
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="running cases on the old version (default 2,000)")
    parser.add_argument("--postgres", metavar="URL", default=os.environ.get("HEDUI_BENCH_DATABASE_URL"),
                        help="also on this PostgreSQL server (a scratch database is created; default: "
                             "$HEDUI_BENCH_DATABASE_URL)")
    parser.add_argument("--out", type=Path, help="also write the results as the bench:migration section of this file")
    args = parser.parse_args(argv)
    text_out = run_captured(_run, args)
    if args.out:
        write_text_section(args.out, "migration", "Version migration: planning and migrating running cases",
                           "The 版本迁移 page checks one page of cases; the CLI streams the plan chunk by chunk; an "
                           "inline migration runs each case in a SAVEPOINT, in one commit; a background run "
                           "commits after every chunk of 200.",
                           text_out, argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
