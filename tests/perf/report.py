"""Render the benchmark results as the ``bench:engine`` section of BENCHMARKS.md."""

from __future__ import annotations

import contextlib
import io
import os
import platform
import statistics
import sys
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

from tests.perf.drivers import REAL
from tests.perf.scenarios import CURVE
from tests.perf.scenarios import EARLY
from tests.perf.scenarios import LATE
from tests.perf.scenarios import REAL_STEPS
from tests.perf.scenarios import REAL_TASKS
from tests.perf.scenarios import Plan
from tests.perf.scenarios import Results

START, END = "<!-- bench:engine:start -->", "<!-- bench:engine:end -->"
GOAL_SPEEDUP, GOAL_GROWTH, GOAL_RATE = 3.0, 1.5, 150.0
SERVICES = ("hedui", "nocache", "naive")
SCENARIOS = {"linear": "10-step process, every step", f"loop@{EARLY}": f"loop, round {EARLY}",
             f"loop@{LATE}": f"loop, round {LATE}", "real:tasks": f"`{REAL}`, its 6 task completions (sum)"}


def ms(ns: float) -> float:
    return ns / 1e6


def p90(values: list[int]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]


def cell(r: Results, key: str, scenario: str) -> str:
    values = r.samples.get((key, scenario))
    return f"{ms(statistics.median(values)):.2f} ({ms(p90(values)):.2f})" if values else "–"


def speedup(r: Results, key: str, scenario: str, base: str = "naive") -> float:
    return r.median(base, scenario) / r.median(key, scenario)


def growth(r: Results, key: str) -> float:
    return r.median(key, f"loop@{LATE}") / r.median(key, f"loop@{EARLY}")


def machine(results: list[Results], pg_note: str | None) -> list[str]:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    loads = ", ".join(f"{r.backend} {r.load[0]:.2f} → {r.load[1]:.2f}" for r in results)
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, SpiffWorkflow {dist_version('SpiffWorkflow')}, "
        f"SQLAlchemy {dist_version('SQLAlchemy')}, psycopg {dist_version('psycopg')}",
        *(f"- {r.server_version}; whole backend run {r.seconds:.0f} s" for r in results),
        *([f"- PostgreSQL not measured in this run: {pg_note}"] if pg_note else []),
        f"- 1-minute load average before → after each backend (above ~0.5 means other work shared the "
        f"{os.cpu_count()} cores and inflated the times): {loads}",
    ]


def goals(results: list[Results]) -> tuple[list[str], list[str]]:
    rows = ["| Goal (shown, not asserted) | " + " | ".join(r.backend for r in results) + " |",
            "|---|" + "---|" * len(results)]
    missed: list[str] = []

    def row(label: str, cells: list[tuple[str, bool | None]]) -> None:
        verdict = {True: "met", False: "**missed**", None: "(not a goal here)"}
        rows.append(f"| {label} | " + " | ".join(f"{text} {verdict[ok]}" for text, ok in cells) + " |")
        missed.extend(f"{label} on {r.backend}" for r, (_, ok) in zip(results, cells, strict=True) if ok is False)

    for key, label in SCENARIOS.items():
        row(f"Hedui ≥ {GOAL_SPEEDUP:.0f}× faster than naive: {label}",
            [(f"{speedup(r, 'hedui', key):.2f}×", speedup(r, "hedui", key) >= GOAL_SPEEDUP) for r in results])
    row(f"Hedui round {LATE} ≤ {GOAL_GROWTH}× round {EARLY}",
        [(f"{growth(r, 'hedui'):.2f}×", growth(r, "hedui") <= GOAL_GROWTH) for r in results])
    row(f"Hedui ≥ {GOAL_RATE:.0f} completions/s, one process",
        [(f"{r.throughput['hedui']['rate']:.0f}/s",
          r.throughput["hedui"]["rate"] >= GOAL_RATE if r.backend == "SQLite" else None) for r in results])
    return rows, missed


