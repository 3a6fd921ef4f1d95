"""The exchange officer's page and its actions; every action is one service call and one commit.

A refusal (dual control, window, bad package) rolls the request back and is shown in Chinese
on the page; nothing of a refused package is kept.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import send_file
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine.context import Actor
from engine.errors import HeduiError
from engine.exchange import queries
from engine.exchange.batches import BATCH_STATUS_NAMES
from engine.exchange.batches import confirm_batch
from engine.exchange.batches import prepare_batch
from engine.exchange.catalogue import MODE_NAMES
from engine.exchange.control import officer_scope
from engine.exchange.delays import record_delay_notice
from engine.exchange.media_mode import export_batch
from engine.exchange.media_mode import stage_package
from engine.exchange.officers import filed_officers
from engine.exchange.results import confirm_import
from engine.exchange.results import overdue_requests
from engine.models.exchange import BatchStatus
from engine.models.exchange import ExchangeRequest
from forms.base import whole_number
from web.db import get_ctx
from web.exchange.blueprint import bp
from web.inbox.views import local_time
from web.login import has_role

MAX_PACKAGE_BYTES = 200 * 1024 * 1024


def _officer() -> Actor:
    if not has_role("exchange_officer"):
        abort(403)
    return Actor(current_user.username, "exchange_officer", current_user.id)


def _attempt(action: Callable[[], Any], ok: str) -> bool:
    """Run one action; on a refusal undo everything and show why."""
    try:
        action()
    except HeduiError as exc:
        if not exc.commit:  # a refusal that is its own record (SD-3 officer check) keeps that record
            get_ctx().session.rollback()
        flash(exc.message, "error")
        return False
    flash(ok, "success")
    return True


@bp.get("/")
def index() -> str:
    _officer()
    ctx = get_ctx()
    scope = officer_scope(ctx, current_user.id)
    return render_template(
        "exchange/index.html", open_units=queries.units_with_open_requests(ctx, scope),
        prepared=queries.batches(ctx, scope, BatchStatus.PREPARED),
        confirmed=queries.batches(ctx, scope, BatchStatus.CONFIRMED),
        sent=queries.batches(ctx, scope, BatchStatus.SENT), staged=queries.staged_imports(ctx, scope),
        waiting=queries.waiting_requests(ctx, scope), overdue=queries.in_scope(overdue_requests(ctx), scope),
        officers=filed_officers(ctx, {sharing for sharing, _agency in scope}, ctx.today()),
        mode_names=MODE_NAMES,
        status_names=BATCH_STATUS_NAMES, me=current_user.username, local_time=local_time)


@bp.post("/batches")
def prepare() -> ResponseReturnValue:
    actor, ctx = _officer(), get_ctx()
    unit, mode = request.form.get("unit", ""), request.form.get("mode") or None
    _attempt(lambda: prepare_batch(ctx, unit, actor=actor, mode=mode), "已组织交换批次，请另一名交换人员确认")
    return redirect(url_for("exchange.index"))


@bp.post("/batches/<int:batch_id>/confirm")
def confirm(batch_id: int) -> ResponseReturnValue:
    actor, ctx = _officer(), get_ctx()
    _attempt(lambda: confirm_batch(ctx, batch_id, actor=actor), "已确认交换批次")
    return redirect(url_for("exchange.index"))


@bp.post("/batches/<int:batch_id>/export")
def export(batch_id: int) -> ResponseReturnValue:
    """Write the encrypted package and hand it to the browser (the batch is then 已导出)."""
    actor, ctx = _officer(), get_ctx()
    out = io.BytesIO()
    names: list[str] = []
    if not _attempt(lambda: names.append(export_batch(ctx, batch_id, out, actor=actor)), "已导出加密交换包"):
        return redirect(url_for("exchange.index"))
    out.seek(0)
    return send_file(out, mimetype="application/octet-stream", as_attachment=True, download_name=names[0])


@bp.post("/imports")
def upload() -> ResponseReturnValue:
    actor, ctx = _officer(), get_ctx()
    upload = request.files.get("package")
    if upload is None or not upload.filename:
        flash("请选择反馈数据包文件", "error")
        return redirect(url_for("exchange.index"))
    data = upload.read(MAX_PACKAGE_BYTES + 1)
    if len(data) > MAX_PACKAGE_BYTES:
        flash("数据包过大", "error")
        return redirect(url_for("exchange.index"))
    batch_id = request.form.get("batch_id", "")
    staged: list[Any] = []
    if _attempt(lambda: staged.append(stage_package(ctx, io.BytesIO(data), actor=actor,
                                                    batch_id=whole_number(batch_id))),
                "反馈数据包校验通过"):
        flash(f"已暂存 {staged[0].record_count} 条反馈记录（批次 {staged[0].batch.batch_no}），"
              "须由另一名交换人员确认后才进入案件", "info")
    return redirect(url_for("exchange.index"))


@bp.post("/imports/<int:import_id>/confirm")
def confirm_upload(import_id: int) -> ResponseReturnValue:
    actor, ctx = _officer(), get_ctx()
    _attempt(lambda: confirm_import(ctx, import_id, actor=actor), "已确认导入，反馈结果已进入各案件")
    return redirect(url_for("exchange.index"))


@bp.post("/delays")
def delay() -> ResponseReturnValue:
    actor, ctx = _officer(), get_ctx()
    request_id = request.form.get("request_id", "")
    days = request.form.get("days", "")
    document = request.files.get("document")
    content = document.read() if document is not None else b""
    request_number, days_number = whole_number(request_id), whole_number(days, most=999)
    target = ctx.session.get(ExchangeRequest, request_number) if request_number is not None else None
    if target is None:
        flash("请选择交换请求", "error")
        return redirect(url_for("exchange.index"))
    _attempt(lambda: record_delay_notice(
        ctx, target, days=-1 if days_number is None else days_number, reason=request.form.get("reason", ""),
        document_name=document.filename if document is not None and document.filename else "", document=content,
        actor=actor, officer=request.form.get("officer", "")), "已登记书面延期说明，反馈期限已顺延")
    return redirect(url_for("exchange.index"))
