"""Batch re-verification benchmark (PS-8): start N enrolled households as standard cases, time and peak memory.

Run from the repository root::

    python -m tests.perf.bench_batch                      # SQLite in a temp dir, 100,000 households
    python -m tests.perf.bench_batch --households 2000    # a quick run
    python -m tests.perf.bench_batch --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Set-up (not measured): the demo region, every diagram deployed, N enrolled households written
directly as rows (3 persons and a signed 授权书 each). Measured: ``create_batch`` (reading the
list, checking every row, the 复核委托书) and ``run_batch`` exactly as the background job runs
it (chunks of 200, one commit per chunk), on the engine clock. Peak memory is the process's
maximum resident set size (``ru_maxrss``) before and after. Nothing is asserted; the goal from
issue #7 (100,000 households started by a background job, not a request) is reported.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from datetime import date
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import WorkingCalendar
from engine.calendar import seed_calendar
from engine.clock import FixedClock
from engine.context import Actor
from engine.context import EngineContext
from engine.db import make_engine
from engine.migrate import upgrade
from engine.models import Authorisation
from engine.models import AuthorisationPerson
from engine.models import Entrustment
from engine.models import Household
from engine.models import Person
from engine.models import Unit
from engine.runtime import BpmnRuntime
from engine.services.demo import seed_demo
from engine.services.deploy import deploy_files
from engine.services.recheck_batches import create_batch
from engine.services.recheck_batches import run_batch
from forms.ids import check_char
from tests.perf.report import run_captured
from tests.perf.report import write_text_section
from tests.perf.scratch import scratch_database

BPMN_DIR = Path(__file__).parents[2] / "bpmn"
START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
ADMIN = Actor("admin", "admin")


def _id(serial: int) -> str:
    """A synthetic, valid 18-digit number: 220104 + a birth date + a serial (never a real person)."""
    first17 = f"2201041970{(serial // 1000) % 12 + 1:02d}{(serial // 12000) % 28 + 1:02d}{serial % 1000:03d}"
    return first17 + check_char(first17)


def _enrol(session: Session, n: int, now: datetime) -> list[str]:
    """N households as rows (not timed): what years of intake would have left behind."""
    units = {u.code: u.id for u in session.execute(select(Unit)).scalars()}
    letter = Entrustment(number="BENCH-0001", entrusting_unit_id=units["HQ-MZB"], agency_unit_id=units["CY-HDZX"],
                         contact_name="基准", contact_phone="0431-0", entrusted_on=date(2026, 1, 5),
                         household_count=n, person_count=3 * n, source="paper", created_at=now, created_by="bench")
    session.add(letter)
    session.flush()
    case_nos = [f"HD-BENCH-{i:07d}" for i in range(n)]
    for start in range(0, n, 2000):
        chunk = range(start, min(n, start + 2000))
        ids = session.execute(insert(Household).returning(Household.id), [
            {"entrustment_id": letter.id, "case_no": case_nos[i], "business_type": "dibao", "rule_set": "baoji_2020",
             "region_code": "220104001", "address": f"红旗街道基准小区{i}号", "status": "closed", "created_at": now}
            for i in chunk]).scalars().all()
        auth = session.execute(insert(Authorisation).returning(Authorisation.id), [
            {"household_id": hid, "business_types": ["dibao"], "signed_on": date(2026, 1, 5),
             "valid_from": date(2026, 1, 5), "created_at": now, "created_by": "bench"} for hid in ids]).scalars().all()
        people = []
        for k, (i, hid) in enumerate(zip(chunk, ids, strict=True)):
            for position, relation in enumerate(("self", "spouse", "son")):
                people.append({"household_id": hid, "position": position, "role": "member",
                               "name": f"基准{i}-{position}", "id_number": _id(3 * i + position),
                               "relation": relation, "inclusion_rule": "BJ9-IN-1",
                               "is_included": True, "residence_address": "红旗街道", "hukou_location": "长春市朝阳区",
                               "_auth": auth[k]})
        person_ids = session.execute(insert(Person).returning(Person.id), [
            {k: v for k, v in p.items() if k != "_auth"} for p in people]).scalars().all()
        session.execute(insert(AuthorisationPerson), [
            {"authorisation_id": p["_auth"], "person_id": pid, "signature": "signed"}
            for p, pid in zip(people, person_ids, strict=True)])
    session.commit()
    return case_nos


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(args: argparse.Namespace) -> None:
    with scratch_database(args.postgres, "hedui_bench_batch") as url:
        upgrade(url)
        db = make_engine(url)
        clock = FixedClock(START)
        with Session(db) as session:
            seed_calendar(session, [2026], clock=clock)
            ctx = EngineContext(session, BpmnRuntime(clock, script_time_limit=5.0), clock)
            ctx.deadline = WorkingCalendar(session).deadline
            seed_demo(ctx, actor=ADMIN)
            deploy_files(ctx, {p.name: p.read_bytes() for p in sorted(BPMN_DIR.glob("*.bpmn"))}, actor=ADMIN)
            session.commit()
            t0 = time.perf_counter()
            case_nos = _enrol(session, args.households, clock.now())
            print(f"backend {db.dialect.name}: {args.households} enrolled households written in "
                  f"{time.perf_counter() - t0:.1f} s (set-up, not measured)")
            units = {u.code: u for u in session.execute(select(Unit)).scalars()}
            rss0 = _rss_mib()
            t0 = time.perf_counter()
            batch = create_batch(ctx, entrusting_unit=units["CY-MZJ"], agency_unit=units["CY-HDZX"],
                                 title="基准批次", actor=ADMIN, case_nos=case_nos)
            session.commit()
            created = time.perf_counter() - t0
            t1 = time.perf_counter()
            status = run_batch(ctx, batch.id, commit=session.commit, chunk_size=args.chunk)
            started = time.perf_counter() - t1
            session.refresh(batch)
            print(f"create_batch: {batch.total} rows checked in {created:.1f} s")
            print(f"run_batch: {status}, {batch.started} cases started, {batch.failed} failed in {started:.1f} s "
                  f"({batch.started / started:.0f} households/s, chunks of {args.chunk})")
            print(f"peak RSS: {_rss_mib():.0f} MiB (before the batch: {rss0:.0f} MiB)")
            _stats(ctx)
        db.dispose()



def _stats(ctx: EngineContext, repeat: int = 3) -> None:
    """The 统计分析 figures (AN-1, AU-4) over everything the batch started, as the province's auditor sees them."""
    from engine.services.users import get_user
    from engine.stats.report import compute
    from engine.stats.scope import StatsQuery

    query = StatsQuery(user_id=get_user(ctx, "auditor").id, first=date(2026, 1, 1), last=date(2026, 12, 31))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        report = compute(ctx, query)
        samples.append(time.perf_counter() - t0)
    received = report.total.values["received"]
    print(f"statistics (engine.stats.report.compute, province scope, year 2026): {received} cases counted, "
          f"median {statistics.median(samples) * 1000:.0f} ms of {repeat}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--households", type=int, default=100_000, help="enrolled households (default 100,000)")
    parser.add_argument("--chunk", type=int, default=200, help="households per committed chunk (default 200)")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server URL (a scratch database is created)")
    parser.add_argument("--out", type=Path, help="also write the results as the bench:batch section of this file")
    args = parser.parse_args(argv)
    text_out = run_captured(_run, args)
    if args.out:
        write_text_section(args.out, "batch", "Batch re-verification: starting enrolled households",
                           "Goal (issue #7): 100,000 households started by a background job with progress.",
                           text_out, argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
