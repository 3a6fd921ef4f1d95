"""What several API modules read from a request: the JSON body and the unit the caller acts for."""

from __future__ import annotations

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
