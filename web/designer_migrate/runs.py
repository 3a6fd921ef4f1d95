"""Background 版本迁移 runs: the run page (progress, counts, the cases not moved) and pause / resume / cancel.

A run is started from the plan page (迁移全部可迁移案件, ``views.migrate``) or by
``hedui bpmn migrate --background``; the job ``migrations.run`` does the work. The page refreshes
itself every :data:`REFRESH` seconds while the run is queued or running (and has a 刷新 link).
"""

from __future__ import annotations

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine.context import Actor
from engine.errors import InvalidStateError
from engine.models.migration_run import RUN_STATUS_NAMES
from engine.services import migration_runs
from engine.services.instance_migration import DESIGNER_ROLE
from web.db import get_ctx
from web.designer_migrate.blueprint import bp
from web.designer_migrate.jobs import stale_minutes
from web.inbox.views import local_time

#: seconds between the run page's automatic refreshes while it runs
REFRESH = 10
#: cases not moved listed on the run page (the counters count all of them)
LISTED = 200
OUTCOME_NAMES = {"blocked": "未迁移", "failed": "迁移失败"}
_ACTIONS = {"pause": migration_runs.pause_run, "resume": migration_runs.resume_run,
            "cancel": migration_runs.cancel_run}
_DONE = {"pause": "已暂停：当前这一批完成后停止", "resume": "已继续：迁移将在后台接着进行",
         "cancel": "已取消：已迁移的案件保持在新版本"}


@bp.get("/<process_id>/runs/<int:run_id>")
def run(process_id: str, run_id: int) -> str:
    ctx = get_ctx()
    record = migration_runs.get_run(ctx, run_id, process_id=process_id)
    interrupted = migration_runs.is_interrupted(ctx, record, stale_minutes=stale_minutes())
    return render_template(
        "designer_migrate/run.html", run=record, status_names=RUN_STATUS_NAMES, outcome_names=OUTCOME_NAMES,
        cases=migration_runs.list_run_cases(ctx, record, limit=LISTED), listed=LISTED, interrupted=interrupted,
        running=record.status.value in ("queued", "running") and not interrupted, refresh=REFRESH,
        local_time=local_time)


@bp.post("/<process_id>/runs/<int:run_id>/<action>")
def run_action(process_id: str, run_id: int, action: str) -> ResponseReturnValue:
    ctx = get_ctx()
    record = migration_runs.get_run(ctx, run_id, process_id=process_id)
    if action not in _ACTIONS:
        abort(404)
    actor = Actor(current_user.username, DESIGNER_ROLE, current_user.id)
    extra = {"stale_minutes": stale_minutes()} if action == "resume" else {}
    try:
        _ACTIONS[action](ctx, record.id, actor=actor, **extra)
    except InvalidStateError as exc:
        flash(exc.message, "error")
    else:
        flash(_DONE[action], "success")
    return redirect(url_for(".run", process_id=process_id, run_id=run_id))
