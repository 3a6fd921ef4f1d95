"""Engine benchmark: the cost of completing one user task, Hedui vs a naive SpiffWorkflow persistence.

Run from the repository root::

    python -m tests.perf.bench_engine                      # SQLite (+ PostgreSQL if HEDUI_BENCH_DATABASE_URL is set)
    python -m tests.perf.bench_engine --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python -m tests.perf.bench_engine --sqlite --quick     # SQLite only, few repetitions, print only
    python -m tests.perf.bench_engine --profile            # also print the full cProfile listings

Per backend, side by side in one run on one database (engines in lockstep, step by step, so
drift and background load hit all of them alike):

* the same Hedui services and SQL with three runtimes: Hedui as in production, Hedui with the
  workflow cache off (``saved_limit = 0``), and a naive runtime that stores the whole workflow
  *with its spec* and fully deserializes it on every step, the way SpiffWorkflow's example
  application persists (``tests/perf/drivers.py``);
* the first benchmark's thin Core app with naive persistence, as a secondary reference.

Scenarios (``tests/perf/scenarios.py``): every step of a 10-step process; a loop process at round 5
and round 50; the real diagram ``bpmn/standard_verification.bpmn`` (intake → review → prepare
exchange → two ``exchange_result`` messages → confirm → report → feedback); throughput of 10-step
instances back to back in one process; statements per completion; a cProfile of Hedui's step.

This package is a benchmark, not production code: unlike ``engine/``, ``web/`` and ``forms/``
(``tests/test_layering.py``) it may import SpiffWorkflow, which the naive baseline needs.

The PostgreSQL server named by the URL only hosts a database this script creates and drops
(``hedui_bench_<pid>``, via the server's ``postgres`` maintenance database); the database in the URL
itself (e.g. ``test``) is never used. Results replace the section between the ``bench:engine``
markers in BENCHMARKS.md (``tests/perf/report.py``). Performance goals are reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.perf.drivers import ROOT
from tests.perf.drivers import postgres_url
from tests.perf.drivers import sqlite_url
from tests.perf.report import render
from tests.perf.report import write_section
from tests.perf.scenarios import QUICK
from tests.perf.scenarios import Plan
from tests.perf.scenarios import run_backend

ENV_URL = "HEDUI_BENCH_DATABASE_URL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sqlite", action="store_true", help=f"SQLite only (ignore {ENV_URL})")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server URL (a scratch database is created)")
    parser.add_argument("--out", type=Path, help="Markdown file to update (default: BENCHMARKS.md, not with --quick)")
    parser.add_argument("--quick", action="store_true", help="few repetitions (smoke test)")
    parser.add_argument("--profile", action="store_true", help="also print the full cProfile listings (stdout)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    pg, pg_note = None, None
    if args.sqlite:
        pg_note = "`--sqlite` given"
    else:
        pg = args.postgres or os.environ.get(ENV_URL)
        if not pg:
            pg_note = f"no `--postgres URL` given and `{ENV_URL}` is not set"
    if pg_note:
        print(f"PostgreSQL skipped: {pg_note}", file=sys.stderr)
    results = []
    with sqlite_url() as url:
        results.append(run_backend("SQLite", url, plan, args.profile))
    if pg:
        with postgres_url(pg) as url:
            results.append(run_backend("PostgreSQL", url, plan, args.profile))
    shown = [a if not a.startswith("postgresql") else make_url(a).render_as_string(hide_password=True)
             for a in (argv if argv is not None else sys.argv[1:])]
    section = render(results, " ".join(["python -m tests.perf.bench_engine", *shown]), plan, pg_note)
    out = args.out or (None if args.quick else ROOT / "BENCHMARKS.md")
    if out is not None:
        write_section(out, section)
        print(f"wrote {out}", file=sys.stderr)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
