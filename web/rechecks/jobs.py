"""The background job that starts a batch's households (PS-8): the entry point that owns the commits.

``rechecks.run_batch`` commits after every chunk (``engine.services.recheck_batches.run_batch``),
so 10,000 households never become one long transaction, progress is visible while it runs, and
a crash resumes from the last committed chunk without duplicates. Its only argument is the
batch id; the list itself travels through the database. ``rechecks.resume_interrupted`` runs
periodically and queues again a batch that made no progress for HEDUI_RECHECK_BATCH_STALE_MINUTES.
"""

from __future__ import annotations

from engine.context import EngineContext
from engine.jobs import job
from engine.services.recheck_batches import JOB
from engine.services.recheck_batches import RESUME_JOB
from engine.services.recheck_batches import STALE_MINUTES
from engine.services.recheck_batches import resume_interrupted
from engine.services.recheck_batches import run_batch
from web.db import state


@job(JOB)
def run_batch_job(ctx: EngineContext, batch_id: int) -> str:
    """Start a batch's pending households, chunk by chunk (resumable, idempotent per household)."""
    return run_batch(ctx, batch_id, commit=ctx.session.commit)


@job(RESUME_JOB)
def resume_interrupted_job(ctx: EngineContext, stale_minutes: int = STALE_MINUTES) -> list[str]:
    """Queue again the batches whose worker died (no progress for HEDUI_RECHECK_BATCH_STALE_MINUTES); periodic."""
    return resume_interrupted(ctx, stale_minutes=stale_minutes)


def stale_minutes() -> int:
    """HEDUI_RECHECK_BATCH_STALE_MINUTES of the running app (pages and API judge "interrupted" by it)."""
    return int(state().config["RECHECK_BATCH_STALE_MINUTES"])
