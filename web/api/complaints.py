"""Complaints (举报投诉, AU-2) through the API: the list, one complaint, and registering one from an external channel.

``POST /api/v1/complaints`` is the online channel's door (portal, WeChat, Weibo): an API token of an
officer (assistance_officer / street_clerk) of the receiving civil-affairs department registers the
complaint, channel ``online`` unless stated. A retried call with the same ``Idempotency-Key`` header
returns the first registration (200 instead of 201). Triage — ``POST …/{number}/refer`` (转复核),
``…/dismiss`` (不予受理) and ``…/close`` (答复办结) — runs the same engine service as the web page, for
the receiving unit's officers. Lists follow jurisdiction and carry the start of the content only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from engine.context import Actor
from engine.errors import ValidationError
from engine.models.complaint import CHANNEL_NAMES
from engine.models.complaint import STATUS_NAMES
from engine.models.complaint import Complaint
from engine.services import complaint_queries
from engine.services import complaints
from web.api.blueprint import bp
from web.api.inputs import PAGE_PARAMETERS
from web.api.inputs import body_unit
from web.api.inputs import cursor_arg
from web.api.inputs import date_arg
from web.api.inputs import json_body
from web.api.inputs import limit_arg
from web.api.openapi import BEARER
from web.api.openapi import operation
from web.auth import api_login_required
from web.auth import current_api_user
from web.complaints.views import excerpt
from web.db import get_ctx

FORM_FIELDS = ("channel", "channel_detail", "received_at", "complainant_name", "complainant_contact", "case_no",
               "subject_text", "content")
KEY_LIMIT = 100


def complaint_dict(complaint: Complaint, *, full: bool = False) -> dict[str, Any]:
    """A complaint as the API shows it; the content, complainant and replies only for one complaint (``full``)."""
    out: dict[str, Any] = {
        "number": complaint.number, "status": complaint.status.value,
        "status_name": STATUS_NAMES[complaint.status.value], "channel": complaint.channel.value,
        "received_at": complaint.received_at.isoformat(), "unit": complaint.unit.code,
        "unit_name": complaint.unit.name, "case_no": complaint.case_no,
        "recheck_no": complaint.recheck.number if complaint.recheck else None,
        "age_working_days": complaints.age_in_working_days(get_ctx(), complaint),
    }
    if not full:
        out["content_excerpt"] = excerpt(complaint.content)
        return out
    return {**out, "channel_detail": complaint.channel_detail, "complainant_name": complaint.complainant_name,
            "complainant_contact": complaint.complainant_contact, "subject_text": complaint.subject_text,
            "content": complaint.content, "registered_at": complaint.registered_at.isoformat(),
            "registered_by": complaint.registered_by, "registered_via": complaint.registered_via,
            "triaged_at": complaint.triaged_at.isoformat() if complaint.triaged_at else None,
            "triaged_by": complaint.triaged_by, "dismiss_reason": complaint.dismiss_reason,
            "closed_at": complaint.closed_at.isoformat() if complaint.closed_at else None,
            "closed_by": complaint.closed_by, "reply": complaint.reply}



def _choice_arg(name: str, choices: dict[str, str]) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in choices:
        raise ValidationError(fields={name: [f"须为 {'、'.join(choices)} 之一"]})
    return value


@bp.get("/api/v1/complaints")
@api_login_required
def list_complaints() -> Response:
    """The caller's jurisdiction, newest first; ``next_cursor`` fetches the next page."""
    page, more = complaint_queries.list_complaints(
        get_ctx(), user_id=current_api_user().id, status=_choice_arg("status", STATUS_NAMES),
        channel=_choice_arg("channel", CHANNEL_NAMES), received_from=date_arg("received_from"),
        received_to=date_arg("received_to"), before_id=cursor_arg(), limit=limit_arg())
    return jsonify({"items": [complaint_dict(c) for c in page], "next_cursor": None if more is None else str(more)})


@bp.get("/api/v1/complaints/<complaint_no>")
@api_login_required
def get_complaint(complaint_no: str) -> Response:
    ctx, user = get_ctx(), current_api_user()
    complaint = complaint_queries.visible_complaint(ctx, user.id, complaint_no)
    complaint_queries.record_viewed(ctx, complaint, Actor(user.username, None, user.id), via="api")
    return jsonify(complaint_dict(complaint, full=True))


@bp.post("/api/v1/complaints")
@api_login_required
def create_complaint() -> tuple[Response, int]:
    ctx = get_ctx()
    user = current_api_user()
    body = json_body((*FORM_FIELDS, "receiving_unit"))
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key.strip()) <= KEY_LIMIT:
        raise ValidationError(f"Idempotency-Key 须为 1–{KEY_LIMIT} 个字符", code="invalid_idempotency_key")
    unit = body_unit(body, "receiving_unit")
    form = {k: body[k] for k in FORM_FIELDS if k in body and body[k] is not None}
    complaint, created = complaints.register_online(ctx, unit=unit, form=form,
                                                    actor=Actor(user.username, None, user.id),
                                                    idempotency_key=key.strip() if key else None)
    return jsonify(complaint_dict(complaint, full=True)), 201 if created else 200


#: triage action → (the fields its body may carry, the service call)
_TRIAGE: dict[str, tuple[tuple[str, ...], Callable[..., Complaint]]] = {
    "refer": (("case_no", "reason"), lambda ctx, no, actor, body: complaints.refer_complaint(
        ctx, no, actor=actor, case_no=body.get("case_no"), reason=body.get("reason"))),
    "dismiss": (("reason",), lambda ctx, no, actor, body: complaints.dismiss_complaint(
        ctx, no, reason=body.get("reason") or "", actor=actor)),
    "close": (("reply",), lambda ctx, no, actor, body: complaints.close_complaint(
        ctx, no, reply=body.get("reply") or "", actor=actor)),
}