def persistence_rows(results: list[Results]) -> list[str]:
    """The same comparison on the persistence alone (load + run + dump, measured without SQL on twins).

    Not one of the issue's goals: shown so that the product owner can restate the 3× goal against the
    part of a step the two persistences actually differ in (the rest of the transaction is shared).
    """
    out = ["| Persistence alone (load + run task + dump, no SQL): naive ÷ Hedui | "
           + " | ".join(r.backend for r in results) + " |", "|---|" + "---:|" * len(results)]
    for rnd in (EARLY, LATE):
        cells = [sum(r.phases[("naive", rnd)]) / max(sum(r.phases[("hedui", rnd)]), 1) for r in results]
        out.append(f"| loop, round {rnd} | " + " | ".join(f"{c:.1f}×" for c in cells) + " |")
    return out


def backend_table(r: Results) -> list[str]:
    out = [f"#### {r.backend}: median (p90) ms per committed transaction", "",
           "| Scenario | Hedui | Hedui, no workflow cache | naive (same services) | Hedui vs naive "
           "| no-cache vs naive | thin naive app (reference) | samples each |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, label in SCENARIOS.items():
        out.append(f"| {label} | {' | '.join(cell(r, k, key) for k in SERVICES)} "
                   f"| **{speedup(r, 'hedui', key):.2f}×** | {speedup(r, 'nocache', key):.2f}× "
                   f"| {cell(r, 'thin', key)} | {len(r.samples[('hedui', key)])} |")
    ratios = [f"**{growth(r, k):.2f}×**" if k == "hedui" else f"{growth(r, k):.2f}×" for k in (*SERVICES, "thin")]
    out += [f"| round {LATE} / round {EARLY} (medians) | {ratios[0]} | {ratios[1]} | {ratios[2]} | | | "
            f"{ratios[3]} | |", ""]
    out += [f"`{REAL}` step by step (median (p90) ms; messages delivered with `deliver_message`):", "",
            "| Command | Hedui | Hedui, no workflow cache | naive (same services) | Hedui vs naive "
            "| no-cache vs naive |",
            "|---|---:|---:|---:|---:|---:|"]
    for step in ("start", *(s for s, _, _ in REAL_STEPS), "tasks"):
        scenario = f"real:{step}"
        label = {"start": "start (`start_instance`, runs to `intake_check`)",
                 "tasks": f"sum of the {len(REAL_TASKS)} task completions"}.get(step, step)
        if step.startswith("message:"):
            label = f"`exchange_result` from `{step.split(':')[1]}`"
        elif step not in ("start", "tasks"):
            label = f"complete `{step}`"
        out.append(f"| {label} | {' | '.join(cell(r, k, scenario) for k in SERVICES)} "
                   f"| {speedup(r, 'hedui', scenario):.2f}× | {speedup(r, 'nocache', scenario):.2f}× |")
    return [*out, ""]


def throughput_table(results: list[Results]) -> list[str]:
    out = ["| completions/s, one process (ms per completion incl. inbox lookup) | "
           + " | ".join(r.backend for r in results) + " |", "|---|" + "---:|" * len(results)]
    for key in SERVICES:
        cells = [f"{r.throughput[key]['rate']:.0f}/s ({1000 / r.throughput[key]['rate']:.2f} ms)" for r in results]
        out.append(f"| {results[0].labels[key]} | " + " | ".join(cells) + " |")
    t = results[0].throughput["hedui"]
    return [*out, "", f"{int(t['instances'])} ten-step instances started and completed back to back per engine, each "
            "completion preceded by its inbox lookup (`list_open_tasks`); starts count in the wall time "
            f"(Hedui on {results[0].backend}: {int(t['completions'])} completions in {t['seconds']:.2f} s, "
            f"{t['tx_rate']:.0f} transactions/s counting the starts)."]


def curve_table(results: list[Results]) -> list[str]:
    out = ["| median ms per completion, loop round | " + " | ".join(str(x) for x in CURVE) + " |",
           "|---|" + "---:|" * len(CURVE)]
    for r in results:
        for key in (*SERVICES, "thin"):
            out.append(f"| {r.labels[key]}, {r.backend} | "
                       + " | ".join(f"{ms(r.curve[(key, x)]):.2f}" for x in CURVE) + " |")
    return out


def size_and_phase_tables(r: Results) -> list[str]:
    points = [f"loop@{EARLY - 1}", f"loop@{EARLY}", f"loop@{LATE - 1}", f"loop@{LATE}",
              "real:prepare_exchange", "real:feedback"]
    out = ["| state per instance, bytes | loop after round 4 | after 5 | after 49 | after 50 "
           f"| `{REAL}` after prepare_exchange | at the end |", "|---|" + "---:|" * len(points)]
    for key, label in (("hedui", "Hedui state (no spec; same with the cache off)"),
                       ("naive", "naive: whole workflow with spec"), ("thin", "thin app: whole workflow with spec")):
        out.append(f"| {label} | " + " | ".join(f"{r.sizes[(key, p)]:,}" if (key, p) in r.sizes else "–"
                                                for p in points) + " |")
    specs = ", ".join(f"`{pid}` {size:,}" for pid, size in sorted(r.spec_bytes.items()))
    out += ["", f"Serialized spec per definition, bytes (stored once by Hedui, in every instance by naive): {specs}.",
            "", f"Where a completion's time goes ({r.backend}; load / run / dump measured without SQL on a twin "
            "instance parked before the round, median; \"rest\" = the whole step minus those three: SQL, ORM, "
            "derived rows, event log, commit):", "",
            "| | load | run task + engine steps | dump | rest of the transaction | whole step (median) |",
            "|---|---:|---:|---:|---:|---:|"]
    for key in (*SERVICES, "thin"):
        for rnd in (EARLY, LATE):
            load, run, dump = (ms(x) for x in r.phases[(key, rnd)])
            whole = ms(r.median(key, f"loop@{rnd}"))
            out.append(f"| {r.labels[key]}, round {rnd} | {load:.2f} ms | {run:.2f} ms | {dump:.2f} ms "
                       f"| {whole - load - run - dump:.2f} ms | {whole:.2f} ms |")
    return out


def profile_table(results: list[Results]) -> list[str]:
    heads = [f"{r.backend} round {rnd}" for r in results for rnd in (EARLY, LATE)]
    out = ["| cumulative share of Hedui's step under cProfile | " + " | ".join(heads) + " |",
           "|---|" + "---:|" * len(heads)]
    labels = [label for label, _ in results[0].profile[EARLY][1]]
    for i, label in enumerate(labels):
        shares = [r.profile[rnd][1][i][1] for r in results for rnd in (EARLY, LATE)]
        cells = ["–" if share is None else f"{100 * share:.0f}%" for share in shares]
        out.append(f"| {label.replace('  ', '&nbsp;&nbsp;')} | " + " | ".join(cells) + " |")
    cells = [f"{r.profile[rnd][0]:.2f} ms" for r in results for rnd in (EARLY, LATE)]
    return [*out, "| ms per step under the profiler | " + " | ".join(cells) + " |"]


def share(r: Results, rnd: int, prefix: str) -> float:
    """Profile share (0..1) of the first row whose label starts with ``prefix`` (0 if not called)."""
    return next((v or 0.0) for label, v in r.profile[rnd][1] if label.startswith(prefix))


def walks(r: Results, rnd: int) -> float:
    """Profile share of task-tree iteration: SpiffWorkflow's iterators plus Hedui's walk."""
    return share(r, rnd, "across all of the above: SpiffWorkflow") + share(r, rnd, "across all of the above: Hedui")


def missed_summary(missed: list[str]) -> str:
    by_goal: dict[str, list[str]] = {}
    for label, backend in (m.rsplit(" on ", 1) for m in missed):
        by_goal.setdefault(label, []).append(backend)
    return "; ".join(f"{label} ({', '.join(backends)})" for label, backends in by_goal.items())


def statements_line(r: Results) -> str:
    counts = ", ".join(f"{r.labels[k]} {len(v)}" for k, v in r.statements.items())
    return (f"SQL statements per completion ({r.backend}, 10-step process, step 2, COMMIT not counted): {counts}. "
            f"Hedui's: {', '.join(r.statements['hedui'])}.")


def interpretation(results: list[Results], missed: list[str]) -> list[str]:
    r = results[0]
    h5, c5, n5 = (r.phases[(k, EARLY)] for k in SERVICES)
    h50, c50, n50 = (r.phases[(k, LATE)] for k in SERVICES)
    w = {(k, rnd): r.median(k, f"loop@{rnd}") for k in SERVICES for rnd in (EARLY, LATE)}
    rest = {(k, rnd): w[(k, rnd)] - sum(r.phases[(k, rnd)]) for k in SERVICES for rnd in (EARLY, LATE)}
    real_spec = r.spec_bytes.get(REAL, 0)
    lines = [
        "- **What the comparison isolates.** Hedui, Hedui without the workflow cache and naive run the *same* "
        "services, SQL, derived rows and event log (anything made cheaper there is cheaper for all three); "
        "only the runtime differs: Hedui stores the spec once, keeps the last committed workflow, dumps "
        "incrementally (finished, unchanged tasks keep their JSON text; the stored text is byte-identical to a "
        "full dump) and walks the task tree with `engine.runtime.tree` (same tasks, same order as SpiffWorkflow's "
        "iterators, without their per-task overhead; a walk for unfinished tasks starts at its stem, past the "
        "finished history); naive runs stock SpiffWorkflow (`BpmnWorkflow`, stock "
        "serializer). The thin app is the first benchmark's baseline (much less bookkeeping), for reference only.",
        f"- **Spec stored once.** With the cache off (`saved_limit = 0`) a step still skips restoring and "
        f"re-serializing the spec: at round {EARLY} load + dump cost {ms(c5[0] + c5[2]):.2f} ms vs "
        f"{ms(n5[0] + n5[2]):.2f} ms naive ({r.backend}). That is {speedup(r, 'nocache', 'linear'):.2f}× on the "
        f"10-step process (specs of {r.spec_bytes.get('bench_linear10', 0):,} bytes) and "
        f"{speedup(r, 'nocache', 'real:tasks'):.2f}× on `{REAL}` ({real_spec:,}-byte spec, "
        f"{real_spec / r.sizes[('naive', 'real:feedback')]:.0%} of naive's blob at the end of a case; the loop's "
        f"spec is {r.spec_bytes.get('bench_loop', 0) / r.sizes[('naive', f'loop@{EARLY}')]:.0%} of it at round "
        f"{EARLY}, {r.spec_bytes.get('bench_loop', 0) / r.sizes[('naive', f'loop@{LATE}')]:.0%} at round {LATE}). "
        "Storing the spec once pays in proportion to the spec's share of the blob.",
        f"- **Workflow cache.** A cache hit replaces the restore by a dictionary lookup "
        f"(load {ms(h5[0]):.3f} ms at round {EARLY}, {ms(h50[0]):.3f} ms at round {LATE}, vs "
        f"{ms(c5[0]):.2f} / {ms(c50[0]):.2f} ms restoring). What remains per step is running the task "
        f"({ms(h5[1]):.2f} → {ms(h50[1]):.2f} ms), the dump ({ms(h5[2]):.2f} → {ms(h50[2]):.2f} ms) and the rest "
        f"of the transaction ({ms(rest[('hedui', EARLY)]):.2f} → {ms(rest[('hedui', LATE)]):.2f} ms).",
        f"- **Why not {GOAL_SPEEDUP:.0f}×.** At round {EARLY} naive's step is {ms(w[('naive', EARLY)]):.2f} ms and "
        f"Hedui's {ms(w[('hedui', EARLY)]):.2f} ms, of which load + run + dump are {ms(sum(h5)):.2f} ms. The rest "
        f"({ms(rest[('hedui', EARLY)]):.2f} ms: SQL, ORM, derived rows, event, commit; see the profile) is work both "
        f"sides do. Even with load, run and dump at zero Hedui would be at most "
        f"{w[('naive', EARLY)] / rest[('hedui', EARLY)]:.2f}× faster than naive at round {EARLY} and "
        f"{w[('naive', LATE)] / rest[('hedui', LATE)]:.2f}× at round {LATE}; "
        f"{GOAL_SPEEDUP:.0f}× would need the whole step in {ms(w[('naive', EARLY)]) / GOAL_SPEEDUP:.2f} ms at round "
        f"{EARLY}, less than the shared transaction alone. Under cProfile, SQLAlchemy's own Python code is "
        f"{share(r, EARLY, 'own time: SQLAlchemy'):.0%} of Hedui's step at round {EARLY}, SpiffWorkflow's "
        f"{share(r, EARLY, 'own time: SpiffWorkflow'):.0%}, the database driver's "
        f"{share(r, EARLY, 'own time: DB driver'):.0%}. The goal assumes (de)serialization dominates a step; "
        "with the same bookkeeping on both sides it does not at these diagram sizes.",
        f"- **Growth.** SpiffWorkflow never prunes finished loop tasks, so the state grows "
        f"({r.sizes[('hedui', f'loop@{EARLY}')]:,} → {r.sizes[('hedui', f'loop@{LATE}')]:,} bytes from round "
        f"{EARLY} to {LATE}). Naive pays for the whole tree on every step (restore, SpiffWorkflow's walks, full "
        f"dump: run {ms(n5[1]):.2f} → {ms(n50[1]):.2f} ms, dump {ms(n5[2]):.2f} → {ms(n50[2]):.2f} ms). Hedui's "
        f"walks for unfinished tasks start at their stem (the finished history is not crossed again; the "
        f"twins of the phase measurement are restored, so their first walks still cross it), and its dump "
        f"re-encodes only new or changed "
        f"tasks: from round {EARLY} to {LATE} its step grows by "
        f"{ms(w[('hedui', LATE)] - w[('hedui', EARLY)]):.2f} ms, of which run {ms(h50[1] - h5[1]):.2f} ms, dump "
        f"{ms(h50[2] - h5[2]):.2f} ms and the rest {ms(rest[('hedui', LATE)] - rest[('hedui', EARLY)]):.2f} ms "
        "(the larger state row to hash, write and commit). Under cProfile, task-tree iteration "
        "(SpiffWorkflow's "
        "iterators plus Hedui's walk) is "
        f"{walks(r, EARLY):.0%} of the step at round {EARLY} and {walks(r, LATE):.0%} at round {LATE}, the dump "
        f"{share(r, EARLY, '  of which dump'):.0%} and {share(r, LATE, '  of which dump'):.0%}. "
        f"Round {LATE} / round {EARLY}: Hedui {growth(r, 'hedui'):.2f}×, no cache {growth(r, 'nocache'):.2f}×, "
        f"naive {growth(r, 'naive'):.2f}×; {GOAL_GROWTH}× allows "
        f"{ms(w[('hedui', EARLY)] * (GOAL_GROWTH - 1)):.2f} ms of growth.",
        f"- **The real diagram.** `{REAL}` carries a {real_spec:,}-byte spec, so naive's state is "
        f"{r.sizes[('naive', 'real:feedback')]:,} bytes per instance against Hedui's "
        f"{r.sizes[('hedui', 'real:feedback')]:,}; the six task completions take "
        f"{ms(r.median('hedui', 'real:tasks')):.1f} ms (Hedui), {ms(r.median('nocache', 'real:tasks')):.1f} ms "
        "(no cache) and "
        f"{ms(r.median('naive', 'real:tasks')):.1f} ms (naive): {speedup(r, 'hedui', 'real:tasks'):.2f}× "
        f"(no cache {speedup(r, 'nocache', 'real:tasks'):.2f}×). The two `exchange_result` deliveries (first / "
        f"second unit) take {ms(r.median('hedui', 'real:message:bank_a')):.2f} / "
        f"{ms(r.median('hedui', 'real:message:tax')):.2f} ms with Hedui and "
        f"{ms(r.median('naive', 'real:message:bank_a')):.2f} / {ms(r.median('naive', 'real:message:tax')):.2f} ms "
        "naive; the second one also finishes the multi-instance exchange and opens `confirm_exchange`.",
        *([f"- **PostgreSQL.** Every statement is a round trip and the commit waits for the WAL flush; the state "
           "column is compressed with lz4 (migration 0019; pglz's cost grew with the state) (rest of "
           f"the step at round {EARLY}: "
           f"{ms(p.median('hedui', f'loop@{EARLY}') - sum(p.phases[('hedui', EARLY)])):.2f} ms vs "
           f"{ms(rest[('hedui', EARLY)]):.2f} ms on {r.backend} in this run); Hedui vs naive: "
           f"{speedup(p, 'hedui', 'linear'):.2f}× on the 10-step process, "
           f"{speedup(p, 'hedui', 'real:tasks'):.2f}× on `{REAL}`, round {LATE} / round {EARLY} "
           f"{growth(p, 'hedui'):.2f}×." for p in results[1:]]),
        f"- **Throughput.** {r.throughput['hedui']['rate']:.0f} completions/s on {r.backend} is "
        f"{1000 / r.throughput['hedui']['rate']:.2f} ms per completion including its inbox lookup; "
        f"{GOAL_RATE:.0f}/s needs ≤ {1000 / GOAL_RATE:.2f} ms.",
        "- **Cache hit rate.** In this single-process run every command finds its instance in the cache. With "
        "several worker processes a command only hits if it lands on the process that saved the case last; "
        "the \"no workflow cache\" column is the lower bound.",
        "- " + (f"**Missed in this run:** {missed_summary(missed)}." if missed else "All goals are met in this run."),
        "- Single-process numbers on a shared VM: compare ratios rather than absolute milliseconds across machines; "
        "p90 includes GC pauses and noise from other processes (see the load average above).",
    ]
    return lines


def render(results: list[Results], command: str, plan: Plan, pg_note: str | None) -> str:
    goal_rows, missed = goals(results)
    out = [START, "## Engine: completing one user task (Hedui vs naive SpiffWorkflow persistence)", "",
           "_Generated by `tests/perf/bench_engine.py`; do not edit this section by hand, re-run the script._", "",
           f"- Date: {datetime.now().astimezone().isoformat(timespec='seconds')}",
           f"- Command: `{command}`", *machine(results, pg_note),
           f"- Repetitions per engine and backend, after {plan.warmup} warm-up instances each: {plan.linear} "
           f"ten-step instances, {plan.loop} loop instances ({LATE} rounds), {plan.real} `{REAL}` cases. Engines run "
           "in lockstep (step n of every engine's instance before step n + 1 of any, engine order rotated per "
           "repetition; throughput in alternating blocks), so background load hits all of them alike. Times are "
           "per committed transaction (wall clock, `perf_counter`).",
           "",
           "Compared, on the same database in the same run (details in the docstring of `tests/perf/drivers.py`):",
           "",
           "- **Hedui**: the real services (`complete_task`: task row, instance lock, SoD check, form validation, "
           "load, run, dump, human-task/timer/subscription/outbox rows, hash-chained event, commit) with "
           "the production runtime: spec stored once per definition, last committed workflow cached in memory.",
           "- **Hedui, no workflow cache**: the same with `runtime.saved_limit = 0`: every step restores the state "
           "(`json.loads` + `from_dict`) against the per-thread spec cache. Shows what spec-once storage alone buys.",
           "- **naive (same services)**: the same services and SQL with a runtime subclass that persists the way "
           "SpiffWorkflow's example application does: stock `BpmnWorkflowSerializer(configure(SPIFF_CONFIG))` "
           "JSON of the whole workflow *including* `spec` and `subprocess_specs` in `workflow_instances.state`, "
           "a full `deserialize_json` on every load (no spec cache, no workflow cache).",
           "- **thin naive app** (secondary reference, the first benchmark's baseline): the same naive persistence "
           "in a much thinner app (SQLAlchemy Core, minimal inbox table, one plain log row; no SoD, no hash "
           "chain, no timer/subscription rows). It mixes persistence with bookkeeping, so no goal uses it.", "",
           "### Goals", "", *goal_rows, "",
           "For comparison, not a goal: the ratio on the part of a step the two persistences differ in (the "
           "phases of the cost breakdown below; the rest of the transaction is the same code on both sides).", "",
           *persistence_rows(results), "", "### Per backend", ""]
    for r in results:
        out += backend_table(r)
    out += ["### Throughput", "", *throughput_table(results), "",
            "### Growth along one loop instance", "", *curve_table(results), "",
            "### State size and cost breakdown", "", *size_and_phase_tables(results[0]), "",
            *(statements_line(r) for r in results), "",
            f"### Where Hedui's step goes (cProfile, loop rounds {EARLY} and {LATE})", "",
            "Cumulative time of each function as a share of the whole `complete_task` transaction; rows nest "
            "(\"of which\"), so they do not add up to 100%. cProfile inflates pure-Python code relative to C and "
            "I/O, so read shares, not absolute times. – = not called (a cache hit never restores). The "
            "\"own time\" rows split the same step by package (time spent in the package's own code, not in "
            "what it calls); they add up to 100%. "
            "Full listings: `--profile`.", "",
            *profile_table(results), "",
            "### Interpretation", "", *interpretation(results, missed), "", END]
    return "\n".join(out) + "\n"


def write_section(path: Path, section: str, start: str = START, end: str = END) -> None:
    if path.exists():
        current = path.read_text(encoding="utf-8")
        if start in current and end in current:
            head, rest = current.split(start, 1)
            new = head + section.rstrip("\n") + rest.split(end, 1)[1]
        else:
            new = current.rstrip("\n") + "\n\n" + section
    else:
        new = ("# Benchmarks\n\nEach section is regenerated by the script it names; "
               "sections are delimited by `<!-- bench:NAME:start/end -->` markers.\n\n" + section)
    path.write_text(new, encoding="utf-8")


def run_captured(run: Callable[[Any], None], args: Any) -> str:
    """Run ``run(args)`` with its printed report captured; echo it and return it (for a BENCHMARKS.md section)."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        run(args)
    print(captured.getvalue(), end="")
    return captured.getvalue()


def write_text_section(path: Path, name: str, title: str, intro: str, text_out: str, argv: list[str] | None) -> None:
    """Write the printed report of ``tests/perf/bench_<name>.py`` as its fenced ``bench:<name>`` section."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    command = f"python -m tests.perf.bench_{name} " + " ".join(argv if argv is not None else sys.argv[1:])
    section = "\n".join([
        start, f"## {title}", "",
        f"_Generated by `tests/perf/bench_{name}.py` on {datetime.now(UTC).isoformat(timespec='seconds')}; "
        f"command: `{command.strip()}`; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical cores, Python {platform.python_version()}._", "",
        intro, "", "```", text_out.strip(), "```", end, ""])
    write_section(path, section, start, end)
