"""What several API modules read from a request: the JSON body, the unit the caller acts for, paging."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import request
from sqlalchemy import select

from engine.context import Actor
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.models import Membership
from web.auth import current_api_user
from web.db import get_ctx


def json_body() -> dict[str, Any]:
    """The request's JSON object (422 ``invalid_json`` for anything else)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求体应为 JSON 对象", code="invalid_json")
    return body


def actor_in(unit_id: int, roles: tuple[str, ...], *, refusal: str = "您不是该单位的经办人员") -> Actor:
    """The caller acting for ``unit_id`` in one of ``roles`` (403 ``role_required`` otherwise)."""
    user = current_api_user()
    held = get_ctx().session.execute(select(Membership.role_code).where(
        Membership.user_id == user.id, Membership.unit_id == unit_id, Membership.role_code.in_(roles))).scalars().first()
    if held is None:
        raise PermissionDeniedError(refusal, code="role_required", roles=list(roles))
    return Actor(user.username, held, user.id)


#: the paging query parameters of list endpoints (OpenAPI)
PAGE_PARAMETERS = (
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "上一页返回的 next_cursor"},
)


def limit_arg(default: int = 100) -> int:
    """The ``limit`` query parameter, 1–500 (422 otherwise)."""
    raw = request.args.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise ValidationError("limit 须为 1–500 的整数", fields={"limit": ["须为 1–500 的整数"]})
    return int(raw)


def cursor_arg() -> int | None:
    """The ``cursor`` query parameter: the ``next_cursor`` a previous page returned (422 if it is not one)."""
    raw = request.args.get("cursor")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise ValidationError("cursor 无效", fields={"cursor": ["须为上一页返回的 next_cursor"]})
    return int(raw)


def date_arg(name: str) -> date | None:
    """An optional ``YYYY-MM-DD`` query parameter (422 with the field's message otherwise)."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(fields={name: ["应为日期（YYYY-MM-DD）"]}) from None
