"""Media-exchange benchmark: export and import of an encrypted package of 1,000 and 10,000 persons.

Run from the repository root::

    python -m tests.perf.bench_exchange_media                      # 1,000 and 10,000 persons
    python -m tests.perf.bench_exchange_media --sizes 1000 10000 50000 --out BENCHMARKS.md

What is measured (issue #6; DX-1, DX-2), each phase in a fresh child process so that its peak RSS
(``resource.getrusage``, ``ru_maxrss``) is its own:

- **export**: the agency writes the request package of N persons (name, ID number, categories)
  to a file on disk (``engine.exchange.media.write_package``, records produced lazily);
- **import**: the agency verifies the unit's result package of N persons (answers of a bank and
  the land registry from ``engine.exchange.registry``, ~4 categories each) and then reads every
  record back (``PackageReader.verify`` + ``records``), as the import does before applying.

Each child first runs the phase timed (no tracing), then once more under ``tracemalloc`` for the
peak of Python allocations. Goals (printed, never asserted): each phase under 30 s for 10,000
persons on 2 cores, and memory that does not grow with the batch size (10,000 vs 1,000).
The persons are synthetic (valid check digits, address code 220104); nothing is logged.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.exchange.media import DEFAULT_ALGORITHM
from engine.exchange.media import MediaKey
from engine.exchange.media import PackageReader
from engine.exchange.media import write_package
from engine.exchange.registry import SyntheticRegistry
from forms.ids import check_char

START, END = "<!-- bench:exchange-media:start -->", "<!-- bench:exchange-media:end -->"
GOAL_SECONDS, GOAL_GROWTH = 30.0, 1.5
KEY = MediaKey("CC-BANK", "bench", bytes(range(32)))
KEYS = {(KEY.unit_code, KEY.key_id): KEY.secret}
CREATED = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
SURNAMES = "张王李赵刘陈杨黄周吴"
CATEGORIES = {"CC-BANK": ["deposits", "loans", "wealth_products"], "CC-BDC": ["real_estate"]}


def person(i: int) -> tuple[str, str]:
    """The i-th synthetic person: (name, ID number with a valid check character)."""
    first17 = f"220104{1940 + i % 70}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return f"{SURNAMES[i % 10]}测{i}", first17 + check_char(first17)


def request_records(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        name, id_number = person(i)
        yield {"line": i + 1, "name": name, "id_number": id_number, "categories": CATEGORIES["CC-BANK"]}


def result_records(n: int) -> Iterator[dict[str, Any]]:
    registry = SyntheticRegistry(seed="bench")
    for i in range(n):
        name, id_number = person(i)
        for unit, categories in CATEGORIES.items():
            for answer in registry.answer(unit, categories, id_number, name):
                yield {"line": i + 1, "unit": unit, **answer.to_dict()}


def _write(path: Path, records: Iterator[dict[str, Any]], kind: str) -> dict[str, Any]:
    with path.open("wb") as out:
        manifest = write_package(out, records, key=KEY, kind=kind, batch_id="BENCH-1", sender_unit="CY-HDZX",
                                 receiver_unit="CC-BANK", created_at=CREATED)
    return {"records": manifest.record_count, "bytes": path.stat().st_size}


def export_phase(n: int, path: Path) -> dict[str, Any]:
    return _write(path, request_records(n), "request")


def import_phase(n: int, path: Path) -> dict[str, Any]:
    with path.open("rb") as stream:
        reader = PackageReader(stream, KEYS, kind="result", batch_id="BENCH-1", sender_unit="CY-HDZX")
        manifest = reader.verify()
        with_data = sum(1 for r in reader.records() if r["status"] == "has_data")  # nothing kept per record
    return {"records": manifest.record_count, "answers_with_data": with_data, "bytes": path.stat().st_size}


PHASES: dict[str, Callable[[int, Path], dict[str, Any]]] = {"export": export_phase, "import": import_phase}


def child(phase: str, n: int, path: Path) -> dict[str, Any]:
    """One phase in this (fresh) process: timed, then traced; returns the measurements."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    info = PHASES[phase](n, path)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    PHASES[phase](n, path)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"phase": phase, "persons": n, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mib": rss_kib / 1024,
            "traced_peak_mib": traced_peak / 2**20, **info}


