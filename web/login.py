"""Browser sessions: flask-login, sign-in required by default, idle expiry, CSRF tokens.

Every browser page needs a signed-in user unless its view is marked :func:`public`; the API
(``/api/``, the ``api`` blueprint) keeps its own bearer-token authentication and is exempt
from all of this, including CSRF (it uses no cookies).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Flask
from flask import Response
from flask import current_app
from flask import flash
from flask import g
from flask import jsonify
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager
from flask_login import UserMixin
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from engine.models import Role
from engine.models import User
from engine.reports.listing import REPORT_READERS
from engine.services.definitions import DEFINITION_READERS
from engine.services.org import memberships_of
from engine.services.register_scope import REGISTER_READERS
from engine.services.security import LoginThrottledError
from engine.stats.access import STATS_ROLES
from web.db import get_ctx
from web.db import state
from web.errors import wants_json

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

login_manager = LoginManager()

LAST_SEEN_KEY = "last_seen"
CSRF_KEY = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_NOTICE = "请先登录"
IDLE_NOTICE = "由于长时间未操作，您已自动退出，请重新登录"
CSRF_MESSAGE = "页面已过期或请求来源无法确认，请返回刷新页面后重新提交"


class SessionUser(UserMixin):  # type: ignore[misc]
    """The signed-in person as flask-login sees them; ``user`` is the engine's row."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.id = user.id
        self.username = user.username
        self.display_name = user.display_name

    @property
    def is_active(self) -> bool:
        return bool(self.user.is_active)


@dataclass(frozen=True)
class HeldRole:
    """One role the signed-in user holds in one unit, with the Chinese names to show."""

    unit_id: int
    unit_code: str
    unit_name: str
    region_name: str
    role_code: str
    role_name: str


def public(view: F) -> F:
    """Mark a browser view as reachable without signing in (the login page)."""
    view.is_public = True  # type: ignore[attr-defined]
    return view


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(lambda: redirect_to_login(LOGIN_NOTICE))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # a session cookie must never travel over plain HTTP in production
        SESSION_COOKIE_SECURE=app.config["ENV"] == "production",
    )
    app.before_request(_guard)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"my_roles": held_roles, "has_role": has_role,
                                   "has_any_role": has_any_role, "register_readers": REGISTER_READERS,
                                   "report_readers": REPORT_READERS,
                                   "stats_roles": STATS_ROLES, "definition_readers": DEFINITION_READERS})
    app.register_error_handler(LoginThrottledError, _throttled)


def _load_user(user_id: str) -> SessionUser | None:
    if not user_id.isdigit():
        return None
    user = get_ctx().session.get(User, int(user_id))
    if user is None or not user.is_active:
        return None
    return SessionUser(user)


def _is_api() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def _is_public() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "is_public", False))


def _guard() -> ResponseReturnValue | None:
    """Runs before every browser request: idle expiry, then CSRF, then sign-in required."""
    if _is_api() or request.endpoint in (None, "static"):
        return None
    expired = _expire_idle_session()
    if expired is not None:
        return expired
    if request.method in UNSAFE_METHODS and not _csrf_valid():
        logger.info("CSRF check failed on %s %s", request.method, request.path)
        return render_template("errors/error.html", status=400, message=CSRF_MESSAGE), 400
    if not _is_public() and not current_user.is_authenticated:
        return redirect_to_login(LOGIN_NOTICE)
    return None


def _expire_idle_session() -> BaseResponse | None:
    """End a signed-in session idle for ``SESSION_IDLE_MINUTES`` (engine clock), else note this request."""
    if "_user_id" not in session:
        return None
    now = state().clock.now().timestamp()
    last_seen = session.get(LAST_SEEN_KEY)
    idle_limit = int(current_app.config["SESSION_IDLE_MINUTES"]) * 60
    if not isinstance(last_seen, (int, float)) or now - last_seen >= idle_limit:
        end_session()
        return redirect_to_login(IDLE_NOTICE)
    session[LAST_SEEN_KEY] = now
    return None


def start_session(user: User) -> None:
    """Sign ``user`` in on a fresh session (a new CSRF token; nothing carried over from before)."""
    session.clear()
    login_user(SessionUser(user))
    session[LAST_SEEN_KEY] = state().clock.now().timestamp()


def end_session() -> None:
    logout_user()
    session.clear()


def redirect_to_login(notice: str) -> BaseResponse:
    """Send the browser to the login page, coming back here afterwards when this was a page view."""
    target = None
    if request.method in ("GET", "HEAD") and request.path != url_for("home.index"):
        target = request.full_path.rstrip("?")
    if target is not None or notice != LOGIN_NOTICE:
        flash(notice, "info")  # opening the site at its front page needs no explanation
    return redirect(url_for("home.login", next=target))


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else the home page (no open redirects)."""
    fallback = url_for("home.index")
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def csrf_token() -> str:
    """The session's CSRF token (created on first use); every browser form posts it back."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def _csrf_valid() -> bool:
    expected = session.get(CSRF_KEY)
    sent = request.form.get(CSRF_KEY) or request.headers.get("X-CSRF-Token")
    if not isinstance(expected, str) or not sent:
        return False
    return secrets.compare_digest(expected.encode("utf-8"), sent.encode("utf-8"))


def held_roles() -> list[HeldRole]:
    """The signed-in user's roles in their units (cached for the request)."""
    if "hedui_held_roles" not in g:
        g.hedui_held_roles = _query_held_roles(current_user.id) if current_user.is_authenticated else []
    return g.hedui_held_roles  # type: ignore[no-any-return]


def _query_held_roles(user_id: int) -> list[HeldRole]:
    ctx = get_ctx()
    names = {code: name for code, name in ctx.session.execute(select(Role.code, Role.name))}
    return [HeldRole(m.unit_id, m.unit.code, m.unit.name, m.unit.region.name, m.role_code,
                     names.get(m.role_code, m.role_code))
            for m in memberships_of(ctx, user_id)]


def has_role(role_code: str) -> bool:
    return any(held.role_code == role_code for held in held_roles())


def has_any_role(role_codes: Iterable[str]) -> bool:
    """Whether the user holds one of ``role_codes`` in some unit (the engine's role sets, e.g. who reads
    the registers or the statistics, decide what the navigation offers)."""
    codes = set(role_codes)
    return any(held.role_code in codes for held in held_roles())


def throttled_response(exc: LoginThrottledError, body: Response | str) -> Response:
    """HTTP 429 with ``Retry-After`` (seconds) around ``body``."""
    response = make_response(body)
    response.status_code = 429
    response.headers["Retry-After"] = str(exc.details.get("retry_after", 60))
    return response


def _throttled(exc: LoginThrottledError) -> Response:
    """Too many failed sign-ins outside the login page (the API token endpoint): JSON or an error page."""
    if wants_json():
        return throttled_response(exc, jsonify(exc.to_dict()))
    return throttled_response(exc, render_template("errors/error.html", status=429, message=exc.message))
