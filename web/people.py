"""People as staff read them: a username becomes the person's display name on the staff pages.

Usernames stay where an auditor needs them (the audit pages show 「姓名（用户名）」). Actors that are
not people read as what they are: the command line (``cli``) as 「命令行」, jobs and the system as 「系统」.
Each name is read once per request (one small query per new username; pages name a handful).
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from flask import g
from sqlalchemy import select

from engine.models import Unit
from engine.models import User
from web.db import get_ctx

NO_ONE = "—"
#: actors that are not people
NON_PERSONS = {"cli": "命令行", "system": "系统", "archive": "系统"}


def _known() -> dict[str, str]:
    return g.setdefault("hedui_person_names", {})  # type: ignore[no-any-return]


def load_names(usernames: Iterable[str | None]) -> None:
    """Read the display names of ``usernames`` not read yet in this request (one query)."""
    known = _known()
    missing = {u for u in usernames if u and u not in known and not _non_person(u) and not u.startswith("unit:")}
    if missing:
        rows = get_ctx().session.execute(
            select(User.username, User.display_name).where(User.username.in_(missing))).all()
        known.update((username, name) for username, name in rows)
        known.update((u, u) for u in missing if u not in known)  # a deleted or unknown account: as recorded


def _non_person(username: str) -> str | None:
    if username in NON_PERSONS:
        return NON_PERSONS[username]
    if username.startswith("job:") or username.startswith("system:"):
        return "系统"
    return None


def person(username: str | None) -> str:
    """The display name of ``username`` (``郭平（朝阳区核对中心科长）``), 命令行 / 系统 for non-persons, a
    sharing unit answering as ``unit:<code>`` by the unit's name."""
    if not username:
        return NO_ONE
    other = _non_person(username)
    if other:
        return other
    if username.startswith("unit:"):
        return _unit_name(username)
    load_names([username])
    return _known()[username]


def _unit_name(actor: str) -> str:
    known = _known()
    if actor not in known:
        name = get_ctx().session.execute(select(Unit.name).where(Unit.code == actor.removeprefix("unit:"))).scalar()
        known[actor] = str(name or actor)
    return known[actor]


def person_with_username(username: str | None) -> str:
    """For auditors: 「姓名（用户名）」, or the non-person's name alone."""
    if not username or _non_person(username):
        return person(username)
    name = person(username)
    return f"{name}（{username}）" if name != username else username


def init_app(app: Flask) -> None:
    app.jinja_env.globals["person"] = person
    app.jinja_env.globals["person_with_username"] = person_with_username
