"""流程定义 pages: processes, one process's versions and history, one version, comparisons, rollback.

Each page runs a fixed number of statements (engine/services/definitions.py). The diagram is the
deployed file, embedded in the page for ``web/static/diagram.js`` (no second request).
"""

from __future__ import annotations

from typing import Any

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine.context import Actor
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.services import definitions as defs
from web.db import get_ctx
from web.designer.blueprint import bp
from web.designer.schemas import load_compare
from web.downloads import file_response
from web.errors import status_for
from web.home.schemas import field_errors
from web.inbox.views import local_time

ACTIVATE_REFUSED = "只有流程设计员可以切换流程的当前版本"


def _version_options(detail: defs.ProcessDetail) -> list[tuple[str, str]]:
    return [(str(v.version), f"第 {v.version} 版" + ("（当前）" if v.is_current else "")) for v in detail.versions]


def _common() -> dict[str, Any]:
    return {"local_time": local_time, "may_activate": defs.may_activate(get_ctx(), current_user.id),
            "reason_max": defs.REASON_MAX}


@bp.get("/")
def index() -> str:
    return render_template("designer/index.html", processes=defs.list_processes(get_ctx()), **_common())


@bp.get("/processes/<process_id>")
def process(process_id: str) -> str:
    ctx = get_ctx()
    detail = defs.get_process(ctx, process_id)
    current = detail.current
    xml = defs.find_diagram_xml(ctx, process_id, current.version) if current else None
    previous = [v.version for v in detail.versions[1:2]]
    form = {"from": str(previous[0]), "to": str(detail.versions[0].version)} if previous else {}
    return render_template("designer/process.html", detail=detail, diagram={"xml": xml} if xml else None,
                           form=form, errors={}, version_options=_version_options(detail), **_common())


@bp.get("/processes/<process_id>/versions/<int:version>")
def version(process_id: str, version: int) -> str:
    return _version_page(process_id, version, {}, {}, None)


def _version_page(process_id: str, version: int, form: dict[str, str], errors: dict[str, list[str]],
                  message: str | None) -> str:
    detail = defs.get_version(get_ctx(), process_id, version)
    return render_template("designer/version.html", v=detail, form=form, errors=errors, message=message,
                           diagram={"xml": detail.diagram_xml} if detail.diagram_xml else None, **_common())


@bp.get("/processes/<process_id>/versions/<int:version>/files/<path:filename>")
def download(process_id: str, version: int, filename: str) -> ResponseReturnValue:
    content = defs.get_file(get_ctx(), process_id, version, filename)
    name = f"{process_id}_v{version}_{filename.rsplit('/', 1)[-1]}"
    return file_response(content, name, mimetype="application/xml; charset=utf-8")


@bp.get("/processes/<process_id>/compare")
def compare(process_id: str) -> ResponseReturnValue:
    ctx = get_ctx()
    detail = defs.get_process(ctx, process_id)
    form = {k: request.args.get(k, "") for k in ("from", "to")}
    page = {"detail": detail, "form": form, "version_options": _version_options(detail), **_common()}
    try:
        old, new = load_compare(request.args)
        diff = defs.compare_versions(ctx, process_id, old, new)
    except ValidationError as exc:
        return render_template("designer/compare.html", errors=field_errors(exc), message=exc.message, diff=None,
                               **page), 422
    except NotFoundError as exc:
        return render_template("designer/compare.html", errors={}, message=exc.message, diff=None, **page), 404
    return render_template("designer/compare.html", errors={}, message=None, diff=diff, old=old, new=new, **page)


@bp.post("/processes/<process_id>/versions/<int:version>/activate")
def activate(process_id: str, version: int) -> ResponseReturnValue:
    ctx = get_ctx()
    form = {"reason": request.form.get("reason", "")}
    if not defs.may_activate(ctx, current_user.id):
        raise PermissionDeniedError(ACTIVATE_REFUSED, code="definition_activate_role_required")
    actor = Actor(current_user.username, "process_designer", current_user.id)
    try:
        result = defs.activate_version(ctx, process_id, version, actor=actor, reason=form["reason"])
    except (ValidationError, InvalidStateError) as exc:
        errors = field_errors(exc) if isinstance(exc, ValidationError) else {}
        return _version_page(process_id, version, form, errors, exc.message), status_for(exc)
    was = f"（原为第 {result.previous_version} 版）" if result.previous_version else ""
    flash(f"第 {result.version} 版已设为当前版本{was}：新案件将按此版本启动，办理中的案件仍按各自启动时的版本运行。",
          "success")
    return redirect(url_for("designer.process", process_id=process_id))