@bp.post("/api/v1/complaints/<complaint_no>/refer")
@api_login_required
def refer_complaint(complaint_no: str) -> Response:
    return _triage(complaint_no, "refer")


@bp.post("/api/v1/complaints/<complaint_no>/dismiss")
@api_login_required
def dismiss_complaint(complaint_no: str) -> Response:
    return _triage(complaint_no, "dismiss")


@bp.post("/api/v1/complaints/<complaint_no>/close")
@api_login_required
def close_complaint(complaint_no: str) -> Response:
    return _triage(complaint_no, "close")


def _triage(complaint_no: str, action: str) -> Response:
    """转复核 / 不予受理 / 答复办结 (AU-2): 403 for anyone but the receiving unit's officers, 409 from a wrong state."""
    ctx, user = get_ctx(), current_api_user()
    complaint_queries.visible_complaint(ctx, user.id, complaint_no)  # 404 outside the jurisdiction
    allowed, run = _TRIAGE[action]
    body = json_body(allowed)
    texts = {k: v for k, v in body.items() if v is not None}
    wrong = sorted(k for k, v in texts.items() if not isinstance(v, str))
    if wrong:
        raise ValidationError(fields={name: ["应为文本"] for name in wrong})
    complaint = run(ctx, complaint_no, Actor(user.username, None, user.id), texts)
    return jsonify(complaint_dict(complaint, full=True))


_JSON = {"application/json": {"schema": {"type": "object"}}}
operation("get", "/complaints", summary="举报投诉（AU-2）：辖区内的登记（内容仅开头）", security=BEARER, parameters=[
              {"name": "status", "in": "query", "schema": {"enum": list(STATUS_NAMES)}},
              {"name": "channel", "in": "query", "schema": {"enum": list(CHANNEL_NAMES)}},
              {"name": "received_from", "in": "query", "schema": {"type": "string", "format": "date"}},
              {"name": "received_to", "in": "query", "schema": {"type": "string", "format": "date"},
               "description": "收到日期（北京时间，含两端）"},
              *PAGE_PARAMETERS],
          responses={"200": {"description": "items 与 next_cursor", "content": _JSON},
                     "422": {"description": "状态、渠道或日期无效"}})
operation("get", "/complaints/{complaint_no}", summary="一条举报投诉（含举报人与办理经过）", security=BEARER,
          parameters=[{"name": "complaint_no", "in": "path", "required": True, "schema": {"type": "string"}}],
          responses={"200": {"description": "举报投诉", "content": _JSON},
                     "404": {"description": "不存在或不在辖区"}})
operation("post", "/complaints",
          summary="登记举报投诉（网上渠道：门户网站、微信、微博等外部系统）；"
                  "转复核、不予受理、办结见 /complaints/{complaint_no}/refer 等",
          security=BEARER,
          parameters=[{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": KEY_LIMIT},
                       "description": "同一受理单位下重复提交同一键值时返回首次登记（200）"}],
          requestBody={"required": True, "content": {"application/json": {"schema": {
              "type": "object", "required": ["receiving_unit", "received_at", "content"],
              "properties": {
                  "receiving_unit": {"type": "string", "description": "受理单位代码（民政部门）"},
                  "channel": {"enum": list(CHANNEL_NAMES), "default": "online"},
                  "channel_detail": {"type": "string", "maxLength": 100},
                  "received_at": {"type": "string", "format": "date-time", "description": "未注明时区的按北京时间"},
                  "complainant_name": {"type": "string", "maxLength": 50, "description": "留空为匿名"},
                  "complainant_contact": {"type": "string", "maxLength": 100},
                  "case_no": {"type": "string", "description": "受理单位辖区内的核对业务编号"},
                  "subject_text": {"type": "string", "maxLength": 500, "description": "不知道业务编号时：姓名、住址"},
                  "content": {"type": "string", "maxLength": 2000}}}}}},
          responses={"201": {"description": "已登记", "content": _JSON},
                     "200": {"description": "同一 Idempotency-Key 的首次登记", "content": _JSON},
                     "403": {"description": "须为受理单位的经办人员（role_required）"},
                     "422": {"description": "逐字段的错误（form_invalid）"}})
_TEXT = {"type": "string", "maxLength": 2000}
_TRIAGE_DOC = {"refer": ("转复核：按举报内容发起个案复核（无案件编号的须填写 case_no；reason 默认举报内容）",
                         {"case_no": {"type": "string"}, "reason": _TEXT}),
               "dismiss": ("不予受理（须填写 reason）", {"reason": _TEXT}),
               "close": ("答复办结（待处理或已转复核的，须填写 reply）", {"reply": _TEXT})}
for _action, (_summary, _properties) in _TRIAGE_DOC.items():
    operation("post", f"/complaints/{{complaint_no}}/{_action}", summary=f"举报投诉{_summary}；受理单位经办人员办理",
              security=BEARER,
              parameters=[{"name": "complaint_no", "in": "path", "required": True, "schema": {"type": "string"}}],
              requestBody={"required": True, "content": {"application/json": {"schema": {
                  "type": "object", "properties": _properties, "additionalProperties": False}}}},
              responses={"200": {"description": "办理后的举报投诉", "content": _JSON},
                         "403": {"description": "不是受理单位的经办人员"}, "404": {"description": "不存在或不在辖区"},
                         "409": {"description": "当前状态不能如此办理"}, "422": {"description": "逐字段的中文意见"}})
