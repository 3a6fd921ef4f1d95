"""Process designers' API: lint BPMN/DMN files, and deploy them (process designer tools).

``POST /api/v1/process-definitions/lint`` answers a question (200 with the report, errors included);
``POST /api/v1/process-definitions`` deploys — only for holders of ``process_designer``, only when the lint
finds no error (422 ``definition_invalid`` with the findings otherwise, nothing stored), idempotent by content.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import current_app
from flask import jsonify
from sqlalchemy import select

from engine.bpmn_lint import lint_files
from engine.context import Actor
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.models import Membership
from engine.services.deploy import deploy_files
from web.api.blueprint import bp
from web.api.inputs import json_body
from web.api.openapi import BEARER
from web.api.openapi import operation
from web.auth import api_login_required
from web.auth import current_api_user
from web.db import get_ctx

DESIGNER_ROLE = "process_designer"
MAX_FILES = 20
_SUFFIXES = (".bpmn", ".dmn")


def files_from_body() -> dict[str, bytes]:
    """``{"files": {"name.bpmn": "<xml>", ...}}`` as name -> UTF-8 bytes (422 with per-field messages)."""
    files = json_body(("files",)).get("files")
    if not isinstance(files, dict) or not files:
        raise ValidationError("请提供要检查的流程文件", fields={"files": ["须为非空对象：文件名 → XML 文本"]})
    if len(files) > MAX_FILES:
        raise ValidationError(f"一次最多提交 {MAX_FILES} 个文件", fields={"files": [f"最多 {MAX_FILES} 个文件"]})
    limit = int(current_app.config["MAX_CONTENT_LENGTH"])
    problems: dict[str, list[str]] = {}
    out: dict[str, bytes] = {}
    for name, text in files.items():
        field = f"files.{name}"
        if not name.endswith(_SUFFIXES) or len(name) <= 5 or "/" in name or "\\" in name or name.startswith("."):
            problems[field] = ["文件名须以 .bpmn 或 .dmn 结尾，且不含路径"]
        elif not isinstance(text, str) or not text.strip():
            problems[field] = ["须为非空的 XML 文本"]
        elif len(text.encode("utf-8")) > limit:
            problems[field] = [f"文件过大：不能超过 {limit // (1024 * 1024)} MB"]
        else:
            out[name] = text.encode("utf-8")
    if problems:
        raise ValidationError("提交的流程文件有误", fields=problems)
    return out


def _designer() -> Actor:
    """The caller as process designer (403 ``role_required`` for anyone else)."""
    user = current_api_user()
    held = get_ctx().session.execute(select(Membership.id).where(
        Membership.user_id == user.id, Membership.role_code == DESIGNER_ROLE).limit(1)).scalar()
    if held is None:
        raise PermissionDeniedError("只有流程设计人员可以部署流程定义", code="role_required", roles=[DESIGNER_ROLE])
    return Actor(user.username, DESIGNER_ROLE, user.id)


@bp.post("/api/v1/process-definitions/lint")
@api_login_required
def lint_definitions() -> Response:
    """The lint report of the files (200 also when it has errors: nothing is stored)."""
    return jsonify(lint_files(get_ctx(), files_from_body()).as_dict())


@bp.post("/api/v1/process-definitions")
@api_login_required
def deploy_definitions() -> tuple[Response, int]:
    actor = _designer()
    files = files_from_body()
    ctx = get_ctx()
    report = lint_files(ctx, files)
    if not report.ok:
        body: dict[str, Any] = {"error": "definition_invalid",
                                "message": f"流程定义校验未通过：{len(report.errors)} 个错误，未部署任何内容",
                                "findings": [f.as_dict() for f in report.findings]}
        return jsonify(body), 422
    deployed = deploy_files(ctx, files, actor=actor)
    return jsonify({
        "deployed": [{"process_id": d.process_id, "version": d.version, "content_hash": d.content_hash,
                      "created": d.created} for d in deployed],
        "warnings": [f.as_dict() for f in report.warnings],
    }), 201 if any(d.created for d in deployed) else 200


_JSON = {"application/json": {"schema": {"type": "object"}}}
_FILES_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["files"], "additionalProperties": False, "properties": {"files": {
        "type": "object", "minProperties": 1, "maxProperties": MAX_FILES,
        "description": "文件名（*.bpmn / *.dmn，不含路径）→ XML 文本", "additionalProperties": {"type": "string"}}}}}}}
_DEPLOYED = "{deployed: [{process_id, version, content_hash, created}], warnings: [...]}"
_REPORT = ("{ok, processes, errors, warnings, findings: [{severity: error|warning, code, message, filename, "
           "element_id, line}]}")
operation("post", "/process-definitions/lint",
          summary="检查流程定义（BPMN lint）：部署会拒绝的错误与可部署但有风险的警告；不保存任何内容", security=BEARER,
          requestBody=_FILES_BODY,
          responses={"200": {"description": f"检查报告（有错误时也是 200）：{_REPORT}", "content": _JSON},
                     "422": {"description": "请求体有误（invalid_json、validation_error，按字段给出）"}})
operation("post", "/process-definitions",
          summary="部署流程定义（仅流程设计人员）：检查无错误后存为新版本；内容相同则不变", security=BEARER,
          requestBody=_FILES_BODY,
          responses={"201": {"description": _DEPLOYED, "content": _JSON},
                     "200": {"description": "内容与已部署版本相同，未新建版本（同上结构）", "content": _JSON},
                     "403": {"description": "不是流程设计人员（role_required）"},
                     "422": {"description": "检查有错误（definition_invalid，findings 列出全部问题，未部署）"
                                            "或请求体有误（invalid_json、validation_error）"}})
