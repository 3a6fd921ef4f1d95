"""Demo data for the exchange: cases answered by the simulated units through the real path.

Two officers batch and confirm, system units answer through the in-process simulator
(``sim:`` endpoints), media batches are exported and answered with packages, and a second
officer applies every answer — what staff would do, minus the monthly window (the demo is
seeded on any day).
"""

from __future__ import annotations

import io

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.exchange.batches import confirm_batch
from engine.exchange.batches import prepare_batch
from engine.exchange.media_mode import export_batch
from engine.exchange.media_mode import stage_package
from engine.exchange.results import confirm_import
from engine.exchange.simulate import answer_package
from engine.exchange.simulate import post_results
from engine.exchange.system_mode import send_due_batches
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeMode


def answer_units(ctx: EngineContext, units: list[str], *, first: Actor, second: Actor) -> int:
    """Batch, send and answer every open request of ``units``; returns how many cases were informed."""
    informed = 0
    for unit in units:
        batch = prepare_batch(ctx, unit, actor=first, enforce_window=False)
        confirm_batch(ctx, batch.id, actor=second, queue_send=False)
        if batch.mode is ExchangeMode.SYSTEM:
            send_due_batches(ctx)
            if batch.status.value != "sent":
                continue  # the unit is down: stays queued for the sender job
            staged = _staged(ctx, batch.id)
            if staged is None:
                post_results(ctx, batch)
                staged = _staged(ctx, batch.id)
            assert staged is not None
            informed += confirm_import(ctx, staged.id, actor=first)
        else:
            export_batch(ctx, batch.id, io.BytesIO(), actor=first)
            staged_import = stage_package(ctx, io.BytesIO(answer_package(ctx, batch)), actor=first)
            informed += confirm_import(ctx, staged_import.id, actor=second)
    return informed


def _staged(ctx: EngineContext, batch_id: int) -> ExchangeImport | None:
    return ctx.session.execute(select(ExchangeImport).where(ExchangeImport.batch_id == batch_id)).scalar_one_or_none()
