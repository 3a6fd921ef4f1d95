"""The background job that starts a batch's households (PS-8): the entry point that owns the commits.

``rechecks.run_batch`` commits after every chunk (``engine.services.recheck_batches.run_batch``),
so 10,000 households never become one long transaction, progress is visible while it runs, and
a crash resumes from the last committed chunk without duplicates. Its only argument is the
batch id; the list itself travels through the database.
"""

from __future__ import annotations

from engine.context import EngineContext
from engine.jobs import job
from engine.services.recheck_batches import JOB
from engine.services.recheck_batches import run_batch


@job(JOB)
def run_batch_job(ctx: EngineContext, batch_id: int) -> str:
    """Start a batch's pending households, chunk by chunk (resumable, idempotent per household)."""
    return run_batch(ctx, batch_id, commit=ctx.session.commit)
