"""Tokens and the caller's tasks: list, claim, release, complete."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify
from flask import request
from marshmallow import ValidationError as MarshmallowError

import forms
from engine import assignment
from engine.context import Actor
from engine.errors import ValidationError
from engine.models import HumanTask
from engine.services import instances
from engine.services import security
from engine.services import users
from forms.jsonschema import json_schema
from web.api.blueprint import bp
from web.api.inputs import PAGE_PARAMETERS
from web.api.inputs import json_body
from web.api.inputs import limit_arg
from web.api.inputs import no_body
from web.api.openapi import BEARER
from web.api.openapi import NO_BODY
from web.api.openapi import json_request
from web.api.openapi import operation
from web.api.schemas import TaskCompleteSchema
from web.api.schemas import TaskOutSchema
from web.api.schemas import TaskReassignSchema
from web.api.schemas import TokenRequestSchema
from web.auth import api_login_required
from web.auth import bearer_token
from web.auth import current_api_user
from web.db import get_ctx

_task_out = TaskOutSchema()


def _load(schema: Any) -> dict[str, Any]:
    """The body checked by ``schema`` (unknown fields refused by it: ``FormSchema``)."""
    payload = json_body()
    try:
        return dict(schema.load(payload))
    except MarshmallowError as exc:
        raise ValidationError(fields=exc.messages) from exc


def _actor_for(task: HumanTask) -> Actor:
    """The caller acting in the task's role; the services check jurisdiction, role, unit and SoD."""
    user = current_api_user()
    return Actor(user.username, task.role_code, user.id)


def _visible_task(task_id: str) -> HumanTask:
    ctx = get_ctx()
    task = instances.get_task(ctx, task_id)
    user = current_api_user()
    assignment.assert_visible(ctx, task, Actor(user.username, task.role_code, user.id), request.endpoint or "view")
    return task


@bp.post("/api/v1/tokens")
def create_token() -> tuple[Response, int]:
    body = _load(TokenRequestSchema())
    ctx = get_ctx()
    # the same throttle as the browser sign-in; a refused attempt is recorded and committed
    user = security.sign_in(ctx, body["username"], body["password"], ip=request.remote_addr)
    issued = users.issue_token(ctx, user)
    return jsonify({"token": issued.token, "expires_at": issued.expires_at.isoformat()}), 201


@bp.delete("/api/v1/tokens/current")
@api_login_required
def revoke_current_token() -> tuple[str, int]:
    no_body()
    users.revoke_token(get_ctx(), bearer_token() or "")
    return "", 204


@bp.get("/api/v1/tasks")
@api_login_required
def list_tasks() -> Response:
    ctx = get_ctx()
    tasks = instances.list_tasks_for_user(ctx, current_api_user().id, limit=limit_arg())
    return jsonify({"items": _task_out.dump(tasks, many=True)})


@bp.get("/api/v1/tasks/<task_id>")
@api_login_required
def get_task(task_id: str) -> Response:
    task = _visible_task(task_id)
    return jsonify(_task_out.dump(task) | {"candidates": [u.username for u in assignment.candidates(get_ctx(), task)],
                                           "form": _form_schema(task)})


def _form_schema(task: HumanTask) -> dict[str, Any] | None:
    """The task form as JSON Schema, narrowed by the task's ``allowedDecisions``."""
    if not task.form_key:
        return None
    schema = json_schema(forms.get_schema(task.form_key))
    allowed = [d.strip() for d in task.properties.get("allowedDecisions", "").split(",") if d.strip()]
    decision = schema["properties"].get("decision")
    if allowed and decision and "enum" in decision:
        decision["enum"] = [d for d in decision["enum"] if d in allowed]
    return schema


@bp.post("/api/v1/tasks/<task_id>/claim")
@api_login_required
def claim(task_id: str) -> Response:
    no_body()
    task = _visible_task(task_id)
    return jsonify(_task_out.dump(instances.claim_task(get_ctx(), task_id, actor=_actor_for(task))))


@bp.post("/api/v1/tasks/<task_id>/release")
@api_login_required
def release(task_id: str) -> Response:
    no_body()
    task = _visible_task(task_id)
    return jsonify(_task_out.dump(instances.release_task(get_ctx(), task_id, actor=_actor_for(task))))


@bp.post("/api/v1/tasks/<task_id>/complete")
@api_login_required
def complete(task_id: str) -> Response:
    body = _load(TaskCompleteSchema())
    task = _visible_task(task_id)
    return jsonify(_task_out.dump(instances.complete_task(get_ctx(), task_id, body["data"], actor=_actor_for(task))))


@bp.post("/api/v1/tasks/<task_id>/reassign")
@api_login_required
def reassign(task_id: str) -> Response:
    body = _load(TaskReassignSchema())
    ctx = get_ctx()
    task = _visible_task(task_id)
    user = current_api_user()
    target = users.get_user(ctx, body["username"])
    actor = Actor(user.username, "supervisor", user.id)
    reason = (body.get("reason") or "").strip() or None
    return jsonify(_task_out.dump(instances.reassign_task(ctx, task.id, target, actor=actor, reason=reason)))


_TASK = {"application/json": {"schema": {"type": "object"}}}
operation("post", "/tokens", summary="用用户名和密码换取访问令牌", security=[],
          requestBody=json_request(json_schema(TokenRequestSchema())),
          responses={"201": {"description": "令牌（8 小时有效）"}, "401": {"description": "用户名或密码错误"},
                     "429": {"description": "登录失败次数过多，请稍后再试"}})
operation("delete", "/tokens/current", summary="吊销当前令牌", security=BEARER, requestBody=NO_BODY,
          responses={"204": {"description": "已吊销"}})
operation("get", "/tasks", summary="我可办理的待办任务", security=BEARER, parameters=[PAGE_PARAMETERS[0]],
          responses={"200": {"description": "任务列表", "content": _TASK}, "401": {"description": "未登录"}})
operation("get", "/tasks/{task_id}", summary="任务详情", security=BEARER,
          responses={"200": {"description": "任务", "content": _TASK}, "404": {"description": "不存在"}})
_BODIES = {"claim": NO_BODY, "release": NO_BODY,
           "complete": json_request({"type": "object", "additionalProperties": False, "properties": {"data": {
               "type": "object", "description": "任务表单字段：见 GET /tasks/{task_id} 返回的 form（JSON Schema）"}}}),
           "reassign": json_request(json_schema(TaskReassignSchema()))}
for _verb, _summary in (("claim", "认领任务"), ("release", "退回任务到待认领"), ("complete", "提交任务表单并办结"),
                        ("reassign", "科室负责人改派任务（body: {\"username\", \"reason\"（可选）}）")):
    operation("post", f"/tasks/{{task_id}}/{_verb}", summary=_summary, security=BEARER, requestBody=_BODIES[_verb],
              responses={"200": {"description": "任务", "content": _TASK},
                         "403": {"description": "不具备该任务的角色"},
                         "409": {"description": "已被他人认领或办结（并发冲突）"},
                         "422": {"description": "表单校验失败，details.fields 含逐字段中文提示"}})
