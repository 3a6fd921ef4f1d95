"""批量复核 pages (PS-8): create a batch from an uploaded list or an imported package, follow its progress.

Starting the households is the background job ``rechecks.run_batch`` (chunks, resumable);
the batch page shows progress and counts and polls ``…/status`` (JSON) while it runs, and
offers pause / resume.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import abort
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from engine.context import Actor
from engine.errors import HeduiError
from engine.errors import ValidationError
from engine.models import Membership
from engine.models import RecheckBatch
from engine.models import Unit
from engine.models import UnitKind
from engine.models.recheck import BATCH_STATUS_NAMES
from engine.services import recheck_batches
from web.db import get_ctx
from web.home.schemas import field_errors
from web.inbox.views import local_time
from web.rechecks.blueprint import bp
from web.rechecks.jobs import stale_minutes

MAX_UPLOAD = 5 * 1024 * 1024


def _my_units() -> list[Unit]:
    return list(get_ctx().session.execute(
        select(Unit).join(Membership, Membership.unit_id == Unit.id)
        .where(Membership.user_id == current_user.id).distinct().order_by(Unit.code)).scalars())


def _departments() -> list[Unit]:
    """Where the user may create batches: their units in which they are an assistance officer."""
    return list(get_ctx().session.execute(
        select(Unit).join(Membership, Membership.unit_id == Unit.id)
        .where(Membership.user_id == current_user.id, Membership.role_code.in_(recheck_batches.BATCH_ROLES),
               Unit.kind == UnitKind.ENTRUSTING_DEPARTMENT).distinct().order_by(Unit.code)).scalars())


def _agencies() -> list[Unit]:
    return list(get_ctx().session.execute(select(Unit).where(
        Unit.kind == UnitKind.VERIFICATION_AGENCY, Unit.is_active.is_(True)).order_by(Unit.code)).scalars())


def read_case_numbers(content: bytes) -> list[str]:
    """The case numbers of an uploaded list: CSV/text, one per row, first column; a header row is skipped."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(fields={"file": ["名单须为 UTF-8 编码的 CSV 或文本文件"]}) from None
    rows = [r[0].strip() for r in csv.reader(io.StringIO(text)) if r and r[0].strip()]
    if rows and not rows[0].upper().startswith("HD-"):
        rows = rows[1:]  # a header such as 核对业务编号 / case_no
    return rows


@bp.get("/batches")
def batches() -> str:
    # linked from an imported data package's page: its 委托书 number is filled in
    return _list_page({"entrustment_number": request.args.get("entrustment_number", "")[:60]}, {}, None)


@bp.post("/batches")
def create_batch() -> ResponseReturnValue:
    ctx = get_ctx()
    form = request.form.to_dict()
    departments, agencies = _departments(), _agencies()
    entrusting = next((u for u in departments if str(u.id) == form.get("entrusting_unit")), None)
    agency = next((u for u in agencies if str(u.id) == form.get("agency_unit")), None)
    errors: dict[str, list[str]] = {}
    if entrusting is None:
        errors["entrusting_unit"] = ["请选择委托部门"]
    if agency is None:
        errors["agency_unit"] = ["请选择受托核对机构"]
    upload = request.files.get("file")
    number = (form.get("entrustment_number") or "").strip()
    try:
        case_nos = read_case_numbers(upload.read(MAX_UPLOAD + 1)) if upload and upload.filename else None
        if case_nos is None and not number:
            errors["file"] = ["请上传在册家庭名单，或填写已导入数据包的委托书编号"]
        if errors:
            raise ValidationError(fields=errors)
        assert entrusting is not None and agency is not None
        batch = recheck_batches.create_batch(
            ctx, entrusting_unit=entrusting, agency_unit=agency, title=form.get("title", ""),
            actor=Actor(current_user.username, "assistance_officer", current_user.id), case_nos=case_nos,
            entrustment_number=number if case_nos is None else None)
    except HeduiError as exc:
        return _list_page(form, field_errors(exc) if isinstance(exc, ValidationError) else {}, exc.message), 422
    return redirect(url_for("rechecks.batch", batch_id=batch.id))


def _list_page(form: dict[str, Any], errors: dict[str, list[str]], message: str | None) -> str:
    units = [u.id for u in _my_units()]
    departments = _departments()
    return render_template("rechecks/batches.html", batches=recheck_batches.list_batches(get_ctx(), units),
                           departments=departments, department_options=[(str(u.id), u.name) for u in departments],
                           agency_options=[(str(u.id), u.name) for u in _agencies()], form=form, errors=errors,
                           message=message, status_names=BATCH_STATUS_NAMES, local_time=local_time)


def _visible_batch(batch_id: int) -> RecheckBatch:
    ctx = get_ctx()
    batch = ctx.session.get(RecheckBatch, batch_id)
    if batch is None or not recheck_batches.batch_visible_to(ctx, current_user.id, batch):
        abort(404)
    return batch


@bp.get("/batches/<int:batch_id>")
def batch(batch_id: int) -> str:
    record = _visible_batch(batch_id)
    ctx = get_ctx()
    report = recheck_batches.batch_status(ctx, record)
    can_act = any(u.id == record.entrusting_unit_id for u in _departments())
    interrupted = recheck_batches.is_interrupted(ctx, record, stale_minutes=stale_minutes())
    return render_template("rechecks/batch.html", batch=record, report=report, status_names=BATCH_STATUS_NAMES,
                           can_act=can_act, local_time=local_time, interrupted=interrupted,
                           running=record.status.value in ("pending", "running") and not interrupted)


@bp.get("/batches/<int:batch_id>/status")
def batch_status(batch_id: int) -> ResponseReturnValue:
    record = _visible_batch(batch_id)
    return jsonify({"status": record.status.value, "status_name": BATCH_STATUS_NAMES[record.status.value],
                    "progress": record.progress, "started": record.started, "failed": record.failed,
                    "pending": record.pending, "total": record.total})


@bp.post("/batches/<int:batch_id>/<action>")
def batch_action(batch_id: int, action: str) -> ResponseReturnValue:
    record = _visible_batch(batch_id)
    if action not in ("pause", "resume") or not any(u.id == record.entrusting_unit_id for u in _departments()):
        abort(404 if action not in ("pause", "resume") else 403)
    actor = Actor(current_user.username, "assistance_officer", current_user.id)
    if action == "pause":
        recheck_batches.pause_batch(get_ctx(), record.id, actor=actor)
    else:
        recheck_batches.resume_batch(get_ctx(), record.id, actor=actor, stale_minutes=stale_minutes())
    return redirect(url_for("rechecks.batch", batch_id=record.id))
