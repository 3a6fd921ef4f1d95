"""Working-day arithmetic and the effective policy, for any signed-in API user (PR-5, PS-10, PS-11)."""

from __future__ import annotations

from datetime import date
from datetime import datetime
from datetime import time
from typing import Any

from flask import Response
from flask import current_app
from flask import jsonify
from flask import request

from engine.calendar import SHANGHAI
from engine.errors import ValidationError
from engine.policy import PROFILE_NAMES
from engine.policy import SETTINGS
from engine.policy import WINDOW_KINDS
from engine.policy import effective_policy
from forms.base import whole_number
from web.api.blueprint import bp
from web.api.openapi import BEARER
from web.api.openapi import operation
from web.auth import api_login_required
from web.db import get_ctx
from web.db import state

MAX_DAYS = 366


def _query_args() -> tuple[date, int]:
    """``start`` and ``days`` from the query string; every bad field gets its own Chinese message."""
    errors: dict[str, list[str]] = {}
    raw_start, raw_days = request.args.get("start", ""), request.args.get("days", "")
    start = days = None
    try:
        start = date.fromisoformat(raw_start) if len(raw_start) == 10 else None
    except ValueError:
        start = None
    if start is None:
        errors["start"] = ["须为 YYYY-MM-DD 格式的日期" if raw_start else "此项为必填项"]
    days = whole_number(raw_days, least=1, most=MAX_DAYS)
    if days is None:
        errors["days"] = [f"须为 1–{MAX_DAYS} 的整数" if raw_days else "此项为必填项"]
    if errors or start is None or days is None:
        raise ValidationError(fields=errors)
    return start, days


@bp.get("/api/v1/calendar/add-working-days")
@api_login_required
def add_working_days() -> Response:
    start, days = _query_args()
    due = state().calendar.using(get_ctx().session).add_working_days(start, days)
    return jsonify({"start": start.isoformat(), "days": days, "due": due.isoformat(),
                    "due_at": datetime.combine(due, time.max, tzinfo=SHANGHAI).isoformat()})


@bp.get("/api/v1/policy")
@api_login_required
def get_policy() -> Response:
    ctx = get_ctx()
    policy = effective_policy(ctx, current_app.config["POLICY_PROFILE"])
    today = ctx.today()
    windows: dict[str, Any] = {
        kind: {"name": name, "in_window": policy.in_window(kind, today),
               "next_start": policy.next_window_start(kind, today).isoformat(),
               "warning": policy.window_warning(kind, today)}
        for kind, name in WINDOW_KINDS.items()
    }
    settings = {key: {"label": s.label, "unit": s.unit, "source": s.source} for key, s in SETTINGS.items()}
    return jsonify({"profile": policy.profile, "profile_name": PROFILE_NAMES[policy.profile],
                    "values": policy.values(), "overridden": sorted(policy.overridden), "settings": settings,
                    "today": today.isoformat(), "windows": windows})


_JSON = {"application/json": {"schema": {"type": "object"}}}
operation(
    "get", "/calendar/add-working-days", summary="按工作日历计算期限（起算日不计入，自次日起算）", security=BEARER,
    parameters=[
        {"name": "start", "in": "query", "required": True, "description": "起算日 YYYY-MM-DD",
         "schema": {"type": "string", "format": "date"}},
        {"name": "days", "in": "query", "required": True, "description": f"工作日数（1–{MAX_DAYS}）",
         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}},
    ],
    responses={
        "200": {"description": "期限：due 为第 days 个工作日，due_at 为当日 24 时前（北京时间）", "content": {
            "application/json": {"schema": {"type": "object", "properties": {
                "start": {"type": "string", "format": "date"}, "days": {"type": "integer"},
                "due": {"type": "string", "format": "date"}, "due_at": {"type": "string", "format": "date-time"},
            }}}}},
        "401": {"description": "未登录"},
        "422": {"description": "参数有误（details.fields 含逐字段中文提示），或所需年度的工作日历尚未导入"
                               "（error = calendar_year_missing）"},
    },
)
operation(
    "get", "/policy", summary="当前生效的政策配置（时限、每月业务时段及今日是否在时段内）", security=BEARER,
    responses={"200": {"description": "政策配置：profile、values、overridden、settings、windows", "content": _JSON},
               "401": {"description": "未登录"}},
)
