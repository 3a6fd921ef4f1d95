"""Who reads a department's registers (失信登记 AU-3, 举报投诉 AU-2): by role, then by jurisdiction.

Both registers hold personal data about people who are not staff (subjects, complainants), so having
some role in the region is not enough: only the roles that work with them read them — the
civil-affairs staff who keep them, the verification agencies' case staff (they act on the warnings
and rechecks these registers lead to), supervisors and auditors. A sharing unit's officer (a bank),
an exchange officer, a process designer or an administrator reads none of it, whatever their region.
"""

from __future__ import annotations

from typing import Any
from typing import TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy import SQLColumnExpression
from sqlalchemy import false
from sqlalchemy import or_
from sqlalchemy import select

from engine.assignment import Memberships
from engine.assignment import load_memberships
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.models import Household
from engine.models import Membership
from engine.models import Region
from engine.models import Unit
from engine.models import UnitKind

E = TypeVar("E")

#: the roles that read the registers of the units and regions they belong to
REGISTER_READERS = frozenset({"street_clerk", "assistance_officer", "supervisor", "intake_officer",
                              "review_officer", "report_officer", "auditor"})


def readers_memberships(ctx: EngineContext, user_id: int) -> Memberships:
    """The user's memberships in a reading role only."""
    held = load_memberships(ctx, user_id)
    return Memberships(tuple(row for row in held.rows if row[1] in REGISTER_READERS))


def register_visibility(ctx: EngineContext, user_id: int, unit_id: SQLColumnExpression[int],
                        household_id: SQLColumnExpression[int | None]) -> ColumnElement[bool]:
    """SQL: the entry's unit is one the user reads for, or that unit or the entry's case lies in a region
    such a membership covers; nothing for users without a reading role."""
    held = readers_memberships(ctx, user_id)
    conditions: list[ColumnElement[bool]] = []
    if held.unit_ids:
        conditions.append(unit_id.in_(sorted(held.unit_ids)))
    if held.paths:
        regions = select(Region.code).where(or_(*[Region.path.startswith(path) for path in sorted(held.paths)]))
        conditions.append(unit_id.in_(select(Unit.id).where(Unit.region_code.in_(regions))))
        conditions.append(household_id.in_(select(Household.id).where(Household.region_code.in_(regions))))
    return or_(*conditions) if conditions else false()


def department_units(ctx: EngineContext, user_id: int, roles: tuple[str, ...]) -> list[Unit]:
    """The civil-affairs departments (entrusting departments) where the user holds one of ``roles``."""
    return list(ctx.session.execute(
        select(Unit).join(Membership, Membership.unit_id == Unit.id)
        .where(Membership.user_id == user_id, Membership.role_code.in_(roles),
               Unit.kind == UnitKind.ENTRUSTING_DEPARTMENT).distinct().order_by(Unit.code)).scalars())


def entry_by_number(ctx: EngineContext, model: type[E], number: str, *, lock: bool, missing: str,
                    **details: Any) -> E:
    """A register entry by its number, row-locked for a command (``lock``); 404 ``missing`` otherwise."""
    query = select(model).where(model.number == number)  # type: ignore[attr-defined]
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    entry = ctx.session.execute(query).scalar_one_or_none()
    if entry is None:
        raise NotFoundError(missing, **details)
    return entry


def department_case(ctx: EngineContext, case_no: str, unit: Unit) -> Household:
    """The case if the department ``unit`` entrusted it or its region lies in the unit's (OR-3); 404 otherwise:
    outside its region a case does not exist for the department (rechecks, 失信登记, 举报投诉)."""
    household = ctx.session.execute(select(Household).where(Household.case_no == case_no)).scalar_one_or_none()
    if household is None or household.instance_id is None:
        raise NotFoundError("案件不存在", case_no=case_no)
    own = household.entrustment.entrusting_unit_id == unit.id
    path = ctx.session.execute(select(Region.path).where(Region.code == household.region_code)).scalar_one()
    if not own and not path.startswith(unit.region.path):
        raise NotFoundError("案件不存在", case_no=case_no)
    return household
