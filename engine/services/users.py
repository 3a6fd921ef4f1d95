"""Users, roles held, passwords (argon2) and API bearer tokens (stored hashed)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.models import ApiToken
from engine.models import User

_hasher = PasswordHasher()
#: verified against when the user does not exist, so timing does not reveal valid usernames
_DUMMY_HASH = _hasher.hash("hedui-timing-equaliser")


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Swap the argon2 parameters (tests use cheap ones; hashes carry their own parameters)."""
    global _hasher, _DUMMY_HASH
    _hasher, _DUMMY_HASH = hasher, hasher.hash("hedui-timing-equaliser")
TOKEN_TTL = timedelta(hours=8)


class AuthenticationError(PermissionDeniedError):
    code = "invalid_credentials"
    message = "用户名或密码错误"


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValidationError("密码至少 8 位", fields={"password": ["密码至少 8 位"]})
    return _hasher.hash(password)


def create_user(ctx: EngineContext, username: str, display_name: str, password: str, *, actor: Actor) -> User:
    if ctx.session.execute(select(User.id).where(User.username == username)).first() is not None:
        raise ValidationError("用户名已存在", fields={"username": ["用户名已存在"]})
    if not re.fullmatch(r"[a-z][a-z0-9_.-]{1,63}", username):
        raise ValidationError("用户名须为小写字母开头的字母、数字、下划线", fields={"username": ["用户名格式不正确"]})
    user = User(username=username, display_name=display_name, password_hash=hash_password(password),
                created_at=ctx.now())
    ctx.session.add(user)
    ctx.session.flush()
    append_event(ctx, stream=SYSTEM_STREAM, kind="user_created", actor=actor,
                 payload={"user": username, "display_name": display_name})
    return user


def get_user(ctx: EngineContext, username: str) -> User:
    user = ctx.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"用户「{username}」不存在", user=username)
    return user


def authenticate(ctx: EngineContext, username: str, password: str) -> User:
    """Check a password; the same error (and similar timing) for unknown users and wrong passwords."""
    user = ctx.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    try:
        _hasher.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise AuthenticationError() from None
    if user is None or not user.is_active:
        raise AuthenticationError()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(ctx: EngineContext, user: User, *, ttl: timedelta = TOKEN_TTL) -> IssuedToken:
    token = secrets.token_urlsafe(32)
    expires = ctx.now() + ttl
    ctx.session.add(ApiToken(user_id=user.id, token_hash=_digest(token), created_at=ctx.now(), expires_at=expires))
    ctx.session.flush()
    return IssuedToken(token, expires)


def user_for_token(ctx: EngineContext, token: str) -> User | None:
    """The active user a valid, unexpired, unrevoked token belongs to."""
    row = ctx.session.execute(select(ApiToken).where(ApiToken.token_hash == _digest(token))).scalar_one_or_none()
    now = ctx.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now or not row.user.is_active:
        return None
    row.last_used_at = now
    return row.user


def revoke_token(ctx: EngineContext, token: str) -> None:
    row = ctx.session.execute(select(ApiToken).where(ApiToken.token_hash == _digest(token))).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = ctx.now()
        ctx.session.flush()
