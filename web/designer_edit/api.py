"""The modeler's JSON endpoints: the source to open, check and deploy of the edited XML.

Bodies are ``{"files": {"name.bpmn": "<xml text>"}}`` (deploy adds ``checked_hash`` and ``reason``);
errors are ``{"error": code, "message": 中文, "details": {...}}`` with 422 (invalid), 409 (changed since
the check), 403 (not a process designer, see the blueprint) and 404 (no such process).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import jsonify
from flask import request
from flask.typing import ResponseReturnValue

from engine.errors import ValidationError
from web.designer_edit import files as uploads
from web.designer_edit import flow
from web.designer_edit.blueprint import bp

BAD_BODY = "请求内容应为 JSON：{\"files\": {\"文件名.bpmn\": \"XML 文本\"}}"


@bp.post("/check.json")
def check_json() -> ResponseReturnValue:
    files = _files(_body())
    report, checked_hash = flow.check(files)
    return jsonify({**report.as_dict(), "checked_hash": checked_hash})


@bp.post("/deploy.json")
def deploy_json() -> ResponseReturnValue:
    body = _body()
    files = _files(body)
    checked_hash, reason = body.get("checked_hash"), body.get("reason")
    if not isinstance(checked_hash, str) or not isinstance(reason, str):
        message = "缺少 checked_hash 或 reason"
        raise ValidationError(message, code="invalid_request",
                              fields={k: "必填" for k in ("checked_hash", "reason")
                                      if not isinstance(body.get(k), str)})
    results = flow.deploy(files, checked_hash, reason)
    deployed = [{"process_id": r.process_id, "version": r.version, "content_hash": r.content_hash,
                 "created": r.created} for r in results]
    return jsonify({"deployed": deployed}), (201 if any(r.created for r in results) else 200)


@bp.get("/model/<process_id>/source")
def source(process_id: str) -> ResponseReturnValue:
    return jsonify(_source_dict(flow.source_of(process_id)))


@bp.get("/model/new/source")
def source_new() -> ResponseReturnValue:
    return jsonify(_source_dict(flow.blank_source()))


def _source_dict(src: flow.Source) -> dict[str, Any]:
    return {"process_id": src.process_id, "version": src.version, "filename": src.filename,
            "xml": src.files[src.filename], "files": src.files}


def _body() -> Mapping[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError(BAD_BODY, code="invalid_request", fields={"files": BAD_BODY})
    return body


def _files(body: Mapping[str, Any]) -> dict[str, bytes]:
    """The ``files`` object as bytes, validated like an upload (name, size, UTF-8, well-formed XML)."""
    raw = body.get("files")
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, str) for v in raw.values()):
        raise ValidationError(BAD_BODY, code="invalid_files", fields={"files": BAD_BODY})
    files, problems = uploads.validate((str(name), text.encode("utf-8")) for name, text in raw.items())
    if problems:
        raise ValidationError("文件有误，未做检查：" + "；".join(f"{p.filename} {p.message}".strip() for p in problems),
                              code="invalid_files", fields=uploads.field_messages(problems))
    return files
