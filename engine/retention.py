"""Retention of unfinished uploads: stale intake drafts and data packages never imported (PR-4, DO-6).

A draft holds typed-in personal data and scans of a household that never became a case; an
uploaded package holds a whole batch of them. Neither is needed once nobody has touched it for
the retention period, and keeping it only widens what a leak would expose. The job
``retention.purge_stale`` (in-process ticker and Celery beat, hourly; ``hedui jobs run``) deletes
drafts not updated for ``draft_days`` and drops the bytes of packages uploaded more than
``package_days`` ago that were never imported (the job row and its report stay, marked
discarded, so the uploader sees what happened). Every run that removes something appends one
``retention_purged`` event to the system stream naming the rows, never their content.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.history import append_system_event
from engine.jobs import job
from engine.models.draft import ImportJob
from engine.models.draft import ImportJobStatus
from engine.models.draft import IntakeDraft

logger = logging.getLogger(__name__)

RETENTION_ACTOR = Actor.system("job:retention")
DEFAULT_DRAFT_DAYS = 30
DEFAULT_PACKAGE_DAYS = 14
#: statuses in which a package still waits for a person's decision (or was refused) and was never imported
UNIMPORTED = (ImportJobStatus.VALIDATED, ImportJobStatus.REFUSED, ImportJobStatus.FAILED)


@dataclass
class Purged:
    """What one run removed (ids only: the event and the job result carry no personal data)."""

    draft_ids: list[int] = field(default_factory=list)
    draft_files: int = 0
    import_job_ids: list[int] = field(default_factory=list)
    package_bytes: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.draft_ids or self.import_job_ids)


def purge_stale(ctx: EngineContext, *, draft_days: int = DEFAULT_DRAFT_DAYS,
                package_days: int = DEFAULT_PACKAGE_DAYS, limit: int = 500) -> Purged:
    """Delete drafts idle for ``draft_days`` and drop never-imported packages older than ``package_days``."""
    if draft_days < 1 or package_days < 1:
        raise ValueError("retention periods are at least one day")
    now = ctx.now()
    purged = Purged()
    drafts = ctx.session.execute(
        select(IntakeDraft).where(IntakeDraft.updated_at < now - timedelta(days=draft_days))
        .order_by(IntakeDraft.id).limit(limit)
    ).scalars().all()
    for draft in drafts:
        purged.draft_ids.append(draft.id)
        purged.draft_files += len(draft.files)
        ctx.session.delete(draft)  # its files go with it (cascade)
    jobs = ctx.session.execute(
        select(ImportJob).where(ImportJob.status.in_(UNIMPORTED), ImportJob.package.is_not(None),
                                ImportJob.created_at < now - timedelta(days=package_days))
        .order_by(ImportJob.id).limit(limit)
    ).scalars().all()
    for import_job in jobs:
        purged.import_job_ids.append(import_job.id)
        purged.package_bytes += import_job.size
        import_job.package = None
        import_job.status = ImportJobStatus.DISCARDED
        import_job.message = f"上传后 {package_days} 天内未导入，数据包已按保留期限自动清除，请重新上传"
        import_job.finished_at = now
    ctx.session.flush()
    if purged.anything:
        _record(ctx, purged, draft_days=draft_days, package_days=package_days)
        logger.info("retention: %s drafts, %s packages purged", len(purged.draft_ids), len(purged.import_job_ids))
    return purged


def _record(ctx: EngineContext, purged: Purged, *, draft_days: int, package_days: int) -> None:
    payload = {**asdict(purged), "draft_days": draft_days, "package_days": package_days}
    append_system_event(ctx, kind="retention_purged", actor=RETENTION_ACTOR, payload=payload)


@job("retention.purge_stale")
def run_retention(ctx: EngineContext, draft_days: int = DEFAULT_DRAFT_DAYS,
                  package_days: int = DEFAULT_PACKAGE_DAYS) -> dict[str, object]:
    """The scheduled job; the web layer fills the periods from HEDUI_*_RETENTION_DAYS."""
    purged = purge_stale(ctx, draft_days=int(draft_days), package_days=int(package_days))
    return {"drafts": len(purged.draft_ids), "packages": len(purged.import_job_ids)}
