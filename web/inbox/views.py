"""我的待办 (the inbox) and the task page: list, claim, release, fill in and complete a step.

Every action goes through ``engine.services.instances``, which checks jurisdiction, role, unit
and separation of duties again. A refused claim or completion (SoD 403, conflict 409) is told
as a Chinese flash message on the page the person came from, not as an error page; the
refusal's own record in the case history is committed (``HeduiError.commit``), nothing else.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import flash
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from engine import assignment
from engine.audit import record_access
from engine.audit import timeline
from engine.calendar import SHANGHAI
from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.errors import ConflictError
from engine.errors import FormValidationError
from engine.errors import HeduiError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import ProcessDefinition
from engine.models import User
from engine.services import instances
from engine.services.escalations import overdue_escalations
from engine.services.tiering import review_choices
from web.db import get_ctx
from web.db import state
from web.inbox import queries
from web.inbox.blueprint import bp
from web.inbox.casefacts import case_summary
from web.inbox.casefacts import refusal
from web.inbox.diagram import definition_xml
from web.inbox.diagram import diagram_data
from web.inbox.diagram import documentation
from web.inbox.schemas import DUE_STATES
from web.inbox.schemas import SORTS
from web.inbox.schemas import TABS
from web.inbox.schemas import load_filter
from web.inbox.taskform import field_messages
from web.inbox.taskform import posted_values
from web.inbox.taskform import submitted_data
from web.inbox.taskform import task_form
from web.login import safe_next

FORM_INVALID = "表单填写有误，请按提示修改后重新提交"
#: a refused form of a task the person has not claimed: the page shows the form to its claimant only
CLAIM_FIRST = "。请先认领此任务，认领后即可填写并办结"


def _viewer() -> queries.Viewer:
    return queries.Viewer(current_user.id, current_user.username, state().clock.now())


def _calendar() -> WorkingCalendar:
    return state().calendar.using(get_ctx().session)


def local_time(when: datetime | None) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if when else queries.NO_VALUE


def inbox_counts() -> dict[str, int]:
    """How many tasks each tab of the signed-in user's inbox holds (for the home page)."""
    return queries.count_tabs(get_ctx(), _viewer())


@bp.get("/inbox")
def index() -> str:
    page = queries.list_inbox(get_ctx(), _viewer(), load_filter(request.args), _calendar())
    return render_template("inbox/index.html", page=page, f=page.filter, tabs=TABS, due_states=DUE_STATES,
                           sorts=SORTS, here=request.full_path.rstrip("?"), late_upper=_late_upper())


def _late_upper() -> list[dict[str, str]]:
    """Escalations of the user's agencies whose upper report is overdue (PS-5: the case keeps waiting)."""
    return [{"case_no": e.origin_household.case_no, "number": e.number, "agency": e.target_agency.name,
             "due": local_time(e.due_at)} for e in overdue_escalations(get_ctx(), user_id=current_user.id)]


# --- claim and release ----------------------------------------------------------------------------------


def _visible_task(task_id: str) -> HumanTask:
    """The task, or 404 when it does not exist or its case is outside the user's jurisdiction."""
    ctx = get_ctx()
    task = instances.get_task(ctx, task_id)
    if not assignment.visible_to(ctx, current_user.id, task.instance):
        raise NotFoundError("任务不存在", task_id=task_id)
    return task


def _actor(task: HumanTask) -> Actor:
    return Actor(current_user.username, task.role_code, current_user.id)


def _back() -> str:
    target = request.form.get("next")
    return safe_next(target) if target else url_for("inbox.index")


def _refused(what: str, exc: HeduiError, target: str, *, hint: str = "") -> BaseResponse:
    """Explain a refusal on the page the person came from; keep only the refusal's own record."""
    if not exc.commit:
        get_ctx().session.rollback()
    flash(f"{what}：{exc.message}{hint}", "error")
    return redirect(target)


def _label(task: HumanTask) -> str:
    key = task.instance.business_key
    return f"「{task.name}」" + (f"（{key}）" if key else "")


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str) -> ResponseReturnValue:
    task = _visible_task(task_id)
    try:
        instances.claim_task(get_ctx(), task.id, actor=_actor(task))
    except (PermissionDeniedError, ConflictError) as exc:
        return _refused("认领未成功", exc, _back())
    flash(f"已认领任务{_label(task)}，可在「我认领的」中办理", "success")
    return redirect(_back())


@bp.post("/tasks/<task_id>/release")
def release(task_id: str) -> ResponseReturnValue:
    task = _visible_task(task_id)
    try:
        instances.release_task(get_ctx(), task.id, actor=_actor(task))
    except (PermissionDeniedError, ConflictError) as exc:
        return _refused("退回未成功", exc, _back())
    flash(f"已将任务{_label(task)}退回待认领", "success")
    return redirect(_back())


# --- the task page --------------------------------------------------------------------------------------


