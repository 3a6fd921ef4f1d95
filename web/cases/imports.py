"""Batch import of an electronic data package (DO-6, docs/data-package.md): upload, report, choose, import.

1. Upload: the zip is kept with an :class:`~engine.models.ImportJob` and checked (a dry run
   of the import); the report lists every problem by file, row and column.
2. The user reads the report and chooses: import everything (only when nothing is wrong),
   import exactly the valid households (``accept_valid_rows``, only when they tick it), or
   discard the package.
3. Packages above :data:`BACKGROUND_BYTES` are checked and imported by background jobs; the
   progress page polls ``…/status`` (JSON) until the job is done.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from flask import Response
from flask import abort
from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from engine.errors import ConflictError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.models import ImportJob
from engine.models import ImportJobStatus
from engine.models import Unit
from engine.models.draft import PENDING_IMPORT_STATUSES
from engine.services.packages import MAX_PACKAGE_BYTES
from engine.services.packages import TABLES
from web.cases import importing
from web.cases import package_template
from web.cases import queries
from web.cases.blueprint import bp
from web.cases.schemas import ImportRunSchema
from web.db import get_ctx
from web.downloads import file_response
from web.home.schemas import load_form
from web.inbox.views import local_time
from web.intake.queries import county_agency

logger = logging.getLogger(__name__)

#: packages larger than this are checked and imported in the background (bytes of the zip)
BACKGROUND_BYTES = 2 * 1024 * 1024
STATUS_NAMES = {
    "validating": "正在校验", "validated": "校验完成，请确认是否导入", "importing": "正在导入", "imported": "已导入",
    "refused": "未导入（存在问题）", "failed": "处理失败", "discarded": "已放弃",
}
RECENT_JOBS = 10


def _units() -> list[Unit]:
    units = queries.entrusting_units(get_ctx().session, current_user.id)
    if not units:
        raise PermissionDeniedError("仅委托单位的经办人可以导入电子数据包", code="role_required")
    return units


def _own_job(job_id: int) -> ImportJob:
    import_job = get_ctx().session.get(ImportJob, job_id)
    if import_job is None or import_job.user_id != current_user.id:
        raise NotFoundError("导入任务不存在", import_job_id=job_id)
    return import_job


def _recent() -> list[ImportJob]:
    return list(get_ctx().session.execute(
        select(ImportJob).where(ImportJob.user_id == current_user.id)
        .order_by(ImportJob.created_at.desc(), ImportJob.id.desc()).limit(RECENT_JOBS)
    ).scalars())


def _upload_page(units: list[Unit], errors: dict[str, list[str]], message: str | None) -> str:
    return render_template("cases/import.html", units=[(str(u.id), u.name) for u in units], errors=errors,
                           message=message, jobs=_recent(), status_names=STATUS_NAMES, local_time=local_time,
                           xlsx=package_template.HAS_XLSX, tables=TABLES)


@bp.get("/import")
def import_package() -> str:
    return _upload_page(_units(), {}, None)


@bp.post("/import")
def upload_package() -> ResponseReturnValue:
    ctx = get_ctx()
    units = _units()
    chosen = {str(u.id): u for u in units}
    unit = chosen.get(request.form.get("unit_id", "")) if len(units) > 1 else units[0]
    upload = request.files.get("package")
    errors: dict[str, list[str]] = {}
    if unit is None:
        errors["unit_id"] = ["请选择委托单位"]
    content = upload.stream.read(MAX_PACKAGE_BYTES + 1) if upload and upload.filename else b""
    if not content:
        errors["package"] = ["请选择要上传的数据包（zip 文件）"]
    elif len(content) > MAX_PACKAGE_BYTES:
        errors["package"] = [f"数据包超过 {MAX_PACKAGE_BYTES // (1024 * 1024)} MB"]
    agency = county_agency(ctx.session, unit) if unit is not None else None
    if unit is not None and agency is None:
        errors["unit_id"] = ["未找到本单位所在县（市、区）的核对机构，请联系系统管理员"]
    if errors or unit is None or agency is None or upload is None:
        return _upload_page(units, errors, "数据包未能上传，请按提示处理"), 422
    import_job = ImportJob(
        user_id=current_user.id, entrusting_unit_id=unit.id, agency_unit_id=agency.id,
        status=ImportJobStatus.VALIDATING, progress=0, accept_valid_rows=False,
        filename=(upload.filename or "package.zip")[-255:], size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), package=content, created_at=ctx.now())
    ctx.session.add(import_job)
    ctx.session.flush()
    logger.info("Data package %s (%s bytes) uploaded by %s for %s", import_job.sha256[:12], len(content),
                current_user.username, unit.code)
    if len(content) > BACKGROUND_BYTES:
        ctx.enqueue_after_commit("cases.check_package", import_job_id=import_job.id)
    else:
        importing.check(ctx, import_job)
    return redirect(url_for("cases.import_job", job_id=import_job.id))


@bp.get("/import/<int:job_id>")
def import_job(job_id: int) -> str:
    import_job = _own_job(job_id)
    report: dict[str, Any] = import_job.report or {}
    return render_template(
        "cases/import_job.html", job=import_job, report=report, problems=report.get("problems") or [],
        pending=import_job.status in PENDING_IMPORT_STATUSES, status_names=STATUS_NAMES, local_time=local_time,
        units=queries.unit_names(get_ctx().session, [import_job.entrusting_unit_id, import_job.agency_unit_id]))


@bp.get("/import/<int:job_id>/status")
def import_status(job_id: int) -> Response:
    """What the progress page polls (JSON)."""
    import_job = _own_job(job_id)
    report = import_job.report or {}
    return jsonify({
        "id": import_job.id, "status": import_job.status.value, "status_name": STATUS_NAMES[import_job.status.value],
        "progress": import_job.progress, "finished": import_job.status not in PENDING_IMPORT_STATUSES,
        "problems": len(report.get("problems") or []), "case_nos": report.get("case_nos") or [],
        "url": url_for("cases.import_job", job_id=import_job.id)})


@bp.post("/import/<int:job_id>/run")
def run_import(job_id: int) -> ResponseReturnValue:
    ctx = get_ctx()
    import_job = _own_job(job_id)
    if import_job.status is not ImportJobStatus.VALIDATED:
        raise ConflictError("该数据包不在待确认导入的状态，请刷新页面", code="import_not_ready")
    try:
        accept_valid_rows = load_form(ImportRunSchema(), request.form)["accept_valid_rows"]
    except ValidationError:
        abort(400)
    report = import_job.report or {}
    if report.get("problems") and not accept_valid_rows:
        flash("数据包存在问题：请修正后重新上传，或勾选「仅导入校验通过的家庭」后再导入", "error")
        return redirect(url_for("cases.import_job", job_id=job_id))
    if not report.get("valid"):
        flash("没有可以导入的家庭，请修正数据包后重新上传", "error")
        return redirect(url_for("cases.import_job", job_id=job_id))
    import_job.accept_valid_rows = accept_valid_rows
    import_job.status, import_job.progress = ImportJobStatus.IMPORTING, 0
    ctx.session.flush()
    if import_job.size > BACKGROUND_BYTES:
        ctx.enqueue_after_commit("cases.import_package", import_job_id=import_job.id)
    else:
        importing.run(ctx, import_job)
        _flash_result(import_job)
    return redirect(url_for("cases.import_job", job_id=job_id))


def _flash_result(import_job: ImportJob) -> None:
    report = import_job.report or {}
    if import_job.status is ImportJobStatus.IMPORTED:
        imported = len(report.get("case_nos") or [])
        flash(f"已导入 {imported} 户，委托书编号 {report.get('entrustment_number')}", "success")
    else:
        flash("数据包未导入，请查看问题清单", "error")


@bp.post("/import/<int:job_id>/discard")
def discard_import(job_id: int) -> ResponseReturnValue:
    import_job = _own_job(job_id)
    if import_job.status is not ImportJobStatus.VALIDATED:
        raise ConflictError("该数据包已不能放弃", code="import_not_ready")
    import_job.status, import_job.package = ImportJobStatus.DISCARDED, None
    import_job.finished_at = get_ctx().now()
    flash("已放弃该数据包，上传的文件已删除", "success")
    return redirect(url_for("cases.import_package"))


@bp.get("/import/template/<name>")
def import_template(name: str) -> Response:
    """Blank tables to fill in: ``households.csv``, ``persons.csv``, ``documents.csv``, ``manifest.json``, or
    all of them as one workbook (``template.xlsx``, when openpyxl is installed)."""
    found = package_template.render(name)
    if found is None:
        raise NotFoundError("模板不存在")
    content, mimetype = found
    return file_response(content, name, mimetype=mimetype)
