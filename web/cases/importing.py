"""Checking and importing an uploaded data package, in the request or as a background job.

The check is the import itself (``engine.services.package_import.import_package`` with
``accept_valid_rows``) inside a savepoint that is always rolled back: the report is exactly
what an import would say, and nothing of it stays. The import then runs for real with the
user's choice. Both run in the request for small packages; larger ones are jobs
(``cases.check_package``, ``cases.import_package``) whose arguments are only the job id, so
the zip travels through the database, never through the broker.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import HeduiError
from engine.jobs import job
from engine.models import ImportJob
from engine.models import ImportJobStatus
from engine.models import Membership
from engine.models import Unit
from engine.models import User
from engine.services.package_import import import_package

logger = logging.getLogger(__name__)

FAILED = "处理数据包时发生系统错误，未导入任何数据，请稍后重试或联系系统管理员"


def _actor(ctx: EngineContext, import_job: ImportJob) -> Actor:
    """The uploader, in the role they hold in the entrusting unit (street clerk before assistance officer)."""
    user = ctx.session.get(User, import_job.user_id)
    assert user is not None  # users are deactivated, never deleted
    roles = set(ctx.session.execute(select(Membership.role_code).where(
        Membership.user_id == user.id, Membership.unit_id == import_job.entrusting_unit_id)).scalars())
    role = next((r for r in ("street_clerk", "assistance_officer") if r in roles), None)
    return Actor(user.username, role, user.id)


def _units(ctx: EngineContext, import_job: ImportJob) -> tuple[Unit, Unit]:
    entrusting = ctx.session.get(Unit, import_job.entrusting_unit_id)
    agency = ctx.session.get(Unit, import_job.agency_unit_id)
    assert entrusting is not None and agency is not None
    return entrusting, agency


def _locked(ctx: EngineContext, job_id: int) -> ImportJob | None:
    return ctx.session.execute(
        select(ImportJob).where(ImportJob.id == job_id).with_for_update()
    ).scalar_one_or_none()


def check(ctx: EngineContext, import_job: ImportJob) -> None:
    """Dry-run the import and store its report; the job waits for the user's choice (``validated``)."""
    entrusting, agency = _units(ctx, import_job)
    queued = len(ctx.after_commit_jobs)
    savepoint = ctx.session.begin_nested()
    try:
        report = import_package(ctx, import_job.package or b"", entrusting_unit=entrusting, agency_unit=agency,
                                actor=_actor(ctx, import_job), accept_valid_rows=True)
        result = _checked(report.to_dict())
    except HeduiError as exc:
        result = {"accepted": False, "problems": [_problem(exc.message)], "valid": [], "invalid": []}
    finally:
        savepoint.rollback()
        del ctx.after_commit_jobs[queued:]  # jobs the dry run asked for never happen
    import_job.report = result
    import_job.progress = 100
    if result["valid"]:
        import_job.status = ImportJobStatus.VALIDATED
    else:
        # nothing could be imported whatever the user chose: the package is done with
        import_job.status, import_job.package, import_job.finished_at = ImportJobStatus.REFUSED, None, ctx.now()
    ctx.session.flush()


def _problem(message: str) -> dict[str, Any]:
    return {"file": "（数据包）", "row": None, "field": None, "message": message, "household": None}


def _checked(report: dict[str, Any]) -> dict[str, Any]:
    """The dry run's report without what only a real import has (numbers handed out and rolled back)."""
    return {"accepted": report["accepted"], "problems": report["problems"],
            "valid": report["imported"], "invalid": report["skipped"] if report["accepted"] else sorted(
                {p["household"] for p in report["problems"] if p.get("household")})}


def run(ctx: EngineContext, import_job: ImportJob) -> None:
    """Import with the user's choice; the package is dropped once its households are cases."""
    entrusting, agency = _units(ctx, import_job)
    savepoint = ctx.session.begin_nested()
    try:
        report = import_package(ctx, import_job.package or b"", entrusting_unit=entrusting, agency_unit=agency,
                                actor=_actor(ctx, import_job), accept_valid_rows=import_job.accept_valid_rows)
        import_job.report = report.to_dict()
        savepoint.commit()
    except HeduiError as exc:
        savepoint.rollback()
        import_job.report = {"accepted": False, "problems": [_problem(exc.message)]}
        import_job.status, import_job.message = ImportJobStatus.FAILED, exc.message
    else:
        import_job.status = ImportJobStatus.IMPORTED if report.accepted else ImportJobStatus.REFUSED
        if report.accepted:
            import_job.package = None  # the scans now live with their cases
    import_job.progress = 100
    import_job.finished_at = ctx.now()
    ctx.session.flush()


def _as_job(ctx: EngineContext, job_id: int, expected: ImportJobStatus, step: Any) -> str:
    import_job = _locked(ctx, job_id)
    if import_job is None or import_job.status is not expected:
        # delivered twice, or the user discarded it meanwhile: nothing to do
        return "skipped"
    try:
        step(ctx, import_job)
    except Exception:
        logger.exception("Import job %s failed while %s", job_id, expected.value)
        ctx.session.rollback()
        import_job = _locked(ctx, job_id)
        if import_job is None:
            raise
        import_job.status, import_job.message, import_job.progress = ImportJobStatus.FAILED, FAILED, 100
        import_job.finished_at = ctx.now()
        ctx.session.flush()
    return import_job.status.value


@job("cases.check_package")
def check_package_job(ctx: EngineContext, import_job_id: int) -> str:
    """Check an uploaded package in the background (large packages)."""
    return _as_job(ctx, import_job_id, ImportJobStatus.VALIDATING, check)


@job("cases.import_package")
def import_package_job(ctx: EngineContext, import_job_id: int) -> str:
    """Import a checked package in the background, with the user's choice of ``accept_valid_rows``."""
    return _as_job(ctx, import_job_id, ImportJobStatus.IMPORTING, run)
