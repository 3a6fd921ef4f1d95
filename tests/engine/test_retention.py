"""Retention of unfinished uploads (engine/retention.py): stale intake drafts are deleted, packages that were
never imported lose their bytes, each run that removes something is one system-stream event with ids only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.clock import FixedClock
from engine.context import Actor
from engine.context import EngineContext
from engine.history import SYSTEM_STREAM
from engine.jobs import job_names
from engine.jobs import run_job
from engine.models import Event
from engine.models import Unit
from engine.models import User
from engine.models.draft import ImportJob
from engine.models.draft import ImportJobStatus
from engine.models.draft import IntakeDraft
from engine.models.draft import IntakeDraftFile
from engine.retention import purge_stale
from engine.services.demo import seed_demo
from tests.engine.package_factory import PDF


def seed(ctx: EngineContext) -> None:
    """The demo organisation (the uploaders and their units)."""
    seed_demo(ctx, actor=Actor("admin", "admin"))


#: seeded once for the module; every test runs in a savepoint on top
SEED_ONCE = seed


def _ids(ctx: EngineContext) -> tuple[int, int, int]:
    user = ctx.session.execute(select(User).where(User.username == "hq_street_clerk")).scalar_one()
    units = {u.code: u.id for u in ctx.session.execute(select(Unit)).scalars()}
    return user.id, units["HQ-MZB"], units["CY-HDZX"]


def _draft(ctx: EngineContext, age_days: float, *, with_scan: bool = True) -> int:
    user_id, unit_id, _ = _ids(ctx)
    when = ctx.now() - timedelta(days=age_days)
    draft = IntakeDraft(user_id=user_id, unit_id=unit_id, step="members", data={"members": [{"name": "赵一测试"}]},
                        created_at=when, updated_at=when)
    if with_scan:
        draft.files.append(IntakeDraftFile(kind="authorisation", filename="授权书.pdf", content_type="application/pdf",
                                           size=len(PDF), sha256="0" * 64, content=PDF, created_at=when))
    ctx.session.add(draft)
    ctx.session.flush()
    return draft.id


def _package(ctx: EngineContext, age_days: float, status: ImportJobStatus) -> int:
    user_id, entrusting, agency = _ids(ctx)
    when = ctx.now() - timedelta(days=age_days)
    row = ImportJob(user_id=user_id, entrusting_unit_id=entrusting, agency_unit_id=agency, status=status, progress=100,
                    accept_valid_rows=False, filename="批量.zip", size=1234, sha256="1" * 64,
                    package=None if status == ImportJobStatus.IMPORTED else b"PK\x03\x04zip",
                    report={"accepted": False},
                    created_at=when, finished_at=when)
    ctx.session.add(row)
    ctx.session.flush()
    return row.id


def _events(ctx: EngineContext) -> list[Event]:
    return list(ctx.session.execute(select(Event).where(Event.stream == SYSTEM_STREAM,
                                                        Event.kind == "retention_purged")).scalars())


def test_stale_drafts_go_with_their_scans_and_fresh_ones_stay(ctx: EngineContext) -> None:
    stale = _draft(ctx, 31)
    fresh = _draft(ctx, 29)
    purged = purge_stale(ctx, draft_days=30, package_days=14)
    assert purged.draft_ids == [stale] and purged.draft_files == 1
    ctx.session.expire_all()
    assert ctx.session.get(IntakeDraft, stale) is None
    assert ctx.session.get(IntakeDraft, fresh) is not None
    assert ctx.session.execute(select(IntakeDraftFile.draft_id)).scalars().all() == [fresh]


def test_never_imported_packages_lose_their_bytes_and_say_why(ctx: EngineContext) -> None:
    waiting = _package(ctx, 15, ImportJobStatus.VALIDATED)
    refused = _package(ctx, 20, ImportJobStatus.REFUSED)
    recent = _package(ctx, 3, ImportJobStatus.VALIDATED)
    imported = _package(ctx, 90, ImportJobStatus.IMPORTED)
    purged = purge_stale(ctx, draft_days=30, package_days=14)
    assert purged.import_job_ids == [waiting, refused] and purged.package_bytes == 2 * 1234
    ctx.session.expire_all()
    for job_id in (waiting, refused):
        row = ctx.session.get(ImportJob, job_id)
        assert row is not None and row.package is None and row.status == ImportJobStatus.DISCARDED
        assert row.message is not None and "14 天内未导入" in row.message
        assert row.report == {"accepted": False}  # the report stays for the uploader
    kept = ctx.session.get(ImportJob, recent)
    assert kept is not None and kept.package is not None and kept.status == ImportJobStatus.VALIDATED
    done = ctx.session.get(ImportJob, imported)
    assert done is not None and done.status == ImportJobStatus.IMPORTED


def test_a_run_is_recorded_once_with_ids_only_and_an_idle_run_not_at_all(ctx: EngineContext) -> None:
    stale = _draft(ctx, 40)
    package = _package(ctx, 40, ImportJobStatus.FAILED)
    purge_stale(ctx, draft_days=30, package_days=14)
    [event] = _events(ctx)
    assert event.actor == "job:retention"
    assert event.payload["draft_ids"] == [stale] and event.payload["import_job_ids"] == [package]
    assert event.payload["draft_days"] == 30 and event.payload["package_days"] == 14
    assert "赵一测试" not in str(event.payload)
    assert purge_stale(ctx, draft_days=30, package_days=14).anything is False
    assert len(_events(ctx)) == 1


def test_the_job_is_registered_and_honours_its_periods(ctx: EngineContext, clock: FixedClock) -> None:
    assert "retention.purge_stale" in job_names()
    draft = _draft(ctx, 8)
    assert run_job(ctx, "retention.purge_stale") == {"drafts": 0, "packages": 0}
    assert run_job(ctx, "retention.purge_stale", draft_days=7, package_days=7) == {"drafts": 1, "packages": 0}
    ctx.session.expire_all()
    assert ctx.session.get(IntakeDraft, draft) is None
    with pytest.raises(ValueError):
        purge_stale(ctx, draft_days=0)
