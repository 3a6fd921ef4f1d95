"""检查与部署 pages: upload BPMN/DMN files, see the lint findings, deploy what was checked with a 部署说明.

The check page carries the exact checked bytes in hidden fields (base64) and the session remembers
their content hash; the deploy re-validates and refuses content that changed since the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

import forms
from engine.bpmn_lint import LintReport
from engine.bpmn_lint import lint_files
from engine.errors import ConflictError
from engine.errors import DeploymentError
from engine.errors import ValidationError
from web.db import get_ctx
from web.designer_edit import files as uploads
from web.designer_edit import flow
from web.designer_edit.blueprint import bp


@bp.get("/")
def index() -> ResponseReturnValue:
    return _index()


def _index(problems: list[uploads.FileProblem] | None = None, accepted: list[str] | None = None,
           message: str | None = None, status: int = 200) -> ResponseReturnValue:
    """The upload form and the processes the modeler can open; after a refusal, the names and why."""
    return render_template("designer_edit/index.html", processes=flow.current_processes(), problems=problems or [],
                           accepted=accepted or [], message=message, max_files=uploads.MAX_FILES,
                           max_mb=uploads.MAX_FILE_BYTES // (1024 * 1024)), status


@bp.post("/check")
def check() -> ResponseReturnValue:
    uploaded = [(_base_name(f.filename or ""), _read(f)) for f in request.files.getlist("files") if f.filename]
    files, problems = uploads.validate(uploaded)
    if problems:
        return _index(problems, sorted(files), "上传的文件有误，未做检查；请改正后重新上传全部文件", 422)
    report, checked_hash = flow.check(files)
    return _check_page(files, report, checked_hash)


def _read(upload: FileStorage) -> bytes:
    """The upload's bytes; its spooled temporary file is closed at once (large uploads live on disk)."""
    try:
        return upload.stream.read()
    finally:
        upload.close()


def _base_name(name: str) -> str:
    """Some browsers send the whole client path: keep the file's own name (the problem check still sees it)."""
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _check_page(files: Mapping[str, bytes], report: LintReport, checked_hash: str | None, *,
                reason: str = "", errors: dict[str, list[str]] | None = None, message: str | None = None,
                status: int = 200) -> ResponseReturnValue:
    carried = [{"name": name, "content": uploads.encode(content), "size": len(content)}
               for name, content in sorted(files.items())]
    return render_template("designer_edit/check.html", report=report, files=carried, checked_hash=checked_hash,
                           form={"reason": reason}, errors=errors or {}, message=message,
                           max_reason=uploads.MAX_REASON_CHARS), status


@bp.post("/deploy")
def deploy() -> ResponseReturnValue:
    files, problems = uploads.decode(request.form.getlist("file_name"), request.form.getlist("file_content"))
    if problems:
        return _index(problems, [], problems[0].message, 422)
    checked_hash = request.form.get("checked_hash", "")
    reason = request.form.get("reason", "")
    try:
        results = flow.deploy(files, checked_hash, reason)
    except ConflictError as exc:
        unchecked = [uploads.FileProblem(name, "请重新上传并检查") for name in sorted(files)]
        return _index(unchecked, [], exc.message, 409)
    except (ValidationError, DeploymentError) as exc:
        report = lint_files(get_ctx(), files)
        fields = exc.details.get("fields", {}) if isinstance(exc.details.get("fields"), dict) else {}
        return _check_page(files, report, checked_hash if report.ok else None, reason=reason,
                           errors={k: [v] for k, v in fields.items()}, message=exc.message, status=422)
    return render_template("designer_edit/result.html", results=results, reason=reason.strip(),
                           designer_url="/designer/")


@bp.get("/model/new")
def model_new() -> ResponseReturnValue:
    return _model_page(None, url_for("designer_edit.source_new"))


@bp.get("/model/<process_id>")
def model(process_id: str) -> ResponseReturnValue:
    source = flow.source_of(process_id)  # 404 before the page, not in the script
    return _model_page(source, url_for("designer_edit.source", process_id=process_id))


def _model_page(source: flow.Source | None, source_url: str) -> ResponseReturnValue:
    config: dict[str, Any] = {
        "source": source_url, "check": url_for("designer_edit.check_json"),
        "deploy": url_for("designer_edit.deploy_json"), "designer": "/designer/",
        "formKeys": forms.form_keys(), "roles": flow.role_choices(), "maxReason": uploads.MAX_REASON_CHARS,
    }
    return render_template("designer_edit/model.html", source=source, config=config)
