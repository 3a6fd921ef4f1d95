"""Unit-side exchange officers (SD-3, LOC-14): every answer from a sharing unit names who released it.

SD-3 asks for named, registered (备案) exchange officers on *both* sides. The agency side is
checked where officers act in Hedui (``engine.exchange.control``). The unit side acts outside
Hedui, so its answers carry the officer's identifier: ``officer`` in a system-mode body (results
and delay notices, covered by the unit's signature) and ``extra.officer`` in a media package's
authenticated header. The identifier is the **username of the unit-side user account filed in
Hedui** (``ExchangeRegistration`` with side ``sharing_unit``): the registration table already
holds it with validity dates and an end date, so filing, changing and ending a unit officer is
one mechanism for both sides, with its history, and no second list of codes to keep in step.

An answer naming nobody, an unknown account, an account not filed for *that* unit on the unit
side, or one whose filing does not cover the answer's date is refused before anything is
stored; the refusal itself is kept in the history (``exchange_answer_refused``) and committed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from typing import NoReturn

from sqlalchemy import select

from engine.clock import local_date
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import HeduiError
from engine.errors import PermissionDeniedError
from engine.exchange.batches import log_batch
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.models import ExchangeRegistration
from engine.models import ExchangeSide
from engine.models import Unit
from engine.models import User
from engine.models.exchange import ExchangeBatch
from engine.services.org import register_exchange_officer
from engine.sod import RULE_TEXT

SIDE_NAMES = {ExchangeSide.AGENCY.value: "核对机构", ExchangeSide.SHARING_UNIT.value: "共享单位"}


@dataclass(frozen=True)
class FiledOfficer:
    """One registration as a screen shows it (no secrets, no personal data beyond the name)."""

    sharing_unit: str
    side: str
    username: str
    display_name: str
    works_for: str
    valid_from: date
    valid_to: date | None
    valid_today: bool


def answer_day(moment: datetime) -> date:
    """The local (Beijing) date of an answer: what the registration's validity is checked against."""
    return local_date(moment)


def _refusal(unit: Unit, text: str, code: str, officer: str) -> PermissionDeniedError:
    return PermissionDeniedError(f"{text}，反馈已拒绝，未应用任何数据（SD-3：{RULE_TEXT['SD-3']}）",
                                 code=code, rule="SD-3", unit=unit.code, officer=officer)


def check_unit_officer(ctx: EngineContext, unit: Unit, officer: object, on: date) -> ExchangeRegistration:
    """The registration that lets ``officer`` release answers of ``unit`` on ``on``, or a refusal.

    Codes: ``unit_officer_missing``, ``unit_officer_unknown``, ``unit_officer_unregistered``
    (not filed for this unit on the unit side), ``unit_officer_not_valid`` (filed, but not on ``on``).
    """
    name = officer.strip()[:65] if isinstance(officer, str) else ""  # usernames have at most 64 characters
    if not name:
        raise _refusal(unit, f"反馈未注明「{unit.name}」放行的交换人员", "unit_officer_missing", "")
    user = ctx.session.execute(select(User).where(User.username == name)).scalar_one_or_none()
    if user is None:
        raise _refusal(unit, f"反馈注明的交换人员「{name}」不存在", "unit_officer_unknown", name)
    filed = list(ctx.session.execute(select(ExchangeRegistration).where(
        ExchangeRegistration.user_id == user.id, ExchangeRegistration.sharing_unit_id == unit.id,
        ExchangeRegistration.side == ExchangeSide.SHARING_UNIT).order_by(ExchangeRegistration.id)).scalars())
    if not filed:
        raise _refusal(unit, f"「{name}」不是「{unit.name}」备案的交换人员", "unit_officer_unregistered", name)
    for registration in filed:
        if registration.is_valid_on(on):
            return registration
    raise _refusal(unit, f"「{name}」在 {on.isoformat()} 不在「{unit.name}」交换人员备案有效期内",
                   "unit_officer_not_valid", name)


def refuse_answer(ctx: EngineContext, error: HeduiError, *, unit: Unit, batch: ExchangeBatch | None,
                  actor: Actor, **payload: object) -> NoReturn:
    """Record a refused answer in the history, keep that record (``commit``) and raise ``error``.

    Called before anything of the answer is stored, so the record is the only change kept.
    """
    details = {"error": error.code, "message": error.message, "officer": error.details.get("officer"), **payload}
    if batch is not None:
        log_batch(ctx, batch, "exchange_answer_refused", actor, **details)
    else:
        append_event(ctx, stream=SYSTEM_STREAM, kind="exchange_answer_refused", actor=actor,
                     payload={"unit": unit.code, **details})
    error.commit = True
    raise error


def require_unit_officer(ctx: EngineContext, unit: Unit, officer: object, on: date, *,
                         batch: ExchangeBatch | None, actor: Actor, **payload: object) -> ExchangeRegistration:
    """:func:`check_unit_officer`, recording a refusal (see :func:`refuse_answer`)."""
    try:
        return check_unit_officer(ctx, unit, officer, on)
    except HeduiError as exc:
        refuse_answer(ctx, exc, unit=unit, batch=batch, actor=actor, **payload)


def filed_officers(ctx: EngineContext, unit_ids: Collection[int], on: date) -> list[FiledOfficer]:
    """Every registration (both sides) for the sharing units ``unit_ids``: the read-only list on the officers' page."""
    if not unit_ids:
        return []
    works_for = Unit.__table__.alias("works_for")
    sharing = Unit.__table__.alias("sharing")
    rows = ctx.session.execute(
        select(ExchangeRegistration, User.username, User.display_name, works_for.c.name, sharing.c.name)
        .join(User, User.id == ExchangeRegistration.user_id)
        .join(works_for, works_for.c.id == ExchangeRegistration.unit_id)
        .join(sharing, sharing.c.id == ExchangeRegistration.sharing_unit_id)
        .where(ExchangeRegistration.sharing_unit_id.in_(sorted(unit_ids)))
        .order_by(sharing.c.code, ExchangeRegistration.side, User.username, ExchangeRegistration.id)).all()
    return [FiledOfficer(sharing_name, SIDE_NAMES[reg.side.value], username, display, unit_name, reg.valid_from,
                         reg.valid_to, reg.is_valid_on(on))
            for reg, username, display, unit_name, sharing_name in rows]


def file_unit_officer(ctx: EngineContext, unit: Unit, user: User, *, valid_from: date, valid_to: date | None,
                      actor: Actor) -> ExchangeRegistration | None:
    """File ``user`` as a unit-side officer of ``unit`` unless already filed (idempotent for seeding)."""
    existing = ctx.session.execute(select(ExchangeRegistration.id).where(
        ExchangeRegistration.user_id == user.id, ExchangeRegistration.sharing_unit_id == unit.id,
        ExchangeRegistration.side == ExchangeSide.SHARING_UNIT)).first()
    if existing is not None:
        return None
    return register_exchange_officer(ctx, user, unit, unit, valid_from=valid_from, valid_to=valid_to, actor=actor)


def registration_username(ctx: EngineContext, registration: ExchangeRegistration) -> str:
    """The filed officer's identifier (username), for the history of what they released."""
    user = ctx.session.get(User, registration.user_id)
    assert user is not None
    return user.username