def _spawn(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "tests.perf.bench_exchange_media", "--child", *args],  # noqa: S603
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(sizes: list[int]) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="hedui-bench-media-") as tmp:
        for n in sizes:
            results.append(_spawn("export", str(n), str(Path(tmp) / f"request-{n}.hdpkg")))
            package = Path(tmp) / f"result-{n}.hdpkg"
            _spawn("prepare", str(n), str(package))  # the unit's answer, written untimed
            results.append(_spawn("import", str(n), str(package)))
    return results


def markdown(results: list[dict[str, Any]], command: str = "python -m tests.perf.bench_exchange_media") -> str:
    """The ``bench:exchange-media`` section of BENCHMARKS.md for these results."""
    lines = [START, "## Exchange: media package export and import", "",
             f"_Generated by `tests/perf/bench_exchange_media.py` on "
             f"{datetime.now(UTC).isoformat(timespec='seconds')}; command: `{command}`; "
             f"{platform.machine()}, {os.cpu_count()} logical cores, Python {platform.python_version()}; "
             f"cipher {DEFAULT_ALGORITHM}._", "",
             "Export: the agency writes a request package (name, ID number, categories per person). Import: the "
             "agency verifies the unit's result package (4 categories per person from the synthetic registry) "
             "completely, then reads every record. Each phase runs in a fresh process; peak RSS is that "
             "process's `ru_maxrss` (interpreter and libraries included), traced peak is `tracemalloc`'s.", "",
             "| Phase | Persons | Records | Package | Time (s) | CPU (s) | Peak RSS (MiB) | Traced peak (MiB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['phase']} | {r['persons']:,} | {r['records']:,} | {r['bytes'] / 2**20:.1f} MiB | "
                     f"{r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['peak_rss_mib']:.1f} | "
                     f"{r['traced_peak_mib']:.2f} |")
    lines += ["", "| Goal (shown, not asserted) | Result |", "|---|---|"]
    for phase in PHASES:
        rows = sorted((r for r in results if r["phase"] == phase), key=lambda r: r["persons"])
        if not rows:
            continue
        big, small = rows[-1], rows[0]
        lines.append(f"| {phase} of {big['persons']:,} persons < {GOAL_SECONDS:.0f} s | {big['seconds']:.2f} s "
                     f"{'met' if big['seconds'] < GOAL_SECONDS else '**missed**'} |")
        if big is not small:
            growth = big["peak_rss_mib"] / small["peak_rss_mib"]
            traced = big["traced_peak_mib"] / small["traced_peak_mib"]
            lines.append(f"| {phase}: peak RSS {big['persons']:,} vs {small['persons']:,} persons "
                         f"< {GOAL_GROWTH}× | {growth:.2f}× (traced {traced:.2f}×) "
                         f"{'met' if growth < GOAL_GROWTH else '**missed**'} |")
    lines += [END, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="persons per package")
    parser.add_argument("--out", type=Path, help="also write the bench:exchange-media section of this file")
    parser.add_argument("--child", nargs=3, metavar=("PHASE", "N", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        phase, n, path = args.child[0], int(args.child[1]), Path(args.child[2])
        if phase == "prepare":
            print(json.dumps(_write(path, result_records(n), "result")))
        else:
            print(json.dumps(child(phase, n, path)))
        return 0
    results = run(sorted(args.sizes))
    command = "python -m tests.perf.bench_exchange_media " + " ".join(argv if argv is not None else sys.argv[1:])
    section = markdown(results, command.strip())
    print(section)
    if args.out:
        from tests.perf.report import write_section

        write_section(args.out, section, START, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
