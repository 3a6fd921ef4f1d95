"""The exchange's background jobs (registered on import by ``engine.builtin_jobs``).

``exchange.run`` is the periodic sweep (in-process ticker, Celery beat): collect new requests
from the outbox, send due system batches, mark requests whose time ran out. Each step is its
own job too, so an operator can run one by name (``hedui jobs run exchange.send_due``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.context import EngineContext
from engine.exchange import simulate as _simulate  # noqa: F401  (registers the ``sim:`` transport)
from engine.exchange.requests import collect_requests
from engine.exchange.results import mark_overdue
from engine.exchange.simulate import simulate_pending
from engine.exchange.system_mode import send_due_batches
from engine.jobs import job


@job("exchange.collect")
def collect(ctx: EngineContext, limit: int = 500) -> int:
    """Turn new ``exchange_request`` outbox messages into exchange requests."""
    return collect_requests(ctx, limit=limit)


@job("exchange.send_due")
def send_due(ctx: EngineContext, limit: int = 20) -> int:
    """Send the confirmed system batches that are due (claimed, so two workers never send one twice)."""
    return send_due_batches(ctx, limit=limit)


@job("exchange.mark_overdue")
def overdue(ctx: EngineContext, limit: int = 500) -> int:
    """Write 超期未反馈 into the requests whose case stopped waiting."""
    return mark_overdue(ctx, limit=limit)


@job("exchange.run")
def run(ctx: EngineContext) -> dict[str, Any]:
    """The periodic sweep: collect, send, mark overdue."""
    return {"collected": collect_requests(ctx), "sent": send_due_batches(ctx), "overdue": mark_overdue(ctx)}


@job("exchange.simulate")
def simulate(ctx: EngineContext, package_dir: str | None = None) -> dict[str, Any]:
    """Demo only: the simulated units answer what is due (system answers, delay notices, answer packages)."""
    report = simulate_pending(ctx, package_dir=Path(package_dir) if package_dir else None)
    return {"system_answers": report.system_answers, "delay_notices": report.delay_notices,
            "packages": [str(p) for p in report.packages]}
