"""The background job that migrates a run's cases (版本迁移, process-design §13): the entry point that owns the commits.

``migrations.run`` commits after every chunk (``engine.services.migration_runs.run_migration``), so
thousands of cases never become one long transaction holding their locks, progress is visible
while it runs, and a crash resumes from the last committed chunk without doing anything twice.
Its only argument is the run id. ``migrations.resume_interrupted`` runs periodically and queues
again a run that made no progress for HEDUI_MIGRATION_RUN_STALE_MINUTES.
"""

from __future__ import annotations

from engine.context import EngineContext
from engine.jobs import job
from engine.services.migration_runs import JOB
from engine.services.migration_runs import RESUME_JOB
from engine.services.migration_runs import STALE_MINUTES
from engine.services.migration_runs import resume_interrupted
from engine.services.migration_runs import run_migration
from web.db import state


@job(JOB)
def run_migration_job(ctx: EngineContext, run_id: int) -> str:
    """Migrate a run's compatible cases, chunk by chunk (resumable: moved cases leave the source version)."""
    return run_migration(ctx, run_id, commit=ctx.session.commit)


@job(RESUME_JOB)
def resume_interrupted_job(ctx: EngineContext, stale_minutes: int = STALE_MINUTES) -> list[int]:
    """Queue again the runs whose worker died (no progress for HEDUI_MIGRATION_RUN_STALE_MINUTES); periodic."""
    return resume_interrupted(ctx, stale_minutes=stale_minutes)


def stale_minutes() -> int:
    """HEDUI_MIGRATION_RUN_STALE_MINUTES of the running app (the run page judges "interrupted" by it)."""
    return int(state().config["MIGRATION_RUN_STALE_MINUTES"])
