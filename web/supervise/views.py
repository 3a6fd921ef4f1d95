"""本单位任务: a supervisor's view of the open tasks of the units they head, with 「改派」 and 「退回待认领」.

The page is where the overdue escalation job's reports land (engine.escalation): overdue tasks come
first and show when they were reported. Reassigning and releasing go through the same engine services
as the API (``engine.services.instances.reassign_task`` / ``unassign_task``), which check the
supervisor's role, the auditor rule and the new assignee's role, jurisdiction and separation of duties
(SD-1 ...) and record every command — and every refusal — in the case history. A refusal is shown on the
form it came from (403, the rule named, the values kept); a success flashes and returns to the list.
"""

from __future__ import annotations

from typing import Any

from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine import assignment
from engine.context import Actor
from engine.errors import ConflictError
from engine.errors import HeduiError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.models import HumanTask
from engine.models import TaskEscalation
from engine.models import User
from engine.services import instances
from engine.services import users
from web.db import get_ctx
from web.db import state
from web.inbox import queries as inbox_queries
from web.inbox.views import local_time
from web.login import safe_next
from web.people import person
from web.supervise import queries
from web.supervise.blueprint import bp
from web.supervise.schemas import ReassignFormSchema
from web.supervise.schemas import ReleaseFormSchema
from web.supervise.schemas import load_filter
from web.supervise.schemas import load_form

NOT_SUPERVISOR = "只有科室负责人可以查看和改派本单位的任务"


def _units() -> dict[int, str]:
    units = queries.supervised_units(get_ctx(), current_user.id)
    if not units:
        raise PermissionDeniedError(NOT_SUPERVISOR, code="supervisor_required")
    return units


@bp.get("/supervise/")
def index() -> str:
    units = _units()
    calendar = state().calendar.using(get_ctx().session)
    page = queries.list_unit_tasks(get_ctx(), units, state().clock.now(), load_filter(request.args), calendar)
    return render_template("supervise/index.html", page=page, f=page.filter, local_time=local_time,
                           here=request.full_path.rstrip("?"))


# --- one task: 改派 / 退回待认领 ------------------------------------------------------------------------


def _supervised_task(task_id: str) -> HumanTask:
    """The task, 404 outside the user's jurisdiction, 403 unless the user heads the task's unit."""
    ctx = get_ctx()
    units = _units()
    task = instances.get_task(ctx, task_id)
    if not assignment.visible_to(ctx, current_user.id, task.instance):
        raise NotFoundError("任务不存在", task_id=task_id)
    if task.unit_id not in units:
        raise PermissionDeniedError("只有承办单位的科室负责人可以改派任务", code="supervisor_required")
    return task


def _actor() -> Actor:
    return Actor(current_user.username, queries.SUPERVISOR_ROLE, current_user.id)


def _label(task: HumanTask) -> str:
    key = task.instance.business_key
    return f"「{task.name}」" + (f"（{key}）" if key else "")


def _list_url() -> str:
    target = request.values.get("next")
    return safe_next(target) if target else url_for("supervise.index")


def _task_page(task: HumanTask, *, form: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
               refusal: HeduiError | None = None, which: str = "reassign") -> str:
    ctx = get_ctx()
    candidates: list[User] = []
    if task.status.value == "open":
        candidates = assignment.reassign_candidates(ctx, task)
    escalation = ctx.session.get(TaskEscalation, task.id)
    due = inbox_queries.due_of(task.due_at, state().clock.now(), state().calendar.using(ctx.session))
    return render_template(
        "supervise/task.html", task=task, candidates=candidates, due=due, escalation=escalation,
        options=[(u.username, u.display_name) for u in candidates],
        form=form or {}, errors=errors or {}, refusal=refusal, which=which, next=_list_url(),
        local_time=local_time, rule=refusal.details.get("rule") if refusal else None)


@bp.get("/supervise/tasks/<task_id>")
def task(task_id: str) -> str:
    return _task_page(_supervised_task(task_id))


def _refused(task: HumanTask, exc: HeduiError, form: dict[str, Any], which: str) -> ResponseReturnValue:
    """A refusal on the form it came from: 403 with the rule; only the refusal's own record is kept."""
    if exc.commit:
        g.hedui_commit_on_error = True
    else:
        get_ctx().session.rollback()
    return _task_page(task, form=form, refusal=exc, which=which), 403


def _gone(task: HumanTask, exc: ConflictError) -> ResponseReturnValue:
    get_ctx().session.rollback()
    flash(f"未能处理任务{_label(task)}：{exc.message}", "error")
    return redirect(_list_url())


@bp.post("/supervise/tasks/<task_id>/reassign")
def reassign(task_id: str) -> ResponseReturnValue:
    task = _supervised_task(task_id)
    form = request.form.to_dict()
    data, errors = load_form(ReassignFormSchema(), form)
    if errors:
        return _task_page(task, form=form, errors=errors), 422
    ctx = get_ctx()
    try:
        target = users.get_user(ctx, data["username"])
    except NotFoundError:
        return _task_page(task, form=form, errors={"username": ["所选人员不存在，请从列表中选择"]}), 422
    try:
        instances.reassign_task(ctx, task.id, target, actor=_actor(), reason=data.get("reason"))
    except PermissionDeniedError as exc:
        if exc.message.startswith("您"):  # the engine speaks to the person acting: here, the new assignee
            exc.message = target.display_name + exc.message.removeprefix("您")
        return _refused(task, exc, form, "reassign")
    except NotFoundError as exc:  # the new assignee may not see the case (outside their jurisdiction)
        denied = PermissionDeniedError(f"「{target.display_name}」不能查看本案件（不在其辖区），不能改派给其办理",
                                       code="jurisdiction", rule="jurisdiction")
        denied.commit = exc.commit
        return _refused(task, denied, form, "reassign")
    except ConflictError as exc:
        return _gone(task, exc)
    flash(f"已将任务{_label(task)}改派给{target.display_name}", "success")
    return redirect(_list_url())


@bp.post("/supervise/tasks/<task_id>/release")
def release(task_id: str) -> ResponseReturnValue:
    task = _supervised_task(task_id)
    if task.assignee is None:  # the page shows the release form (and its errors) only for a claimed task
        return _gone(task, ConflictError("该任务尚未被认领，无需退回", task_id=task.id))
    form = request.form.to_dict()
    data, errors = load_form(ReleaseFormSchema(), form)
    if errors:
        return _task_page(task, form=form, errors=errors, which="release"), 422
    previous = task.assignee
    try:
        instances.unassign_task(get_ctx(), task.id, actor=_actor(), reason=data.get("reason"))
    except PermissionDeniedError as exc:
        return _refused(task, exc, form, "release")
    except ConflictError as exc:
        return _gone(task, exc)
    flash(f"已将{person(previous)}认领的任务{_label(task)}退回待认领", "success")
    return redirect(_list_url())
