"""Re-verification through the API: individual rechecks (PS-9, PS-13, DO-8) and batches (PS-8).

Deciding and recording the result are ordinary tasks (``/api/v1/tasks/{id}/complete``); the
service behind them issues the 复核委托书 and starts the linked verification case.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Response
from flask import jsonify
from flask import request
from sqlalchemy import select

import forms
from engine.context import Actor
from engine.documents.printing import render_recheck_document
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import Recheck
from engine.models import RecheckBatch
from engine.models.case import Household
from engine.models.complaint import Complaint
from engine.reports.service import current_report
from engine.services import recheck_batches
from engine.services import rechecks
from forms.jsonschema import json_schema
from web.api.blueprint import bp
from web.api.inputs import PAGE_PARAMETERS
from web.api.inputs import actor_in
from web.api.inputs import body_unit
from web.api.inputs import cursor_arg
from web.api.inputs import json_body
from web.api.inputs import limit_arg
from web.api.inputs import no_body
from web.api.openapi import BEARER
from web.api.openapi import NO_BODY
from web.api.openapi import json_request
from web.api.openapi import operation
from web.auth import api_login_required
from web.auth import current_api_user
from web.cases.queries import viewer_unit
from web.db import get_ctx
from web.downloads import file_response
from web.rechecks.access import recheck_for_document
from web.rechecks.access import visible_recheck
from web.rechecks.jobs import stale_minutes

FORM_FIELDS = ("trigger", "requester_name", "requested_on", "reason", "notified_on")
CASE_NO_LIMIT = 64
TEXT_LIMITS = {"title": 200, "entrustment_number": 64}
BATCH_FIELDS = ("entrusting_unit", "agency_unit", "title", "case_nos", "entrustment_number")


def recheck_dict(recheck: Recheck) -> dict[str, Any]:
    """A recheck as the API shows it: the 复核表 and its links (no personal data beyond the requester's name)."""
    ctx = get_ctx()
    verification = recheck.verification_household
    decide = ctx.session.execute(select(HumanTask.id).where(
        HumanTask.instance_id == recheck.instance_id, HumanTask.status == HumanTaskStatus.OPEN)).scalars().first()
    report = current_report(ctx, verification.case_no) if verification is not None else None
    return {
        "recheck_no": recheck.number, "status": recheck.status.value, "trigger": recheck.trigger.value,
        "case_no": recheck.original_household.case_no, "original_instance_id": recheck.original_instance_id,
        "instance_id": recheck.instance_id, "initiating_unit": recheck.initiating_unit.code,
        "deciding_unit": recheck.deciding_unit.code, "requester_name": recheck.requester_name,
        "requested_on": recheck.requested_on.isoformat(), "reason": recheck.reason,
        "notified_on": recheck.notified_on.isoformat() if recheck.notified_on else None,
        "objection_deadline": recheck.objection_deadline.isoformat() if recheck.objection_deadline else None,
        "refusal_code": recheck.refusal_code, "decision_reason": recheck.decision_reason,
        "agency_unit": recheck.agency_unit.code if recheck.agency_unit else None,
        "entrustment": recheck.entrustment.number if recheck.entrustment else None,
        "verification_case_no": verification.case_no if verification else None,
        "result": recheck.result, "report_no": recheck.report_no, "report_id": report.report.id if report else None,
        "overdue": rechecks.is_overdue(ctx, recheck),
        "open_task_id": decide,
        # AU-2: the complaint (举报投诉登记) the recheck was referred from
        "complaint_no": ctx.session.execute(select(Complaint.number).where(
            Complaint.recheck_id == recheck.id)).scalars().first(),
    }


@bp.post("/api/v1/rechecks")
@api_login_required
def create_recheck() -> tuple[Response, int]:
    body = json_body(("case_no", "initiating_unit", *FORM_FIELDS))
    ctx = get_ctx()
    unit = body_unit(body, "initiating_unit")
    actor = actor_in(unit.id, rechecks.INITIATOR_ROLES)
    form = {k: body[k] for k in FORM_FIELDS if k in body}
    case_no = body.get("case_no")
    if not isinstance(case_no, str) or not 1 <= len(case_no) <= CASE_NO_LIMIT:
        raise ValidationError(fields={"case_no": ["请填写原核对业务编号"]})
    recheck = rechecks.file_recheck(ctx, case_no=case_no, form=form, initiating_unit=unit,
                                    actor=actor)
    return jsonify(recheck_dict(recheck)), 201


@bp.get("/api/v1/rechecks")
@api_login_required
def list_rechecks() -> Response:
    """The caller's rechecks, newest first, ``limit`` per page; ``next_cursor`` fetches the next page."""
    ctx = get_ctx()
    household_id = None
    case_no = request.args.get("case_no")
    if case_no:
        household_id = ctx.session.execute(select(Household.id).where(Household.case_no == case_no)).scalar()
        if household_id is None:
            return jsonify({"items": [], "next_cursor": None})
    page, more = rechecks.list_rechecks(ctx, user_id=current_api_user().id, original_household_id=household_id,
                                        before_id=cursor_arg(), limit=limit_arg())
    return jsonify({"items": [recheck_dict(r) for r in page], "next_cursor": None if more is None else str(more)})


@bp.get("/api/v1/rechecks/<recheck_no>")
@api_login_required
def get_recheck(recheck_no: str) -> Response:
    return jsonify(recheck_dict(visible_recheck(get_ctx(), current_api_user().id, recheck_no)))


@bp.get("/api/v1/rechecks/<recheck_no>/documents/<which>.pdf")
@api_login_required
def recheck_document(recheck_no: str, which: str) -> Response:
    """The 复核表 or 复核委托书 as PDF (DO-8): same jurisdiction and duty rules as the recheck page; recorded."""
    ctx = get_ctx()
    user = current_api_user()
    recheck = recheck_for_document(ctx, user.id, recheck_no, which)
    rendered = render_recheck_document(ctx, recheck, which, actor=Actor(user.username, None, user.id),
                                       viewer=user.display_name,
                                       unit=viewer_unit(ctx, user.id, recheck.original_household),
                                       printing=False, via="api")
    return file_response(rendered.content, f"{which}-{recheck.id}.pdf")


# --- batches ------------------------------------------------------------------------------------------------


def batch_dict(batch: RecheckBatch, *, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "batch_no": batch.number, "id": batch.id, "title": batch.title, "status": batch.status.value,
        "source": batch.source, "entrusting_unit": batch.entrusting_unit.code, "agency_unit": batch.agency_unit.code,
        "entrustment": batch.entrustment.number if batch.entrustment else None, "total": batch.total,
        "started": batch.started, "failed": batch.failed, "pending": batch.pending, "progress": batch.progress,
        "interrupted": recheck_batches.is_interrupted(get_ctx(), batch, stale_minutes=stale_minutes())}
    if detail:
        report = recheck_batches.batch_status(get_ctx(), batch)
        out.update(stages=report.stages, overdue=report.overdue, finished=report.finished,
                   failed_rows=report.failed_rows)
    return out


def _batch(number: str) -> RecheckBatch:
    ctx = get_ctx()
    batch = ctx.session.execute(select(RecheckBatch).where(RecheckBatch.number == number)).scalar_one_or_none()
    if batch is None or not recheck_batches.batch_visible_to(ctx, current_api_user().id, batch):
        raise NotFoundError("批量复核批次不存在", batch_no=number)
    return batch


@bp.post("/api/v1/recheck-batches")
@api_login_required
def create_batch() -> tuple[Response, int]:
    body = json_body(BATCH_FIELDS)
    ctx = get_ctx()
    entrusting, agency = body_unit(body, "entrusting_unit"), body_unit(body, "agency_unit")
    actor = actor_in(entrusting.id, recheck_batches.BATCH_ROLES)
    case_nos = body.get("case_nos")
    if case_nos is not None and not (isinstance(case_nos, list)
                                     and all(isinstance(c, str) and len(c) <= CASE_NO_LIMIT for c in case_nos)):
        raise ValidationError(fields={"case_nos": ["须为核对业务编号的列表"]})
    texts = {name: body.get(name) for name in ("title", "entrustment_number")}
    wrong = {name: [f"应为不超过 {TEXT_LIMITS[name]} 字的文本"] for name, value in texts.items()
             if value is not None and (not isinstance(value, str) or len(value) > TEXT_LIMITS[name])}
    if wrong:
        raise ValidationError(fields=wrong)
    batch = recheck_batches.create_batch(
        ctx, entrusting_unit=entrusting, agency_unit=agency, title=texts["title"] or "", actor=actor,
        case_nos=case_nos, entrustment_number=None if case_nos is not None else texts["entrustment_number"])
    return jsonify(batch_dict(batch)), 202


@bp.get("/api/v1/recheck-batches/<batch_no>")
@api_login_required
def get_batch(batch_no: str) -> Response:
    return jsonify(batch_dict(_batch(batch_no), detail=True))


@bp.post("/api/v1/recheck-batches/<batch_no>/pause")
@api_login_required
def pause_batch(batch_no: str) -> Response:
    return _batch_command(batch_no, recheck_batches.pause_batch)


@bp.post("/api/v1/recheck-batches/<batch_no>/resume")
@api_login_required
def resume_batch(batch_no: str) -> Response:
    return _batch_command(batch_no, partial(recheck_batches.resume_batch, stale_minutes=stale_minutes()))


def _batch_command(batch_no: str, command: Callable[..., RecheckBatch]) -> Response:
    """Pause or resume: no body, the entrusting unit's batch staff only."""
    no_body()
    batch = _batch(batch_no)
    actor = actor_in(batch.entrusting_unit_id, recheck_batches.BATCH_ROLES)
    return jsonify(batch_dict(command(get_ctx(), batch.id, actor=actor)))


_JSON = {"application/json": {"schema": {"type": "object"}}}


def _recheck_body() -> dict[str, Any]:
    """The 复核表 form (``forms/recheck_form.py``) with the case and the initiating unit."""
    schema = json_schema(forms.get_schema("recheck_form"))
    schema["properties"] |= {"case_no": {"type": "string", "maxLength": CASE_NO_LIMIT, "description": "原核对业务编号"},
                             "initiating_unit": {"type": "string", "description": "发起部门单位代码"}}
    schema["required"] = sorted({*schema.get("required", []), "case_no", "initiating_unit"})
    return schema


_BATCH_BODY = {"type": "object", "required": ["entrusting_unit", "agency_unit"], "additionalProperties": False,
               "properties": {"entrusting_unit": {"type": "string", "description": "委托部门单位代码"},
                              "agency_unit": {"type": "string", "description": "核对机构单位代码"},
                              "title": {"type": "string", "maxLength": TEXT_LIMITS["title"]},
                              "case_nos": {"type": "array", "items": {"type": "string", "maxLength": CASE_NO_LIMIT},
                                           "description": "复核名单：核对业务编号"},
                              "entrustment_number": {"type": "string", "maxLength": TEXT_LIMITS["entrustment_number"],
                                                     "description": "或：已导入数据包的委托书编号（无 case_nos 时）"}}}
operation("post", "/rechecks", summary="发起个案复核：提交复核表（PS-9、DO-8）；异议须在告知之日起 30 日内（PS-13）",
          security=BEARER, requestBody=json_request(_recheck_body()),
          responses={"201": {"description": "复核编号、状态与待决定任务", "content": _JSON},
                     "403": {"description": "不是发起部门的经办人员（role_required）"},
                     "404": {"description": "案件不存在或不在辖区"},
                     "409": {"description": "该户已有正在办理的复核（recheck_open）"},
                     "422": {"description": "复核表有误（form_invalid），"
                                            "或异议逾期不予受理（objection_late，拒绝已记录）"}})
operation("get", "/rechecks", summary="复核列表（可按 case_no 过滤；仅辖区内；新的在前，按 next_cursor 翻页）",
          security=BEARER,
          parameters=[{"name": "case_no", "in": "query", "schema": {"type": "string"}}, *PAGE_PARAMETERS],
          responses={"200": {"description": "{items: [...], next_cursor: 下一页游标或 null}", "content": _JSON},
                     "422": {"description": "limit 或 cursor 有误"}})
operation("get", "/rechecks/{recheck_no}", summary="复核详情：复核表、决定、复核委托书、关联核对案件与结果",
          security=BEARER,
          responses={"200": {"description": "复核", "content": _JSON}, "404": {"description": "不存在或不在辖区"}})
operation("get", "/rechecks/{recheck_no}/documents/{which}.pdf",
          summary="复核表（which=recheck_form）或复核委托书（which=recheck_entrustment）PDF（DO-8；带查看人水印；下载将被记录）",
          security=BEARER,
          parameters=[{"name": "which", "in": "path", "required": True,
                       "schema": {"enum": ["recheck_form", "recheck_entrustment"]}}],
          responses={"200": {"description": "PDF", "content": {"application/pdf": {
                         "schema": {"type": "string", "format": "binary"}}}},
                     "403": {"description": "在本复核中没有需要完整身份证号码的职责（duty_required）"},
                     "404": {"description": "不存在、不在辖区，或尚未出具复核委托书"}})
operation("post", "/recheck-batches",
          summary="创建批量复核批次（PS-8）：case_nos 名单或 entrustment_number（已导入的数据包）；后台分批启动",
          security=BEARER, requestBody=json_request(_BATCH_BODY),
          responses={"202": {"description": "批次（后台启动中）", "content": _JSON},
                     "403": {"description": "不是委托部门的救助经办人"}, "422": {"description": "名单为空或单位有误"}})
operation("get", "/recheck-batches/{batch_no}", summary="批次进度：各环节数量、逾期、已结束、失败行及原因",
          security=BEARER,
          responses={"200": {"description": "批次", "content": _JSON}, "404": {"description": "不存在"}})
operation("post", "/recheck-batches/{batch_no}/pause", summary="暂停批次（当前分块完成后停止）", security=BEARER,
          requestBody=NO_BODY,
          responses={"200": {"description": "批次"}, "409": {"description": "当前不能暂停"}})
operation("post", "/recheck-batches/{batch_no}/resume", summary="继续已暂停或已中断（interrupted）的批次",
          security=BEARER,
          requestBody=NO_BODY,
          responses={"200": {"description": "批次"}, "409": {"description": "批次未暂停也未中断"}})
