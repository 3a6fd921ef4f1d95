"""The working-day calendar editor and the policy overrides (admins only).

A day's kind is changed through ``engine.calendar.set_day`` and recorded as a
``calendar_day_set`` event on the system stream; the app's cached calendar is dropped so
the next deadline uses the new day. Policy values change through
``engine.policy.set_override`` / ``clear_override``, which record their own events.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import event

from engine.calendar import set_day
from engine.calendar_provisional import is_provisional
from engine.clock import local_date
from engine.context import Actor
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.models import CalendarDay
from engine.models.calendar import WORKING_KINDS
from engine.policy import SETTINGS
from engine.policy import WINDOW_KINDS
from engine.policy import clear_override
from engine.policy import effective_policy
from engine.policy import set_override
from forms.base import whole_number
from web.admin_extra import queries
from web.admin_extra.blueprint import bp
from web.admin_extra.schemas import CalendarDaySchema
from web.admin_extra.schemas import policy_value
from web.db import get_ctx
from web.db import state
from web.home.schemas import field_errors
from web.home.schemas import load_form
from web.inbox.views import local_time

FIRST_YEAR, LAST_YEAR = 2000, 2100


def _actor() -> Actor:
    return Actor(current_user.username, "admin", current_user.id)


def _today() -> date:
    return local_date(state().clock.now())


# --- calendar ----------------------------------------------------------------------------------------------


@bp.get("/calendar")
def calendar() -> str:
    raw = request.args.get("year", "")
    number = whole_number(raw, most=LAST_YEAR)
    year = number if number is not None and number >= FIRST_YEAR else _today().year
    session = get_ctx().session
    loaded = queries.year_status(session, year)
    return render_template("admin_extra/calendar.html", year=year, months=queries.year_grid(session, year),
                           loaded=loaded, provisional=loaded is not None and is_provisional(loaded.source),
                           weekdays=queries.WEEKDAY_NAMES,
                           kind_names=queries.KIND_NAMES, today=_today(), first_year=FIRST_YEAR, last_year=LAST_YEAR)


def _day(value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise NotFoundError("日期无效") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise NotFoundError("日期超出范围")
    return day


@bp.get("/calendar/<value>")
def calendar_day(value: str) -> str:
    day = _day(value)
    row = get_ctx().session.get(CalendarDay, day)
    form = {"kind": row.kind.value, "name": row.name or ""} if row else {}
    return _day_page(day, row, form, {}, None)


def _day_page(day: date, row: CalendarDay | None, form: dict[str, Any], errors: dict[str, list[str]],
              message: str | None) -> str:
    return render_template("admin_extra/day.html", day=day, row=row, form=form, errors=errors, message=message,
                           kinds=queries.allowed_kinds(day), kind_names=queries.KIND_NAMES,
                           weekday=queries.WEEKDAY_NAMES[day.weekday()], local_time=local_time)


@bp.post("/calendar/<value>")
def set_calendar_day(value: str) -> ResponseReturnValue:
    ctx = get_ctx()
    day = _day(value)
    row = ctx.session.get(CalendarDay, day)
    previous = {"kind": row.kind.value, "is_workday": row.is_workday, "name": row.name,
                "source": row.source} if row else None
    form = request.form.to_dict()
    try:
        data = load_form(CalendarDaySchema(), form)
        if previous and (previous["kind"], previous["name"]) == (data["kind"], data["name"]):
            flash(f"{day.isoformat()} 未作更改", "info")
            return redirect(url_for("admin_extra.calendar", year=day.year, _anchor=f"m{day.month}"))
        updated = set_day(ctx.session, day, is_workday=data["kind"] in WORKING_KINDS, kind=data["kind"],
                          name=data["name"], actor_username=current_user.username, clock=ctx.clock)
    except ValidationError as exc:
        return _day_page(day, row, form, field_errors(exc), exc.message), 422
    append_event(ctx, stream=SYSTEM_STREAM, kind="calendar_day_set", actor=_actor(), payload={
        "day": day.isoformat(), "kind": updated.kind.value, "is_workday": updated.is_workday, "name": updated.name,
        "previous": previous})
    _invalidate_calendar(day.year)
    flash(f"已将 {day.isoformat()} 设为{queries.KIND_NAMES[updated.kind.value]}，"
          "按工作日计算的期限自即日起按新日历计算", "success")
    return redirect(url_for("admin_extra.calendar", year=day.year, _anchor=f"m{day.month}"))


def _invalidate_calendar(year: int) -> None:
    """Drop the cached year now and again once the change is committed (a request in between may reload it)."""
    calendar_cache = state().calendar
    calendar_cache.invalidate(year)
    event.listen(get_ctx().session, "after_commit", lambda _session: calendar_cache.invalidate(year), once=True)


# --- policy ------------------------------------------------------------------------------------------------


def _policy_page(errors: dict[str, list[str]], forms: dict[str, dict[str, Any]], message: str | None) -> str:
    ctx = get_ctx()
    policy = effective_policy(ctx, current_app.config["POLICY_PROFILE"])
    return render_template("admin_extra/policy.html", policy=policy, rows=queries.policy_rows(ctx.session, policy),
                           show=queries.show_value, errors=errors, forms=forms, message=message,
                           window_kinds=WINDOW_KINDS,
                           local_time=local_time)


@bp.get("/policy")
def policy() -> str:
    return _policy_page({}, {}, None)


def _setting(key: str) -> Any:
    setting = SETTINGS.get(key)
    if setting is None:
        raise NotFoundError("政策参数不存在", key=key)
    return setting


@bp.post("/policy/<key>")
def set_policy(key: str) -> ResponseReturnValue:
    setting = _setting(key)
    form = request.form.to_dict()
    try:
        value = policy_value(setting, form)
        set_override(get_ctx(), key, value, actor=_actor())
    except ValidationError as exc:
        messages = [m for msgs in field_errors(exc).values() for m in msgs] or [exc.message]
        return _policy_page({key: messages}, {key: form}, f"「{setting.label}」未能保存：{messages[0]}"), 422
    flash(f"已将「{setting.label}」设为 {queries.show_value(setting, value)}", "success")
    return redirect(url_for("admin_extra.policy", _anchor=f"p-{key}"))


@bp.post("/policy/<key>/clear")
def clear_policy(key: str) -> ResponseReturnValue:
    setting = _setting(key)
    try:
        cleared = clear_override(get_ctx(), key, actor=_actor())
    except ValidationError as exc:
        messages = [m for msgs in field_errors(exc).values() for m in msgs] or [exc.message]
        return _policy_page({key: messages}, {}, f"「{setting.label}」未能恢复：{messages[0]}"), 422
    flash(f"「{setting.label}」已恢复为配置默认值" if cleared else f"「{setting.label}」本来就是配置默认值", "success")
    return redirect(url_for("admin_extra.policy", _anchor=f"p-{key}"))
