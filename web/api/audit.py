"""Auditors' API: a case's history (JSON or CSV export) and its replay; every look is itself recorded."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from engine import audit
from engine.clock import LOCAL_TZ
from engine.context import Actor
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.models import WorkflowInstance
from web.api.openapi import BEARER
from web.api.openapi import NO_BODY
from web.api.openapi import operation
from web.auth import current_api_user
from web.db import get_ctx
from web.downloads import file_response

_FORMATS = ("csv", "json")
CSV_HEADER = ["序号", "时间（北京时间）", "事件类型", "事件", "操作人", "姓名", "角色", "单位", "步骤", "步骤名称",
              "流程", "流程版本", "流程定义哈希", "摘要", "提交内容（JSON）", "事件哈希"]


def _auditing(instance_id: int) -> tuple[WorkflowInstance, Actor]:
    """The case, if the caller may audit it (404 outside the jurisdiction, 403 without a duty)."""
    ctx = get_ctx()
    instance = ctx.session.get(WorkflowInstance, instance_id)
    if instance is None:
        raise NotFoundError("案件不存在", instance_id=instance_id)
    user = current_api_user()
    role = audit.assert_can_audit(ctx, user.id, instance)
    return instance, Actor(user.username, role, user.id)


def _kinds() -> list[str]:
    return [k.strip() for raw in request.args.getlist("kind") for k in raw.split(",") if k.strip()]


def case_history(instance_id: int) -> Response:
    """``GET /cases/{case_no}/history`` (``web/api/cases.py``) once the case is known."""
    fmt = request.args.get("format")
    if fmt is not None and fmt not in _FORMATS:
        raise ValidationError("format 只能是 csv 或 json", fields={"format": ["只能是 csv 或 json"]})
    instance, actor = _auditing(instance_id)
    ctx = get_ctx()
    kinds, who = _kinds(), request.args.get("actor") or None
    rows = audit.timeline(ctx, instance.id, kinds=kinds, actor=who)
    filters = {"kind": kinds, "actor": who}
    if fmt is None:
        audit.record_access(ctx, "audit_viewed", instance, actor=actor, view="history", filters=filters)
        return jsonify(history_body(instance, rows))
    audit.record_access(ctx, "history_exported", instance, actor=actor, format=fmt, filters=filters, rows=len(rows))
    name = f"case-{instance.id}-history.{fmt}"
    if fmt == "json":
        content = json.dumps(history_body(instance, rows), ensure_ascii=False, indent=2)
        return file_response(content, name, mimetype="application/json; charset=utf-8")
    return file_response(history_csv(rows), name, mimetype="text/csv; charset=utf-8")


def history_body(instance: WorkflowInstance, rows: list[audit.TimelineRow]) -> dict[str, Any]:
    return {"instance_id": instance.id, "business_key": instance.business_key, "process_id": instance.process_id,
            "items": [r.to_dict() for r in rows]}


def history_csv(rows: list[audit.TimelineRow]) -> str:
    out = io.StringIO()
    out.write("\ufeff")  # so spreadsheet programs read the Chinese as UTF-8
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow([_cell(v) for v in (
            r.seq, r.occurred_at.astimezone(LOCAL_TZ).isoformat(), r.kind, r.kind_name, r.actor, r.actor_name,
            r.role_name or r.actor_role, r.unit_name, r.bpmn_id, r.task_name, r.process_id, r.definition_version,
            r.definition_hash, r.summary,
            json.dumps(r.payload, ensure_ascii=False, sort_keys=True) if r.payload is not None else "", r.hash)])
    return out.getvalue()


def _cell(value: Any) -> Any:
    # a cell starting like a formula would run in a spreadsheet (CSV injection); the JSON export keeps it as is
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def case_replay(instance_id: int) -> Response:
    """``POST /cases/{case_no}/replay`` (``web/api/cases.py``) once the case is known."""
    instance, actor = _auditing(instance_id)
    ctx = get_ctx()
    with_steps = request.args.get("steps") in ("1", "true")
    result = audit.replay_instance(ctx, instance.id, steps=with_steps)
    audit.record_access(ctx, "audit_viewed", instance, actor=actor, view="replay", consistent=result.consistent)
    body = result.to_dict()
    if with_steps:
        body["snapshots"] = [s.to_dict() for s in result.snapshots]
    return jsonify(body)


_ID = {"name": "case_no", "in": "path", "required": True, "schema": {"type": "string"},
       "description": "案件编号；或流程实例号（整数，如 GET /tasks 返回的 instance_id）"}
operation("get", "/cases/{case_no}/history", summary="案件时间线（审计；查阅与导出均留痕）", security=BEARER,
          parameters=[
              _ID,
              {"name": "kind", "in": "query", "description": "只看某些事件类型（可重复或用逗号分隔）",
               "schema": {"type": "string"}},
              {"name": "actor", "in": "query", "description": "只看某个操作人（用户名）", "schema": {"type": "string"}},
              {"name": "format", "in": "query", "description": "导出：csv（含中文表头）或 json",
               "schema": {"type": "string", "enum": list(_FORMATS)}},
          ],
          responses={"200": {"description": "事件按序排列：操作人、角色、单位、时间、流程版本、提交内容",
                             "content": {"application/json": {"schema": {"type": "object"}},
                                         "text/csv": {"schema": {"type": "string"}}}},
                     "403": {"description": "既非审计监督员，也非承办单位工作人员"},
                     "404": {"description": "案件不存在或不在管辖范围内"}})
operation("post", "/cases/{case_no}/replay", summary="按事件日志重放案件并与存储状态比对", security=BEARER,
          requestBody=NO_BODY,
          parameters=[_ID, {"name": "steps", "in": "query", "description": "1：同时返回每一步之后的状态",
                            "schema": {"type": "string", "enum": ["1"]}}],
          responses={"200": {"description": '{"consistent": true|false, "steps": N, "first_divergence": {...}|null}',
                             "content": {"application/json": {"schema": {
                                 "type": "object", "required": ["consistent", "steps", "first_divergence"],
                                 "properties": {"consistent": {"type": "boolean"}, "steps": {"type": "integer"},
                                                "first_divergence": {"type": ["object", "null"]}}}}}},
                     "403": {"description": "既非审计监督员，也非承办单位工作人员"},
                     "404": {"description": "案件不存在或不在管辖范围内"}})
