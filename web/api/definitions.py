"""Deployed process definitions over the API: processes, versions with history, one version, files, diff.

The same readers as the 流程定义 pages (``DEFINITION_READERS``: process designers, auditors,
administrators); definitions hold no personal data, so reading is not recorded. Deploying and
linting are in ``web/api/definition_deploy.py``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from engine.bpmn_diff import DefinitionDiff
from engine.errors import PermissionDeniedError
from engine.services import definitions as defs
from web.api.blueprint import bp
from web.api.openapi import BEARER
from web.api.openapi import operation
from web.auth import api_login_required
from web.auth import current_api_user
from web.db import get_ctx
from web.designer.blueprint import REFUSED
from web.designer.schemas import load_compare
from web.downloads import file_response

_BASE = "/api/v1/process-definitions"


def _reader() -> None:
    if not defs.may_read(get_ctx(), current_api_user().id):
        raise PermissionDeniedError(REFUSED, code="definition_role_required", roles=list(defs.DEFINITION_READERS))


def _iso(when: datetime) -> str:
    return when.isoformat()


@bp.get(_BASE)
@api_login_required
def list_definitions() -> Response:
    _reader()
    return jsonify({"items": [
        {"process_id": p.process_id, "name": p.name, "current_version": p.current_version, "versions": p.versions,
         "last_deployed_at": _iso(p.last_deployed_at), "last_deployed_by": p.last_deployed_by,
         "last_deployed_by_name": p.last_deployed_by_name, "running": p.counts.running, "ended": p.counts.ended}
        for p in defs.list_processes(get_ctx())]})


@bp.get(f"{_BASE}/<process_id>")
@api_login_required
def get_definition(process_id: str) -> Response:
    _reader()
    detail = defs.get_process(get_ctx(), process_id)
    return jsonify({
        "process_id": detail.process_id, "name": detail.name,
        "current_version": detail.current.version if detail.current else None,
        "versions": [{"version": v.version, "name": v.name, "content_hash": v.content_hash, "short_hash": v.short_hash,
                      "deployed_at": _iso(v.deployed_at), "deployed_by": v.deployed_by,
                      "deployed_by_name": v.deployed_by_name, "is_current": v.is_current,
                      "running": v.counts.running, "ended": v.counts.ended} for v in detail.versions],
        "history": [{"kind": h.kind, "kind_name": h.kind_name, "actor": h.actor, "actor_name": h.actor_name,
                     "occurred_at": _iso(h.occurred_at), "version": h.version, "reason": h.reason}
                    for h in detail.history]})


@bp.get(f"{_BASE}/<process_id>/versions/<int:version>")
@api_login_required
def get_definition_version(process_id: str, version: int) -> Response:
    _reader()
    v = defs.get_version(get_ctx(), process_id, version)
    return jsonify({
        "process_id": v.process_id, "version": v.version, "name": v.name, "content_hash": v.content_hash,
        "deployed_at": _iso(v.deployed_at), "deployed_by": v.deployed_by, "deployed_by_name": v.deployed_by_name,
        "is_current": v.is_current, "previous_version": v.previous_version,
        "running": v.counts.running, "ended": v.counts.ended,
        "process_properties": v.process_properties,
        "files": [asdict(f) for f in v.files],
        "user_tasks": [asdict(t) for t in v.user_tasks]})


@bp.get(f"{_BASE}/<process_id>/versions/<int:version>/files/<path:filename>")
@api_login_required
def get_definition_file(process_id: str, version: int, filename: str) -> Response:
    _reader()
    content = defs.get_file(get_ctx(), process_id, version, filename)
    return file_response(content, filename.rsplit("/", 1)[-1], mimetype="application/xml; charset=utf-8")


@bp.get(f"{_BASE}/<process_id>/diff")
@api_login_required
def diff_definition(process_id: str) -> Response:
    _reader()
    old, new = load_compare(request.args)
    diff = defs.compare_versions(get_ctx(), process_id, old, new)
    return jsonify({"process_id": process_id, "from": old, "to": new, **diff_body(diff)})


def diff_body(diff: DefinitionDiff) -> dict[str, Any]:
    """The semantic diff as JSON (the text diff per file too, as ``text_diff``)."""
    return {
        "identical": diff.identical, "summary": diff.summary, "counts": diff.counts,
        "files": [{"filename": f.filename, "status": f.status, "summary": f.summary,
                   "layout_changed": f.layout_changed, "text_diff": f.text_diff,
                   "elements": [{"status": e.status, "element_id": e.element_id, "kind": e.kind,
                                 "kind_name": e.kind_name, "name": e.name,
                                 "changes": [asdict(c) for c in e.changes]} for e in f.elements]}
                  for f in diff.files]}


_PID = {"name": "process_id", "in": "path", "required": True, "schema": {"type": "string"}}
_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_403 = {"description": "不具备查看流程定义的角色（definition_role_required）"}
_404 = {"description": "没有该流程（process_not_found）或该版本（definition_version_not_found）"}
_JSON = {"application/json": {"schema": {"type": "object"}}}
operation("get", "/process-definitions", summary="已部署的流程：当前版本、版本数、最近部署、办理中与已结束案件数",
          security=BEARER, responses={"200": {"description": '{"items": [...]}', "content": _JSON}, "403": _403})
operation("get", "/process-definitions/{process_id}", summary="一个流程的各版本（最新在前）与部署、切换当前版本的记录",
          security=BEARER, parameters=[_PID],
          responses={"200": {"description": "versions 与 history", "content": _JSON}, "403": _403, "404": _404})
operation("get", "/process-definitions/{process_id}/versions/{version}",
          summary="一个版本：文件（名称、SHA-256、大小）、用户任务（泳道角色、formKey、办理时限、岗位分离属性）、流程属性",
          security=BEARER, parameters=[_PID, _VERSION],
          responses={"200": {"description": "版本详情", "content": _JSON}, "403": _403, "404": _404})
operation("get", "/process-definitions/{process_id}/versions/{version}/files/{filename}",
          summary="下载一个版本部署的文件原文（BPMN/DMN XML）", security=BEARER,
          parameters=[_PID, _VERSION,
                      {"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}],
          responses={"200": {"description": "文件原文", "content": {"application/xml": {"schema": {"type": "string"}}}},
                     "403": _403, "404": {"description": "没有该版本或该文件（definition_file_not_found）"}})
operation("get", "/process-definitions/{process_id}/diff",
          summary="两个版本的语义比较：按元素 id 匹配的新增、删除、修改（类型中文名、修改内容），"
                  "仅图形布局变化时 summary 为“仅图形布局变化”；每个文件另附统一格式文本差异",
          security=BEARER, parameters=[
              _PID,
              {"name": "from", "in": "query", "required": True, "schema": {"type": "integer", "minimum": 1},
               "description": "起始版本号"},
              {"name": "to", "in": "query", "required": True, "schema": {"type": "integer", "minimum": 1},
               "description": "目标版本号"}],
          responses={"200": {"description": "语义差异", "content": _JSON}, "403": _403, "404": _404,
                     "422": {"description": "版本号缺失、不是正整数或两者相同（compare_invalid，details.fields）"}})
