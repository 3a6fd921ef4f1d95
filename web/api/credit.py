"""Dishonesty records (失信登记, AU-3) through the API: the cross-region lookup, the list and one record.

``POST /api/v1/credit-records/lookup`` (the number in the body, never in a URL) is the linkage of
JL 第二十条: callers who register or accept cases (``engine.services.credit_queries.LOOKUP_ROLES``)
learn whether a record is in force for exactly that person, in any region; the search is recorded
with a keyed hash of the number.
``GET /api/v1/credit-records`` follows jurisdiction and masks ID numbers; one record shows the full
number and its view is recorded like a case view (SEC-12). ``POST …/{number}/decision`` (予以登记 /
不予登记, a second person of the registering department: rule SD-CR) and ``POST …/{number}/revoke``
run the same engine service as the web page; proposing stays on the case's web page (it picks a
person of the case).
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from engine.audit import record_access
from engine.context import Actor
from engine.errors import ValidationError
from engine.history import append_system_event
from engine.models.credit import CREDIT_STATE_NAMES
from engine.models.credit import CreditRecord
from engine.services import credit
from engine.services import credit_queries
from forms.ids import IdNumberError
from forms.ids import parse_id_number
from web.api.blueprint import bp
from web.api.inputs import PAGE_PARAMETERS
from web.api.inputs import cursor_arg
from web.api.inputs import date_arg
from web.api.inputs import json_body
from web.api.inputs import limit_arg
from web.api.openapi import BEARER
from web.api.openapi import operation
from web.auth import api_login_required
from web.auth import current_api_user
from web.cases.access import id_number_hash
from web.db import get_ctx


def credit_dict(record: CreditRecord, *, full: bool = False) -> dict[str, Any]:
    """A record as the API shows it; the full ID number only for one record (``full``), masked otherwise."""
    today = get_ctx().today()
    state = record.state_on(today)
    out: dict[str, Any] = {
        "number": record.number, "state": state, "state_name": CREDIT_STATE_NAMES[state],
        "in_force": record.is_active_on(today), "name": record.name, "id_number_masked": record.masked_id,
        "case_no": record.case_no, "report_no": record.report_no, "recheck_no": record.recheck_no,
        "unit": record.unit.code, "unit_name": record.unit.name, "reason": record.reason.value,
        "reason_detail": record.reason_detail, "legal_basis": record.legal_basis,
        "valid_from": record.valid_from.isoformat(), "valid_to": record.valid_to.isoformat(),
        "proposed_at": record.proposed_at.isoformat(), "proposed_by": record.proposed_by,
        "decided_at": record.decided_at.isoformat() if record.decided_at else None, "decided_by": record.decided_by,
        "decision_note": record.decision_note,
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None, "revoked_by": record.revoked_by,
        "revoke_reason": record.revoke_reason,
    }
    if full:
        out["id_number"] = record.id_number
    return out



@bp.get("/api/v1/credit-records")
@api_login_required
def list_credit_records() -> Response:
    """The caller's jurisdiction, masked. An ID number is never taken from the query string (it would land
    in access logs; refused for every operation: ``web.api.inputs.check_url``): the lookup is
    ``POST /api/v1/credit-records/lookup``."""
    ctx = get_ctx()
    user = current_api_user()
    state = request.args.get("state") or None
    if state is not None and state not in CREDIT_STATE_NAMES:
        raise ValidationError(fields={"state": [f"须为 {'、'.join(CREDIT_STATE_NAMES)} 之一"]})
    page, more = credit_queries.list_records(ctx, user_id=user.id, state=state, period_from=date_arg("period_from"),
                                             period_to=date_arg("period_to"), before_id=cursor_arg(),
                                             limit=limit_arg())
    return jsonify({"items": [credit_dict(r) for r in page], "next_cursor": None if more is None else str(more)})


@bp.post("/api/v1/credit-records/lookup")
@api_login_required
def lookup_credit_records() -> Response:
    """``{"id_number": …}``: the records in force for exactly that person, in any region (JL 第二十条)."""
    ctx = get_ctx()
    user = current_api_user()
    raw = json_body(("id_number",)).get("id_number")
    if not isinstance(raw, str):
        raise ValidationError("请提供身份证号码", code="invalid_id_number", fields={"id_number": ["请提供身份证号码"]})
    try:
        number = parse_id_number(raw.strip(), today=ctx.today()).number
    except IdNumberError as exc:
        raise ValidationError(exc.message, code="invalid_id_number", fields={"id_number": [exc.message]}) from None
    found = credit_queries.lookup_active(ctx, user.id, number)
    append_system_event(ctx, kind="personal_data_searched", actor=Actor(user.username, None, user.id), payload={
        "via": "api", "purpose": "credit_lookup", "id_hash": id_number_hash(number), "results": len(found),
        "credit_records": [r.number for r in found]})
    return jsonify({"items": [credit_dict(r) for r in found]})


@bp.get("/api/v1/credit-records/<number>")
@api_login_required
def get_credit_record(number: str) -> Response:
    ctx = get_ctx()
    user = current_api_user()
    record = credit_queries.visible_record(ctx, user.id, number)
    instance = record.household.instance
    if instance is not None:
        record_access(ctx, "personal_data_viewed", instance, actor=Actor(user.username, None, user.id), via="api",
                      page="credit_record", credit_record=record.number)
    return jsonify(credit_dict(record, full=True))


def _text_body(allowed: tuple[str, ...]) -> dict[str, Any]:
    body = json_body(allowed)
    errors = {name: ["应为文本"] for name in allowed if body.get(name) is not None and not isinstance(body[name], str)}
    if errors:
        raise ValidationError(fields=errors)
    return body


@bp.post("/api/v1/credit-records/<number>/decision")
@api_login_required
def decide_credit_record(number: str) -> Response:
    """AU-3: approve (已登记) or reject (未予登记, with ``note``) a proposed record."""
    ctx, user = get_ctx(), current_api_user()
    credit_queries.visible_record(ctx, user.id, number)  # 404 outside the jurisdiction
    body = _text_body(("decision", "note"))
    if body.get("decision") not in ("approve", "reject"):
        raise ValidationError(fields={"decision": ["请填写 approve（予以登记）或 reject（不予登记）"]})
    record = credit.decide_record(ctx, number, approve=body["decision"] == "approve", note=body.get("note"),
                                  actor=Actor(user.username, None, user.id))
    return jsonify(credit_dict(record, full=True))


@bp.post("/api/v1/credit-records/<number>/revoke")
@api_login_required
def revoke_credit_record(number: str) -> Response:
    """AU-3: revoke a registered record (in force or expired) with ``reason``; it and its history stay."""
    ctx, user = get_ctx(), current_api_user()
    credit_queries.visible_record(ctx, user.id, number)
    body = _text_body(("reason",))
    actor = Actor(user.username, None, user.id)
    record = credit.revoke_record(ctx, number, reason=body.get("reason") or "", actor=actor)
    return jsonify(credit_dict(record, full=True))


_JSON = {"application/json": {"schema": {"type": "object"}}}
operation("get", "/credit-records", summary="失信登记（AU-3）：辖区内的登记（号码打码）", security=BEARER, parameters=[
              {"name": "state", "in": "query",
               "schema": {"enum": list(CREDIT_STATE_NAMES)}, "description": "状态（已到期按日期推算）"},
              {"name": "period_from", "in": "query", "schema": {"type": "string", "format": "date"}},
              {"name": "period_to", "in": "query", "schema": {"type": "string", "format": "date"},
               "description": "与登记期限有交集的登记"},
              *PAGE_PARAMETERS],
          responses={"200": {"description": "items 与 next_cursor", "content": _JSON},
                     "422": {"description": "状态或日期无效；查询串中带身份证号码（id_number_in_query）"}})
operation("post", "/credit-records/lookup",
          summary="失信登记跨地区查询（JL 第二十条）：按身份证号码返回该人当前有效的登记，"
                  "不限辖区（受理、登记案件的人员；查询留痕）",
          security=BEARER,
          requestBody={"required": True, "content": {"application/json": {"schema": {
              "type": "object", "required": ["id_number"],
              "properties": {"id_number": {"type": "string", "description": "18 位身份证号码"}}}}}},
          responses={"200": {"description": "items：有效登记（号码打码）", "content": _JSON},
                     "403": {"description": "须为受理、登记案件的人员（role_required）"},
                     "422": {"description": "身份证号码无效（invalid_id_number）"}})
operation("get", "/credit-records/{number}", summary="一条失信登记（含完整身份证号码；查看留痕）", security=BEARER,
          parameters=[{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}],
          responses={"200": {"description": "登记", "content": _JSON},
                     "404": {"description": "登记不存在或不在辖区"}})
_NUMBER = [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}]
_DECIDED = {"200": {"description": "审批或撤销后的失信登记", "content": _JSON},
            "403": {"description": "不是登记单位的负责人或经办人；或为提出人本人（SD-CR，拒绝留痕）"},
            "404": {"description": "不存在或不在辖区"}, "409": {"description": "当前状态不能如此办理"},
            "422": {"description": "逐字段的中文意见"}}
operation("post", "/credit-records/{number}/decision", summary="审批失信登记：予以登记或不予登记（须填写理由）",
          security=BEARER, parameters=_NUMBER, responses=_DECIDED,
          requestBody={"required": True, "content": {"application/json": {"schema": {
              "type": "object", "required": ["decision"], "additionalProperties": False,
              "properties": {"decision": {"enum": ["approve", "reject"]},
                             "note": {"type": "string", "maxLength": 2000}}}}}})
operation("post", "/credit-records/{number}/revoke", summary="撤销已登记的失信登记（须填写原因，如申诉成立）",
          security=BEARER, parameters=_NUMBER, responses=_DECIDED,
          requestBody={"required": True, "content": {"application/json": {"schema": {
              "type": "object", "required": ["reason"], "additionalProperties": False,
              "properties": {"reason": {"type": "string", "maxLength": 2000}}}}}})
