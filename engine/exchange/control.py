"""Dual control and registration checks shared by batches and imports (SD-2, SD-3).

Refusals carry stable codes: ``exchange_officer_unregistered`` (SD-3: not a registered
officer for this unit today) and ``dual_control_same_officer`` (SD-2: the second step by the
person who did the first).
"""

from __future__ import annotations

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import PermissionDeniedError
from engine.errors import SeparationOfDutiesError
from engine.models import ExchangeRegistration
from engine.models import ExchangeSide
from engine.models import Unit
from engine.services.org import is_registered
from engine.sod import RULE_TEXT


def require_registered(ctx: EngineContext, actor: Actor, unit: Unit) -> None:
    """Only an agency-side officer registered (备案) for ``unit`` and valid today may exchange data with it (SD-3).

    A unit-side registration does not count here: the unit's own officers release its answers
    (``engine.exchange.officers``), they do not prepare, confirm or import on Hedui's side.
    """
    if actor.user_id is None or not is_registered(ctx, actor.user_id, unit.code, ctx.today(), ExchangeSide.AGENCY):
        raise PermissionDeniedError(
            f"您不是与「{unit.name}」备案的交换人员，或备案已过有效期（SD-3：{RULE_TEXT['SD-3']}）",
            code="exchange_officer_unregistered", rule="SD-3", unit=unit.code)


def officer_agency(ctx: EngineContext, actor: Actor, unit: Unit) -> int | None:
    """The agency an officer exchanges for with ``unit`` (their registration's own unit), if any."""
    day = ctx.today()
    return ctx.session.execute(
        select(ExchangeRegistration.unit_id).where(
            ExchangeRegistration.user_id == actor.user_id, ExchangeRegistration.sharing_unit_id == unit.id,
            ExchangeRegistration.side == ExchangeSide.AGENCY, ExchangeRegistration.is_valid_on(day))
        .order_by(ExchangeRegistration.id).limit(1)).scalar()


def require_second_officer(first: str, actor: Actor, what: str) -> None:
    """The confirming officer must not be the one who did the first step (SD-2)."""
    if actor.username == first:
        raise SeparationOfDutiesError(
            f"{what}须由另一名交换人员确认，您不能确认自己办理的事项（SD-2：{RULE_TEXT['SD-2']}）",
            code="dual_control_same_officer", rule="SD-2")


def officer_scope(ctx: EngineContext, user_id: int) -> set[tuple[int, int | None]]:
    """The (sharing unit, agency) pairs an officer exchanges for today: what their screens list."""
    day = ctx.today()
    rows = ctx.session.execute(
        select(ExchangeRegistration.sharing_unit_id, ExchangeRegistration.unit_id).where(
            ExchangeRegistration.user_id == user_id, ExchangeRegistration.side == ExchangeSide.AGENCY,
            ExchangeRegistration.is_valid_on(day))).all()
    return {(sharing, agency) for sharing, agency in rows}
