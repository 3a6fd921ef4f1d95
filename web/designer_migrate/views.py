"""GET shows the plan for moving a process's running cases between two versions; POST migrates the chosen ones.

Versions travel as query parameters (``?from=1&to=2&page=3``) so a plan can be bookmarked. The page
counts every running case of the version but checks only the :data:`PER_PAGE` cases it shows (a
version may run thousands). Cases are shown by business key, never by id (the checkbox values carry
the ids). "迁移所选案件" moves the ticked cases of the page in the request; success flashes what moved,
what was skipped and what failed (the first :data:`FLASHED` of each), and returns to the (fresh) plan.
"迁移全部可迁移案件" always starts a background run (``engine.services.migration_runs``: chunks of 200,
one commit each, progress on the run page, ``runs.py``), whatever the count: the request then never
holds thousands of case locks or runs into the server's time-out, and small and big versions behave
alike. A missing reason or an empty selection answers 422 with the page as it was (selection and
reason kept); a second run from a version whose run is still active answers 409. The page lists the
process's recent runs.
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
from sqlalchemy import func
from sqlalchemy import select

from engine.context import Actor
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.models import InstanceStatus
from engine.models import ProcessDefinition
from engine.models import WorkflowInstance
from engine.models.migration_run import RUN_STATUS_NAMES
from engine.services.instance_migration import DESIGNER_ROLE
from engine.services.instance_migration import MigrationPlan
from engine.services.instance_migration import MigrationResult
from engine.services.instance_migration import migrate_instances
from engine.services.instance_migration import plan_migration
from engine.services.migration_runs import create_run
from engine.services.migration_runs import list_runs
from forms.base import whole_number
from forms.text import FIELD_MESSAGE as CONTROL_MESSAGE
from forms.text import has_control
from web.audit.schemas import page_number
from web.db import get_ctx
from web.designer_migrate.blueprint import bp
from web.home.schemas import field_errors
from web.inbox.views import local_time

#: cases checked per page
PER_PAGE = 50
#: recent background runs listed on the page
RUNS_LISTED = 10
#: skipped / failed cases flashed one by one (the rest are counted: the flash store is a cookie)
FLASHED = 5
CHANGE_NAMES = {"added": "新增", "removed": "删除", "changed": "修改"}
#: spec attributes as designers know them (anything else is shown as 其他属性)
ATTRIBUTE_NAMES = {"outputs": "后续连线", "inputs": "前序连线", "bpmn_name": "名称", "lane": "泳道（角色）",
                   "extensions": "扩展属性（表单、期限等）", "event_definition": "事件定义", "documentation": "说明",
                   "typename": "类型", "cond_task_specs": "分支条件", "default_task_spec": "默认分支",
                   "script": "脚本"}


def _versions(process_id: str) -> list[dict[str, Any]]:
    """The process's deployed versions with their running cases (404 for an unknown process)."""
    running = (select(WorkflowInstance.definition_id, func.count(WorkflowInstance.id).label("n"))
               .where(WorkflowInstance.status == InstanceStatus.RUNNING)
               .group_by(WorkflowInstance.definition_id).subquery())
    rows = get_ctx().session.execute(
        select(ProcessDefinition.version, ProcessDefinition.name, ProcessDefinition.deployed_at, running.c.n)
        .outerjoin(running, running.c.definition_id == ProcessDefinition.id)
        .where(ProcessDefinition.process_id == process_id).order_by(ProcessDefinition.version)).all()
    if not rows:
        raise NotFoundError(f"流程「{process_id}」尚未部署", code="process_not_found")
    return [{"version": v, "name": name, "deployed_at": at, "running": n or 0} for v, name, at, n in rows]


def _numbers(form: dict[str, str]) -> tuple[int, int]:
    """The two versions; ``whole_number``, not ``str.isdigit``: 「²」 passes that and ``int`` refuses it."""
    source, target = whole_number(str(form.get("from", ""))), whole_number(str(form.get("to", "")))
    errors = {k: ["请选择版本"] for k, v in (("from", source), ("to", target)) if v is None}
    if source is None or target is None:
        raise ValidationError("请选择原版本和目标版本", fields=errors)
    return source, target


