"""Sign-in throttling shared by the browser form and the API token endpoint.

Attempts are rows in ``login_attempts`` (not process memory), so every web process sees
the same counts. After :data:`USERNAME_LIMIT` failures for one username, or
:data:`IP_LIMIT` failures from one address, within :data:`WINDOW`, further attempts are
refused until the oldest counted failure leaves the window. A successful sign-in resets
the username's count but never the address's (one valid account must not buy an attacker
fresh guesses against the others). Passwords are never logged.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from datetime import timedelta

from sqlalchemy import ColumnElement
from sqlalchemy import delete
from sqlalchemy import select

from engine.context import EngineContext
from engine.errors import PermissionDeniedError
from engine.models import LoginAttempt
from engine.models import User
from engine.services.users import AuthenticationError
from engine.services.users import authenticate
from forms.text import CONTROL

logger = logging.getLogger(__name__)

USERNAME_LIMIT = 5
IP_LIMIT = 20
WINDOW = timedelta(minutes=15)
_USERNAME_MAX = 64
_IP_MAX = 45


class LoginThrottledError(PermissionDeniedError):
    """Too many failed sign-ins; ``details['retry_after']`` is in seconds (HTTP 429 on the web)."""

    code = "login_throttled"
    message = "登录失败次数过多，请稍后再试"


class FailedLoginError(AuthenticationError):
    """A wrong username or password whose attempt row must be kept although the request fails."""

    commit = True


def record_attempt(ctx: EngineContext, username: str, ip: str | None, *, succeeded: bool) -> LoginAttempt:
    """Store one sign-in attempt at the engine clock's time."""
    attempt = LoginAttempt(username=username[:_USERNAME_MAX], ip=(ip or "unknown")[:_IP_MAX], succeeded=succeeded,
                           attempted_at=ctx.now())
    ctx.session.add(attempt)
    ctx.session.flush()
    return attempt


def check_throttle(ctx: EngineContext, username: str, ip: str | None) -> None:
    """Refuse a sign-in while the username or the address has too many recent failures.

    :raises LoginThrottledError: with the number of seconds until the next attempt is allowed.
    """
    now = ctx.now()
    since = now - WINDOW
    waits = [t for t in (_username_retry_at(ctx, username[:_USERNAME_MAX], since),
                         _ip_retry_at(ctx, (ip or "unknown")[:_IP_MAX], since)) if t is not None]
    if not waits:
        return
    seconds = max(1, math.ceil((max(waits) - now).total_seconds()))
    logger.info("sign-in throttled for user %s", username)
    raise LoginThrottledError(f"登录失败次数过多，请 {math.ceil(seconds / 60)} 分钟后再试", retry_after=seconds)


def _username_retry_at(ctx: EngineContext, username: str, since: datetime) -> datetime | None:
    last_success = ctx.session.execute(
        select(LoginAttempt.attempted_at)
        .where(LoginAttempt.username == username, LoginAttempt.succeeded.is_(True),
               LoginAttempt.attempted_at > since)
        .order_by(LoginAttempt.attempted_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    # failures before the user's own latest success in the window no longer count
    start = last_success if last_success is not None else since
    return _retry_at(ctx, [LoginAttempt.username == username, LoginAttempt.attempted_at > start], USERNAME_LIMIT)


def _ip_retry_at(ctx: EngineContext, ip: str, since: datetime) -> datetime | None:
    return _retry_at(ctx, [LoginAttempt.ip == ip, LoginAttempt.attempted_at > since], IP_LIMIT)


def _retry_at(ctx: EngineContext, conditions: list[ColumnElement[bool]], limit: int) -> datetime | None:
    """When the failures matching ``conditions`` drop below ``limit`` (None when they already are)."""
    recent = list(ctx.session.execute(
        select(LoginAttempt.attempted_at)
        .where(LoginAttempt.succeeded.is_(False), *conditions)
        .order_by(LoginAttempt.attempted_at.desc())
        .limit(limit)
    ).scalars())
    # the limit-th most recent failure is the one whose leaving the window lets the next attempt in
    return recent[-1] + WINDOW if len(recent) >= limit else None


def sign_in(ctx: EngineContext, username: str, password: str, *, ip: str | None) -> User:
    """Authenticate through the throttle and record the attempt either way.

    :raises LoginThrottledError: before the password is even checked.
    :raises FailedLoginError: on a wrong username or password (its attempt row is committed).
    """
    # no account has a control character in its name: as "?" it matches none and counts as any failure
    # (PostgreSQL text cannot hold NUL: the raw name reaching the attempts table was a server error)
    username = CONTROL.sub("?", username)
    check_throttle(ctx, username, ip)
    try:
        user = authenticate(ctx, username, password)
    except AuthenticationError:
        record_attempt(ctx, username, ip, succeeded=False)
        logger.info("sign-in failed for user %s", username)
        raise FailedLoginError() from None
    record_attempt(ctx, username, ip, succeeded=True)
    return user


def purge_attempts(ctx: EngineContext, *, older_than: timedelta = timedelta(days=30)) -> int:
    """Delete attempts older than ``older_than`` (they no longer count); returns how many."""
    result = ctx.session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < ctx.now() - older_than))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
