"""市级审核 on one page (PS-7): every request of the batch accepted or refused with its reason.

The page builds the ``cross_city_review`` form's data (one ``编号 理由`` line per refused request)
and completes the batch's 市级审核 task through the same service as the inbox and the API, so the
same guards (role, jurisdiction, SD-1 for the requesters) and the same validation apply.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from flask import flash
from flask import get_flashed_messages
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from engine.context import Actor
from engine.errors import ConflictError
from engine.errors import FormValidationError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models.escalation import CrossCityBatch
from engine.services import cross_city_queries as queries
from engine.services.instances import complete_task
from web.crosscity.blueprint import bp
from web.crosscity.views import NAMES
from web.db import get_ctx
from web.inbox.casefacts import refusal
from web.inbox.taskform import field_messages

DECISIONS = {"accept": "同意，委托省级核对机构", "refuse": "不同意，退回原核对机构"}


def review_task(batch: CrossCityBatch) -> HumanTask | None:
    """The batch's open 市级审核 task, if any."""
    return get_ctx().session.execute(select(HumanTask).where(
        HumanTask.instance_id == batch.instance_id, HumanTask.bpmn_id == "city_review",
        HumanTask.status == HumanTaskStatus.OPEN)).scalar_one_or_none()


class _RefusedError(Exception):
    """The user may not review this batch (role, SD-1): the task page's 403 with the reason."""

    def __init__(self, task: HumanTask, message: str) -> None:
        super().__init__(message)
        self.task, self.message = task, message


@bp.errorhandler(_RefusedError)
def _refused(exc: _RefusedError) -> ResponseReturnValue:
    return render_template("inbox/forbidden.html", task=exc.task, message=exc.message), 403


def _batch_and_task(number: str) -> tuple[CrossCityBatch, HumanTask]:
    """The batch and its open 市级审核; 404 outside the user's jurisdiction, 403 with the reason (SD-1)
    for someone who may not review it."""
    ctx = get_ctx()
    try:
        batch = queries.get_batch(ctx, number, user_id=current_user.id)
    except NotFoundError:
        abort(404)
    task = review_task(batch)
    if task is None:
        abort(404)
    refused = refusal(ctx, task, current_user.id, current_user.username)
    if refused:
        raise _RefusedError(task, refused)
    return batch, task


@bp.get("/batches/<number>/review")
def review(number: str) -> str:
    batch, task = _batch_and_task(number)
    return _page(batch, task, {}, {}, None)


@bp.post("/batches/<number>/review")
def submit_review(number: str) -> ResponseReturnValue:
    batch, task = _batch_and_task(number)
    form = request.form.to_dict()
    errors: dict[str, list[str]] = {}
    refused = []
    for escalation in batch.escalations:
        decision, reason = form.get(f"decision-{escalation.id}"), (form.get(f"reason-{escalation.id}") or "").strip()
        if decision not in DECISIONS:
            errors[f"decision-{escalation.id}"] = ["请选择同意或不同意"]
        elif decision == "refuse" and not reason:
            errors[f"reason-{escalation.id}"] = ["不同意须说明理由"]
        elif decision == "refuse":
            refused.append(f"{escalation.number} {reason}")
    if errors:
        return _page(batch, task, form, errors, "请逐项选择同意或不同意；不同意须说明理由"), 422
    data: dict[str, Any] = {"refused": refused, "note": form.get("note") or None}
    ctx = get_ctx()
    try:
        complete_task(ctx, task.id, {k: v for k, v in data.items() if v}, actor=Actor(
            current_user.username, task.role_code, current_user.id))
    except FormValidationError as exc:
        return _page(batch, task, form, field_messages(exc.details.get("fields")), exc.message), 422
    except (PermissionDeniedError, ConflictError) as exc:
        if not exc.commit:
            ctx.session.rollback()
        flash(f"审核未成功：{exc.message}", "error")
        return redirect(url_for("crosscity.batch", number=number))
    flash(f"已完成批次 {number} 的市级审核", "success")
    return redirect(url_for("crosscity.batch", number=number))


def _page(batch: CrossCityBatch, task: HumanTask, form: dict[str, str], errors: dict[str, list[str]],
          message: str | None) -> str:
    get_flashed_messages()  # a refusal shown on the batch page is not repeated here
    return render_template("crosscity/review.html", **NAMES, batch=batch, task=task, form=form, errors=errors,
                           message=message, decisions=DECISIONS)