def _plan(process_id: str, form: dict[str, str]) -> MigrationPlan:
    source, target = _numbers(form)
    offset = (page_number(form.get("page")) - 1) * PER_PAGE
    try:
        return plan_migration(get_ctx(), process_id, source, target, offset=offset, limit=PER_PAGE)
    except NotFoundError as exc:
        field = "from" if exc.details.get("version") == source else "to"
        raise ValidationError(exc.message, fields={field: [exc.message]}) from exc


def _page(process_id: str, form: dict[str, Any], *, plan: MigrationPlan | None = None,
          chosen: set[int] | None = None, errors: dict[str, list[str]] | None = None,
          message: str | None = None) -> str:
    versions = _versions(process_id)
    return render_template(
        "designer_migrate/plan.html", process_id=process_id, versions=versions,
        options=[(str(v["version"]), f"第 {v['version']} 版（运行中 {v['running']} 件）") for v in versions],
        form=form, plan=plan, chosen=chosen if chosen is not None else set(plan.compatible_ids if plan else []),
        errors=errors or {}, message=message, change_names=CHANGE_NAMES, attribute_names=ATTRIBUTE_NAMES,
        local_time=local_time, page=page_number(form.get("page")), status_names=RUN_STATUS_NAMES,
        runs=list_runs(get_ctx(), process_id, limit=RUNS_LISTED),
        pages=max(1, -(-plan.total // PER_PAGE)) if plan else 1)


@bp.get("/<process_id>")
def plan(process_id: str) -> ResponseReturnValue:
    form = {k: request.args.get(k, "") for k in ("from", "to", "page")}
    if not form["from"] and not form["to"]:
        return _page(process_id, form)
    try:
        found = _plan(process_id, form)
    except ValidationError as exc:
        return _page(process_id, form, errors=field_errors(exc), message=exc.message), 422
    return _page(process_id, form, plan=found)


@bp.post("/<process_id>")
def migrate(process_id: str) -> ResponseReturnValue:
    form: dict[str, Any] = {k: request.form.get(k, "") for k in ("from", "to", "reason", "page")}
    every = request.form.get("scope") == "all"
    chosen = {n for v in request.form.getlist("instance") if (n := whole_number(v)) is not None}
    try:
        found = _plan(process_id, form)
    except ValidationError as exc:
        return _page(process_id, form, errors=field_errors(exc), message=exc.message), 422
    errors: dict[str, list[str]] = {}
    if not form["reason"].strip():
        errors["reason"] = ["请填写迁移原因"]
    elif has_control(form["reason"]):
        errors["reason"] = [CONTROL_MESSAGE]
    if not chosen and not every:
        errors["instance"] = ["请至少选择一件案件"]
    if errors:
        return _page(process_id, form, plan=found, chosen=chosen, errors=errors,
                     message="未迁移：请检查后重新提交"), 422
    actor = Actor(current_user.username, DESIGNER_ROLE, current_user.id)
    try:
        if every:
            run = create_run(get_ctx(), process_id, found.from_version, found.to_version, actor=actor,
                             reason=form["reason"])
            flash(f"已在后台开始迁移第 {found.from_version} 版的全部可迁移案件，进度见下", "success")
            return redirect(url_for(".run", process_id=process_id, run_id=run.id))
        result = migrate_instances(get_ctx(), process_id, found.from_version, found.to_version, actor=actor,
                                   reason=form["reason"], instance_ids=chosen)
    except ValidationError as exc:
        return _page(process_id, form, plan=found, chosen=chosen, errors=field_errors(exc), message=exc.message), 422
    except InvalidStateError as exc:  # a run from this version is still active
        return _page(process_id, form, plan=found, chosen=chosen, message=exc.message), 409
    _flash_result(result, found.to_version)
    return redirect(url_for(".plan", process_id=process_id, **{"from": form["from"], "to": form["to"]}))


def _flash_result(result: MigrationResult, to_version: int) -> None:
    flash(f"已将 {len(result.migrated)} 件案件迁移到第 {to_version} 版", "success")
    for items, verb in ((result.failed, "迁移失败"), (result.skipped, "未迁移")):
        for item in items[:FLASHED]:
            flash(f"{verb} {item.business_key or '（无业务编号）'}：{'；'.join(item.reasons)}", "error")
        if len(items) > FLASHED:
            flash(f"另有 {len(items) - FLASHED} 件{verb}（未逐件列出）", "error")
