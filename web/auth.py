"""API authentication: ``Authorization: Bearer <token>``; 401 JSON without a valid one."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from typing import TypeVar

from flask import g
from flask import request

from engine.errors import HeduiError
from engine.models import User
from engine.services.users import user_for_token
from web.db import get_ctx

F = TypeVar("F", bound=Callable[..., Any])


class NotAuthenticatedError(HeduiError):
    code = "not_authenticated"
    message = "请先登录或提供有效的访问令牌"


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate() -> User:
    """The token's user, once per request (401 ``not_authenticated`` without a valid token)."""
    user = g.get("api_user")
    if user is None:
        token = bearer_token()
        user = user_for_token(get_ctx(), token) if token else None
        if user is None:
            raise NotAuthenticatedError()
        g.api_user = user
    return user  # type: ignore[no-any-return]


def api_login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    #: read by the API's URL check, which authenticates first: a stranger learns nothing of the parameters
    wrapper.requires_token = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def current_api_user() -> User:
    return g.api_user  # type: ignore[no-any-return]
