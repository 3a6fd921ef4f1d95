"""Cross-city verification through the API (跨地市核对, PS-7): batches and gathering now.

Reviewing and relaying are ordinary tasks of the batch's process (``/api/v1/tasks/{id}/complete``
with the forms ``cross_city_review`` and ``cross_city_relay``); the service behind them returns
refused requests, entrusts the province and relays its reports.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify

from engine.context import Actor
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.models.escalation import CrossCityBatch
from engine.models.escalation import Escalation
from engine.services import cross_city
from engine.services import cross_city_queries as queries
from web.api.blueprint import bp
from web.api.inputs import optional_json_body
from web.api.openapi import BEARER
from web.api.openapi import operation
from web.auth import api_login_required
from web.auth import current_api_user
from web.db import get_ctx


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def request_dict(escalation: Escalation) -> dict[str, Any]:
    """A request with its steps (no personal data: case numbers and unit codes only)."""
    return {
        "number": escalation.number, "status": escalation.status.value, "origin_agency": escalation.origin_agency.code,
        "case_no": escalation.origin_household.case_no, "items": list(escalation.items), "reason": escalation.reason,
        "raised_at": _iso(escalation.raised_at), "raised_by": escalation.raised_by, "due_at": _iso(escalation.due_at),
        "upper_case_no": escalation.upper_household.case_no if escalation.upper_household else None,
        "returned_at": _iso(escalation.returned_at),
        "steps": [{"at": _iso(s.at), "status": s.status.value, "unit": s.unit.code, "actor": s.actor, "note": s.note}
                  for s in escalation.steps],
    }


def batch_dict(batch: CrossCityBatch, *, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "batch_no": batch.number, "status": batch.status.value, "city_agency": batch.city_agency.code,
        "province_agency": batch.province_agency.code, "requests": len(batch.escalations),
        "created_at": _iso(batch.created_at), "created_by": batch.created_by, "reviewed_at": _iso(batch.reviewed_at),
        "reviewed_by": batch.reviewed_by, "review_note": batch.review_note,
        "entrustment": batch.entrustment.number if batch.entrustment else None, "finished_at": _iso(batch.finished_at),
        "instance_id": batch.instance_id}
    if detail:
        view = queries.batch_view(get_ctx(), batch)
        out.update(overdue=view.overdue, reports_due=_iso(view.reports_due),
                   open_tasks=[{"id": t.id, "bpmn_id": t.bpmn_id, "name": t.name} for t in view.open_tasks],
                   requests=[request_dict(e) for e in
                             queries.visible_requests(get_ctx(), current_api_user().id, batch)])
    return out


@bp.get("/api/v1/cross-city/batches")
@api_login_required
def list_cross_city_batches() -> Response:
    ctx = get_ctx()
    units = queries.unit_ids_of(ctx, current_api_user().id)
    return jsonify({"items": [batch_dict(b) for b in queries.list_batches(ctx, units)]})


@bp.get("/api/v1/cross-city/batches/<batch_no>")
@api_login_required
def get_cross_city_batch(batch_no: str) -> Response:
    batch = queries.get_batch(get_ctx(), batch_no, user_id=current_api_user().id)
    return jsonify(batch_dict(batch, detail=True))


@bp.post("/api/v1/cross-city/gather")
@api_login_required
def gather_cross_city() -> tuple[Response, int]:
    """Gather now: the caller's city agencies (or ``city_agency``, a unit code) where they are review officer or
    supervisor."""
    body = optional_json_body(("city_agency",))
    user = current_api_user()
    ctx = get_ctx()
    units = queries.gathering_units(ctx, user.id)
    chosen = body.get("city_agency")
    if chosen is not None:
        if not isinstance(chosen, str):
            raise ValidationError(fields={"city_agency": ["须为单位代码"]})
        units = [u for u in units if u.code == chosen]
    if not units:
        raise PermissionDeniedError("只有市级核对机构的审核复审员或科室负责人可以汇总跨地市核对请求",
                                    code="role_required", roles=list(cross_city.GATHER_ROLES))
    batches = [b for unit in units for b in cross_city.gather_requests(
        ctx, city_agency=unit, actor=Actor(user.username, queries.gathering_role(ctx, user.id, unit), user.id))]
    return jsonify({"batches": [batch_dict(b) for b in batches]}), 201 if batches else 200


_JSON = {"application/json": {"schema": {"type": "object"}}}
operation("get", "/cross-city/batches", summary="跨地市核对批次：本单位汇总（市级）或受托（省级）的批次（PS-7）",
          security=BEARER, responses={"200": {"description": "{items: [...]}", "content": _JSON}})
operation("get", "/cross-city/batches/{batch_no}",
          summary="批次详情：各项请求、所在单位与每一步经过、委托书、最迟报告期限、是否逾期、待办环节", security=BEARER,
          responses={"200": {"description": "批次", "content": _JSON},
                     "404": {"description": "不存在或不在辖区（batch_not_found）"}})
operation("post", "/cross-city/gather",
          summary="立即汇总：把本市级核对机构待汇总的跨地市核对请求汇总为一个批次（另有周期任务 cross_city.gather）",
          security=BEARER,
          requestBody={"required": False, "content": {"application/json": {"schema": {
              "type": "object", "additionalProperties": False,
              "properties": {"city_agency": {"type": "string", "description": "市级核对机构单位代码（可选）"}}}}}},
          responses={"201": {"description": "{batches: [...]}：新建的批次", "content": _JSON},
                     "200": {"description": "{batches: []}：没有待汇总的请求", "content": _JSON},
                     "403": {"description": "不是市级核对机构的审核复审员或科室负责人（role_required）"},
                     "422": {"description": "请求体有误（invalid_json、validation_error）"}})
