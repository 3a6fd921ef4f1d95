"""What several API modules read from a request: the JSON body, the unit the caller acts for, paging."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from flask import current_app
from flask import request
from sqlalchemy import select

from engine.context import Actor
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.models import Membership
from engine.models import Unit
from engine.services.org import get_unit_by_code
from forms.base import whole_number
from forms.text import CONTROL
from forms.text import MESSAGE as CONTROL_MESSAGE
from forms.text import control_characters
from forms.text import has_control
from web.api.openapi import documented_query_parameters
from web.auth import authenticate
from web.auth import current_api_user
from web.db import get_ctx


def json_body(allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """The request's JSON object (422 ``invalid_json`` for anything else).

    :param allowed: the fields the operation takes; any other is refused (422, ``不允许的字段``) rather
        than silently dropped, as the task forms do (``forms.base.FormSchema``).
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求体应为 JSON 对象", code="invalid_json")
    errors: dict[str, list[str]] = {}
    if allowed is not None:
        errors |= {CONTROL.sub("?", name[:64]): ["不允许的字段"] for name in sorted(set(body) - set(allowed))}
    errors |= {where: [CONTROL_MESSAGE] for where in control_characters(body)}
    if errors:
        raise ValidationError(fields=errors)
    return body


def optional_json_body(allowed: Iterable[str]) -> dict[str, Any]:
    """Like :func:`json_body` for operations whose body may be left out (no body: ``{}``)."""
    return json_body(allowed) if request.content_length or request.data else {}


def no_body() -> None:
    """Operations that take no body: anything but nothing (or ``{}``) is refused, not ignored."""
    optional_json_body(())


def body_unit(body: dict[str, Any], name: str) -> Unit:
    """The unit whose code is the body's field ``name`` (422 naming the field when it names no unit)."""
    code = body.get(name)
    unit = get_unit_by_code(get_ctx(), code, required=False) if isinstance(code, str) and len(code) <= 64 else None
    if unit is None:
        raise ValidationError("单位代码有误", fields={name: ["请填写存在的单位代码"]})
    return unit


def actor_in(unit_id: int, roles: tuple[str, ...], *, refusal: str = "您不是该单位的经办人员") -> Actor:
    """The caller acting for ``unit_id`` in one of ``roles`` (403 ``role_required`` otherwise)."""
    user = current_api_user()
    held = get_ctx().session.execute(select(Membership.role_code).where(
        Membership.user_id == user.id, Membership.unit_id == unit_id,
        Membership.role_code.in_(roles))).scalars().first()
    if held is None:
        raise PermissionDeniedError(refusal, code="role_required", roles=list(roles))
    return Actor(user.username, held, user.id)


def check_url() -> None:
    """Before every API view: a path value with a control character names nothing (404); the query string
    holds only the operation's documented parameters, without control characters (422 naming each
    offending parameter). An unknown filter is refused rather than ignored: a misspelt ``stauts=`` must not
    answer the whole unfiltered list as if it were the filtered one. (PostgreSQL text holds no NUL: one
    reaching a query was a server error.)"""
    rule = request.url_rule
    if rule is None or not rule.rule.startswith("/api/v1/"):
        return
    if getattr(current_app.view_functions.get(request.endpoint or ""), "requires_token", False):
        authenticate()  # 401 before any 422: the parameters are checked for signed-in callers only
    if any(has_control(v) for v in (request.view_args or {}).values()):
        raise NotFoundError("对象不存在")
    known = documented_query_parameters(rule.rule, request.method)
    if "id_number" in request.args:  # it would land in access logs (PR-4)
        raise ValidationError("身份证号码不得放在查询串中，请改用请求体（如 POST /api/v1/credit-records/lookup）",
                              code="id_number_in_query", fields={"id_number": ["请改用 POST 请求体"]})
    errors: dict[str, list[str]] = {}
    for name, value in request.args.items(multi=True):
        if CONTROL.search(name) or CONTROL.search(value):
            errors[CONTROL.sub("?", name[:64])] = [CONTROL_MESSAGE]
        elif known is not None and name not in known:
            errors[name[:64]] = ["不支持的查询参数"]
    if errors:
        raise ValidationError("查询参数有误", fields=errors)


#: the paging query parameters of list endpoints (OpenAPI)
PAGE_PARAMETERS = (
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "上一页返回的 next_cursor"},
)


def limit_arg(default: int = 100) -> int:
    """The ``limit`` query parameter, 1–500 (422 otherwise)."""
    value = whole_number(request.args.get("limit", str(default)), least=1, most=500)
    if value is None:
        raise ValidationError("limit 须为 1–500 的整数", fields={"limit": ["须为 1–500 的整数"]})
    return value


def cursor_arg() -> int | None:
    """The ``cursor`` query parameter: the ``next_cursor`` a previous page returned (422 if it is not one)."""
    raw = request.args.get("cursor")
    if raw is None or raw == "":
        return None
    value = whole_number(raw)
    if value is None:
        raise ValidationError("cursor 无效", fields={"cursor": ["须为上一页返回的 next_cursor"]})
    return value


def date_arg(name: str) -> date | None:
    """An optional ``YYYY-MM-DD`` query parameter (422 with the field's message otherwise)."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(fields={name: ["应为日期（YYYY-MM-DD）"]}) from None
