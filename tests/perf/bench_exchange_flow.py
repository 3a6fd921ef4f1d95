"""Exchange services benchmark: a 1,000 / 10,000-person batch through the real services, both modes.

Run from the repository root::

    python -m tests.perf.bench_exchange_flow                       # 1,000 and 10,000 persons
    python -m tests.perf.bench_exchange_flow --sizes 1000 10000 --out BENCHMARKS.md

Unlike ``bench_exchange_media`` (the package format alone), this measures what an officer's
clicks cost on a SQLite file (issue #6; DX-1…DX-4), each phase in a fresh process so its peak
RSS is its own:

- **system send**: prepare + confirm a batch for 长春示范商业银行 (3 categories), send it through the
  in-process simulated unit, which answers at once; the signed answer is verified and staged;
- **system apply**: the second officer confirms: 3 results per person stored and normalised, the
  cases informed;
- **media export**: prepare + confirm + export the encrypted package for 不动产登记中心;
- **media import**: the unit's answer package (simulator, untimed) is verified, staged and applied.

Set-up (untimed): 20 real cases through the services to 数据交换; their households are then padded
with synthetic persons (bulk insert) and the cases' requests name all of them, so the batch has
N persons in 20 requests. Applying therefore informs 20 cases; the per-case messaging cost is the
engine benchmark's subject. Goals (printed, never asserted): each phase under 30 s for 10,000
persons, peak RSS growing less than 1.5× from 1,000 to 10,000. Synthetic persons only.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session

START, END = "<!-- bench:exchange-flow:start -->", "<!-- bench:exchange-flow:end -->"
GOAL_SECONDS, GOAL_GROWTH = 30.0, 1.5
CASES = 20
PHASES = ["system_send", "system_apply", "media_export", "media_import"]


def _context(url: str) -> tuple[Any, Any]:
    from engine.calendar import WorkingCalendar
    from engine.clock import FixedClock
    from engine.context import EngineContext
    from engine.db import make_engine
    from engine.runtime import BpmnRuntime
    from tests.engine.exchange_factory import IN_WINDOW

    engine = make_engine(url)
    session = Session(engine, expire_on_commit=False)
    clock = FixedClock(IN_WINDOW)
    return EngineContext(session, BpmnRuntime(clock), clock, deadline=WorkingCalendar(session).deadline), engine


def setup(url: str, persons: int) -> None:
    from engine.models import OutboxMessage
    from engine.models.case import Household
    from engine.models.case import Person
    from engine.services.cases import create_entrustment
    from engine.services.demo_cases import _advance
    from engine.services.demo_cases import _as
    from engine.services.packages import DocumentIn
    from forms.ids import check_char
    from tests.conftest import prepare_database
    from tests.engine.exchange_factory import setup_exchange
    from tests.engine.package_factory import PDF
    from tests.engine.package_factory import synthetic_household

    prepare_database(url)
    ctx, engine = _context(url)
    setup_exchange(ctx, ctx.clock)
    households = [synthetic_household(i) for i in range(CASES)]
    for h in households:
        h["authorisation"]["signed_on"] = "2026-12-11"
    entrustment = create_entrustment(
        ctx, entrusting_unit="HQ-MZB", agency_unit="CY-HDZX", households=households,
        documents=[[DocumentIn("authorisation", "授权书.pdf", PDF)] for _ in households], contact_name="周敏",
        contact_phone="0431-88886666", sharing_units=["CC-BANK", "CC-BDC"],
        actor=_as(ctx, "hq_street_clerk", "street_clerk"))
    cases = [h for h in entrustment.households]
    for household in cases:
        _advance(ctx, household.instance, stop_after="prepare_exchange")
    per_case = persons // CASES
    for n, household in enumerate(cases):
        start = ctx.session.execute(select(Person.position).where(Person.household_id == household.id)
                                    .order_by(Person.position.desc()).limit(1)).scalar_one() + 1
        rows = []
        for i in range(per_case - 6):  # each synthetic household has 6 persons already
            k = n * per_case + i
            first17 = f"220104{1940 + k % 60}{1 + k % 12:02d}{1 + k % 28:02d}{k % 1000:03d}"
            rows.append({"household_id": household.id, "position": start + i, "role": "member", "name": f"测{k}",
                         "id_number": first17 + check_char(first17), "relation": "other", "is_included": True,
                         "residence_address": "红旗街道", "hukou_location": "吉林省长春市朝阳区"})
        if rows:
            ctx.session.execute(insert(Person), rows)
    ctx.session.flush()
    for message in ctx.session.execute(select(OutboxMessage)).scalars():
        household_id = ctx.session.execute(select(Household.id)
                                           .where(Household.instance_id == message.instance_id)).scalar_one()
        ids = list(ctx.session.execute(select(Person.id).where(Person.household_id == household_id)).scalars())
        message.payload = {**message.payload, "subject_ids": ids}
    ctx.session.commit()
    engine.dispose()


def phase(name: str, url: str, workdir: Path) -> dict[str, Any]:
    from engine.exchange.batches import confirm_batch
    from engine.exchange.batches import prepare_batch
    from engine.exchange.media_mode import export_batch
    from engine.exchange.media_mode import stage_package
    from engine.exchange.results import confirm_import
    from engine.exchange.simulate import answer_package
    from engine.exchange.system_mode import send_due_batches
    from engine.models.exchange import ExchangeBatch
    from engine.models.exchange import ExchangeImport
    from tests.engine.exchange_factory import officer

    ctx, engine = _context(url)
    first, second = officer(ctx, "cy_exchange_1"), officer(ctx, "cy_exchange_2")
    info: dict[str, Any] = {}
    package = workdir / "answer.hdpkg"
    if name == "media_import":  # the unit's work, untimed
        batch = ctx.session.execute(select(ExchangeBatch).where(ExchangeBatch.mode == "media")).scalar_one()
        package.write_bytes(answer_package(ctx, batch))
        ctx.session.commit()
    started, cpu = time.perf_counter(), time.process_time()
    if name == "system_send":
        batch = prepare_batch(ctx, "CC-BANK", actor=first, mode="system")
        confirm_batch(ctx, batch.id, actor=second, queue_send=False)
        info["sent"] = send_due_batches(ctx)
        info["persons"] = batch.person_count
    elif name == "system_apply":
        staged = ctx.session.execute(select(ExchangeImport)).scalar_one()
        info["cases_informed"] = confirm_import(ctx, staged.id, actor=first)
        info["persons"] = staged.batch.person_count
    elif name == "media_export":
        batch = prepare_batch(ctx, "CC-BDC", actor=first)
        confirm_batch(ctx, batch.id, actor=second)
        with (workdir / "request.hdpkg").open("wb") as out:
            export_batch(ctx, batch.id, out, actor=first)
        info["persons"], info["bytes"] = batch.person_count, (workdir / "request.hdpkg").stat().st_size
    else:
        with package.open("rb") as stream:
            staged = stage_package(ctx, stream, actor=first)
        info["cases_informed"] = confirm_import(ctx, staged.id, actor=second)
        info["persons"] = staged.batch.person_count
    ctx.session.commit()
    info.update(phase=name, seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu,
                peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    engine.dispose()
    return info


def _spawn(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "tests.perf.bench_exchange_flow", "--child", *args],  # noqa: S603
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(sizes: list[int]) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="hedui-bench-flow-") as tmp:
        for n in sizes:
            url = f"sqlite:///{tmp}/flow-{n}.db"
            _spawn("setup", url, tmp, str(n))
            results += [_spawn(p, url, tmp, str(n)) for p in PHASES]
    return results


def markdown(results: list[dict[str, Any]], command: str) -> str:
    lines = [START, "## Exchange: a batch through the services (both modes)", "",
             f"_Generated by `tests/perf/bench_exchange_flow.py`; command: `{command}`; SQLite file; see the "
             "script's docstring for what each phase includes._", "",
             "| Phase | Persons | Time (s) | CPU (s) | Peak RSS (MiB) |", "|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['phase']} | {r['persons']:,} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | "
                     f"{r['peak_rss_mib']:.1f} |")
    lines += ["", "| Goal (shown, not asserted) | Result |", "|---|---|"]
    for name in PHASES:
        rows = sorted((r for r in results if r["phase"] == name), key=lambda r: r["persons"])
        big, small = rows[-1], rows[0]
        lines.append(f"| {name} of {big['persons']:,} persons < {GOAL_SECONDS:.0f} s | {big['seconds']:.2f} s "
                     f"{'met' if big['seconds'] < GOAL_SECONDS else '**missed**'} |")
        if big is not small:
            growth = big["peak_rss_mib"] / small["peak_rss_mib"]
            lines.append(f"| {name}: peak RSS {big['persons']:,} vs {small['persons']:,} < {GOAL_GROWTH}× | "
                         f"{growth:.2f}× {'met' if growth < GOAL_GROWTH else '**missed**'} |")
    lines += [END, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="persons per batch")
    parser.add_argument("--out", type=Path, help="also write the bench:exchange-flow section of this file")
    parser.add_argument("--child", nargs=4, metavar=("PHASE", "URL", "DIR", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, url, workdir, n = args.child
        if name == "setup":
            setup(url, int(n))
            print(json.dumps({"setup": True, "at": datetime.now().isoformat()}))
        else:
            print(json.dumps(phase(name, url, Path(workdir))))
        return 0
    results = run(sorted(args.sizes))
    command = "python -m tests.perf.bench_exchange_flow " + " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown(results, command.strip())
    print(section)
    if args.out:
        from tests.perf.report import write_section

        write_section(args.out, section, START, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