def _openable_task(task_id: str) -> tuple[HumanTask, str | None]:
    task = _visible_task(task_id)
    return task, refusal(get_ctx(), task, current_user.id, current_user.username)


def _forbidden(task: HumanTask, message: str) -> tuple[str, int]:
    return render_template("inbox/forbidden.html", task=task, message=message), 403


@bp.get("/tasks/<task_id>")
def task(task_id: str) -> ResponseReturnValue:
    task, refused = _openable_task(task_id)
    if refused:
        return _forbidden(task, refused)
    page = _task_page(task, values=_initial(task), errors={}, message=None)
    if page["case"].has_household:
        # the page shows the household's persons: every such view is recorded (DESIGN, Web and API)
        record_access(get_ctx(), "personal_data_viewed", task.instance,
                      actor=Actor(current_user.username, None, current_user.id), via="web", task_id=task.id)
    return render_template("inbox/task.html", **page)


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str) -> ResponseReturnValue:
    # no pre-check here: the service refuses (and records the refusal of) anyone who may not complete
    task = _visible_task(task_id)
    here = url_for("inbox.task", task_id=task_id)
    form = _form(task)
    try:
        instances.complete_task(get_ctx(), task.id, submitted_data(form, request.form), actor=_actor(task))
    except FormValidationError as exc:
        if task.assignee != current_user.username:
            # the page shows the form, and so its errors, to the task's claimant only: say it where it shows
            return _refused("办理未成功", exc, here, hint=CLAIM_FIRST)
        errors = field_messages(exc.details.get("fields"))
        page = _task_page(task, values=posted_values(form, request.form), errors=errors, message=FORM_INVALID)
        return render_template("inbox/task.html", **page), 422
    except (PermissionDeniedError, ConflictError) as exc:
        return _refused("办理未成功", exc, here)
    flash(f"已办结任务{_label(task)}", "success")
    return redirect(url_for("inbox.index", tab="done"))


@bp.get("/tasks/<task_id>/diagram")
def diagram(task_id: str) -> ResponseReturnValue:
    """The pinned definition's XML and the case's progress, for ``web/static/diagram.js``."""
    task, refused = _openable_task(task_id)
    if refused:
        raise PermissionDeniedError(refused, code="role_required")
    return jsonify(diagram_data(get_ctx(), task))


def _task_page(task: HumanTask, *, values: dict[str, Any], errors: dict[str, list[str]],
               message: str | None) -> dict[str, Any]:
    ctx = get_ctx()
    instance = task.instance
    definition = ctx.session.get(ProcessDefinition, instance.definition_id)
    assert definition is not None  # an instance always references its definition
    viewer = _viewer()
    is_open = task.status == HumanTaskStatus.OPEN
    mine = task.assignee == viewer.username
    claimant = None
    if task.assignee and not mine:
        claimant = _display_name(task.assignee)
    return {
        "task": task, "instance": instance, "definition": definition,
        "form": _form(task), "values": values, "errors": errors,
        "message": message, "case": case_summary(ctx, instance), "history": timeline(ctx, instance.id),
        "due": queries.due_of(task.due_at, viewer.now, _calendar()),
        "completed": (queries.completed_of(task.due_at, task.completed_at, _calendar())
                      if task.completed_at else None),
        "completed_by": _display_name(task.completed_by) if task.completed_by else None,
        "claimant": claimant, "is_open": is_open, "mine": mine,
        "can_claim": is_open and task.assignee is None, "can_release": is_open and mine,
        "can_complete": is_open and mine,
        "instructions": documentation(definition_xml(ctx, definition), task.bpmn_id),
        "local_time": local_time,
    }


def _review_choices(task: HumanTask) -> tuple[dict[str, list[tuple[str, str]]], dict[str, list[str]]]:
    """审核复审 of a verification case: the case's upper items and the cross-city choices (PS-5, PS-7)."""
    if task.form_key != "verification_review" or task.status != HumanTaskStatus.OPEN:
        return {}, {}
    return review_choices(get_ctx(), task.instance, task.id)


#: a field shown only with the dynamic choice list it explains
_COMPANIONS = {"cross_city_reason": "cross_city_items"}


def _form(task: HumanTask) -> Any:
    """The task's form; a case-dependent choice list with nothing to choose is left out (an upper agency's
    case sends nothing further up, PS-6), with the fields that only explain it."""
    choices = _review_choices(task)[0]
    form = task_form(task.form_key, task.properties, task.name, choices)
    empty = {name for name, offered in choices.items() if not offered}
    hidden = empty | {name for name, parent in _COMPANIONS.items() if parent in empty}
    return replace(form, fields=tuple(f for f in form.fields if f.name not in hidden)) if hidden else form


def _initial(task: HumanTask) -> dict[str, Any]:
    """What the page is pre-filled with (the upper items the case's configuration sends up)."""
    return dict(_review_choices(task)[1])


def _display_name(username: str) -> str:
    name = get_ctx().session.execute(select(User.display_name).where(User.username == username)).scalar()
    return str(name or username)
