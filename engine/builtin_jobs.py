"""The jobs the engine itself needs."""

from __future__ import annotations

from engine import escalation as _escalation  # noqa: F401  (registers tasks.escalate_overdue)
from engine import retention as _retention  # noqa: F401  (registers retention.purge_stale)
from engine.archives import seal as _seal  # noqa: F401  (registers archives.seal_closed)
from engine.context import EngineContext
from engine.jobs import job
from engine.services import cross_city as _cross_city  # noqa: F401  (registers cross_city.gather)
from engine.services.timers import fire_due_timers


@job("timers.run_due")
def run_due_timers(ctx: EngineContext, limit: int = 200) -> int:
    """Fire the timers that are due now (scheduled every ``HEDUI_TIMER_INTERVAL`` seconds)."""
    return fire_due_timers(ctx, limit=limit)


@job("noop")
def noop(ctx: EngineContext, value: object = None) -> object:
    """Echo ``value``; used to check that a queue and its workers are alive."""
    return value

from engine.exchange import jobs as _exchange_jobs  # noqa: E402,F401  (registers the exchange.* jobs)
