"""跨地市核对 pages: the county's requests, the city's waiting requests and batches (with 「立即汇总」),
the province's batches; a batch with its requests and every step. Jurisdiction: 404 outside it."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from engine.context import Actor
from engine.errors import NotFoundError
from engine.models import Unit
from engine.models import User
from engine.models import WorkflowInstance
from engine.models.escalation import CROSS_CITY_BATCH_STATUS_NAMES
from engine.models.escalation import ESCALATION_STATUS_NAMES
from engine.models.escalation import CrossCityBatch
from engine.models.escalation import EscalationStatus
from engine.services import cross_city
from engine.services import cross_city_queries as queries
from web.crosscity.blueprint import bp
from web.db import get_ctx
from web.inbox.casefacts import openable
from web.inbox.views import local_time


def item_names(codes: list[str]) -> str:
    """The sharing units a request asks about, by name (``吉林市不动产登记中心（JLS-BDC）``); the names are
    kept for the request, so a page of requests asking about the same units costs one query."""
    known: dict[str, str] = g.setdefault("cross_city_unit_names", {})
    missing = [c for c in codes if c not in known]
    if missing:
        rows = get_ctx().session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(missing))).all()
        known.update((code, name) for code, name in rows)
    return "、".join(f"{known[c]}（{c}）" if c in known else c for c in codes)


#: who moved a request when nobody signed in did (the gathering job, the relay after a province case ended)
SYSTEM_ACTORS = {"job:cross_city_gather": "系统（定时汇总）", "system": "系统", "cross_city": "系统"}


def who(username: str | None) -> str:
    """A step's actor as people read it: the display name (``王磊（朝阳区核对中心）``), or 系统 for the jobs."""
    if not username:
        return "—"
    if username in SYSTEM_ACTORS or username.startswith("job:"):
        return SYSTEM_ACTORS.get(username, "系统")
    known: dict[str, str] = g.setdefault("cross_city_user_names", {})
    if username not in known:
        name = get_ctx().session.execute(select(User.display_name).where(User.username == username)).scalar()
        known[username] = name or username
    return known[username]


NAMES = {"status_names": ESCALATION_STATUS_NAMES, "batch_status_names": CROSS_CITY_BATCH_STATUS_NAMES,
         "local_time": local_time, "item_names": item_names, "who": who}


@bp.get("/")
def index() -> str:
    ctx = get_ctx()
    units = queries.unit_ids_of(ctx, current_user.id)
    return render_template(
        "crosscity/index.html", **NAMES,
        own=queries.list_requests(ctx, origin_unit_ids=units),
        waiting=queries.list_requests(ctx, via_unit_ids=units, statuses=(EscalationStatus.REQUESTED,)),
        batches=queries.list_batches(ctx, units), gathering=queries.gathering_units(ctx, current_user.id))


@bp.post("/gather")
def gather() -> ResponseReturnValue:
    """「立即汇总」: gather the waiting requests of the user's city agency (or of the chosen one) now."""
    ctx = get_ctx()
    units = queries.gathering_units(ctx, current_user.id)
    chosen = request.form.get("unit")
    if chosen:
        units = [u for u in units if u.code == chosen]
    if not units:
        abort(403)
    batches = [b for unit in units for b in cross_city.gather_requests(ctx, city_agency=unit, actor=Actor(
        current_user.username, queries.gathering_role(ctx, current_user.id, unit), current_user.id))]
    if batches:
        flash("已汇总为批次 " + "、".join(b.number for b in batches), "success")
    else:
        flash("没有待汇总的跨地市核对请求", "info")
    return redirect(url_for("crosscity.index"))


@bp.get("/batches/<number>")
def batch(number: str) -> str:
    ctx = get_ctx()
    try:
        record = queries.get_batch(ctx, number, user_id=current_user.id)
    except NotFoundError:
        abort(404)
    view = queries.batch_view(ctx, record)
    return render_template("crosscity/batch.html", **NAMES, view=view,
                           openable=openable(ctx, view.open_tasks, current_user.id, current_user.username),
                           requests=queries.visible_requests(ctx, current_user.id, record))


@bp.app_context_processor
def _task_section() -> dict[str, Any]:
    """``cross_city_batch_of(instance)`` for the batch's task pages (crosscity/_task_section.html); a province
    case's origin is shown once, in the case page's 上级核对 section (web/cases/escalations.py)."""
    return {"cross_city_batch_of": cross_city_batch_of, "item_names": item_names, "who": who}


def cross_city_batch_of(instance: WorkflowInstance) -> dict[str, Any]:
    """The batch a 市级审核 / 转送县级 task belongs to, with its requests (the reviewer decides on each)."""
    batch = get_ctx().session.execute(
        select(CrossCityBatch).where(CrossCityBatch.instance_id == instance.id)).scalar_one_or_none()
    return {"batch": batch, **NAMES}
