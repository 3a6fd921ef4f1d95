"""Reading dishonesty records (失信登记, AU-3): lists by jurisdiction, and the cross-region lookup by ID number.

Lists follow jurisdiction (OR-3): a user sees the records of the departments they belong to
and of every department or case in the regions they cover. The *linkage* JL 第二十条 asks for
("多部门、跨地区信用奖惩联动") is the exception: whoever registers or accepts a case
(:data:`LOOKUP_ROLES`) learns, for an exact ID number of a subject in front of them, whether a
record is in force anywhere — never a list, never a prefix search, and never a record that is
only proposed, rejected, revoked or expired.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.models import Household
from engine.models import Membership
from engine.models import Person
from engine.models.credit import CreditRecord
from engine.models.credit import active_on
from engine.models.credit import in_state
from engine.services.credit import get_record
from engine.services.register_scope import register_visibility

#: roles that register or accept new cases: street/department clerks and the agencies' intake and review
LOOKUP_ROLES = ("street_clerk", "assistance_officer", "intake_officer", "review_officer")


def visible_records(ctx: EngineContext, user_id: int) -> ColumnElement[bool]:
    """SQL: what the user reads (``engine.services.register_scope``: reading roles, then jurisdiction)."""
    return register_visibility(ctx, user_id, CreditRecord.unit_id, CreditRecord.household_id)


def visible_record(ctx: EngineContext, user_id: int, number: str) -> CreditRecord:
    """The record if the user's jurisdiction covers it; 404 otherwise (never 403, OR-3)."""
    record = get_record(ctx, number)
    if ctx.session.execute(select(CreditRecord.id).where(CreditRecord.id == record.id,
                                                         visible_records(ctx, user_id))).first() is None:
        raise NotFoundError("失信登记不存在", credit_record=number)
    return record


def list_records(ctx: EngineContext, *, user_id: int, state: str | None = None, period_from: date | None = None,
                 period_to: date | None = None, before_id: int | None = None,
                 limit: int = 50) -> tuple[list[CreditRecord], int | None]:
    """The records in the user's jurisdiction, newest first: ``(page, cursor of the next page or None)``.

    :param state: a shown state (``expired`` is derived from today's date).
    :param period_from: with ``period_to``: records whose period overlaps these days.
    """
    query = (select(CreditRecord).where(visible_records(ctx, user_id)).order_by(CreditRecord.id.desc())
             .options(selectinload(CreditRecord.unit)).limit(limit + 1))
    if state:
        query = query.where(in_state(state, ctx.today()))
    if period_from is not None:
        query = query.where(CreditRecord.valid_to >= period_from)
    if period_to is not None:
        query = query.where(CreditRecord.valid_from <= period_to)
    if before_id is not None:
        query = query.where(CreditRecord.id < before_id)
    rows = list(ctx.session.execute(query).scalars())
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


def may_lookup(ctx: EngineContext, user_id: int) -> bool:
    return ctx.session.execute(select(Membership.id).where(
        Membership.user_id == user_id, Membership.role_code.in_(LOOKUP_ROLES))).first() is not None


def lookup_active(ctx: EngineContext, user_id: int, id_number: str) -> list[CreditRecord]:
    """The records in force today for exactly ``id_number``, in every region (the linkage, JL 20).

    :raises PermissionDeniedError: ``role_required`` unless the user registers or accepts cases.
    """
    if not may_lookup(ctx, user_id):
        raise PermissionDeniedError("只有受理、登记核对案件的人员可以按身份证号码查询失信登记", code="role_required",
                                    roles=list(LOOKUP_ROLES))
    return active_records(ctx, [id_number])


def active_records(ctx: EngineContext, id_numbers: list[str]) -> list[CreditRecord]:
    """The records in force today for any of ``id_numbers``, in every region, oldest first."""
    numbers = sorted({n for n in id_numbers if n})
    if not numbers:
        return []
    return list(ctx.session.execute(select(CreditRecord).where(
        CreditRecord.id_number.in_(numbers), active_on(ctx.today())).order_by(CreditRecord.id)).scalars())


def case_warnings(ctx: EngineContext, household: Household) -> list[tuple[Person, CreditRecord]]:
    """The case's subjects with a record in force (the warning banner; verification goes on, JL 13)."""
    persons = {p.id_number: p for p in household.persons if p.id_number}
    return [(persons[r.id_number], r) for r in active_records(ctx, list(persons))]
