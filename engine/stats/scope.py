"""What a statistics query covers: the viewer's jurisdiction, a period, and optional filters.

The jurisdiction is the one every case list uses (:func:`engine.assignment.visible_instances`): the
viewer's units and the regions below them (OR-3). Region and agency filters may only narrow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import or_
from sqlalchemy import select

from engine.assignment import load_memberships
from engine.assignment import visible_instances
from engine.clock import LOCAL_TZ
from engine.context import EngineContext
from engine.errors import ValidationError
from engine.models import Household
from engine.models import Region
from engine.models import Unit
from engine.models import UnitKind
from engine.models import WorkflowInstance

#: the process whose instances are verification cases (re-verifications and upper-level cases included)
PROCESS_ID = "standard_verification"
#: the longest period one query may cover (a policy analysis over several years is several queries)
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class StatsQuery:
    """A period of Beijing calendar dates (both inclusive) on the case's received date, and filters."""

    user_id: int
    first: date
    last: date
    region_code: str | None = None
    agency_unit_id: int | None = None
    business_type: str | None = None

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(), LOCAL_TZ)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), LOCAL_TZ)


@dataclass(frozen=True)
class Choices:
    """The regions and agencies the viewer may filter by (their jurisdiction only)."""

    #: ``(code, name, level)`` in path order
    regions: list[tuple[str, str, str]]
    #: ``(unit id, name)``
    agencies: list[tuple[int, str]]


def choices(ctx: EngineContext, user_id: int) -> Choices:
    """Regions below the viewer's units' regions and verification agencies within the jurisdiction."""
    held = load_memberships(ctx, user_id)
    if not held.paths:
        return Choices([], [])
    in_paths = or_(*[Region.path.startswith(path) for path in sorted(held.paths)])
    regions = ctx.session.execute(select(Region.code, Region.name, Region.level).where(in_paths)
                                  .order_by(Region.path)).all()
    agencies = ctx.session.execute(
        select(Unit.id, Unit.name).join(Region, Region.code == Unit.region_code)
        .where(Unit.kind == UnitKind.VERIFICATION_AGENCY, or_(in_paths, Unit.id.in_(sorted(held.unit_ids))))
        .order_by(Region.path, Unit.code)).all()
    return Choices([(c, n, lvl.value) for c, n, lvl in regions], [(i, n) for i, n in agencies])


def validate(ctx: EngineContext, query: StatsQuery) -> None:
    """Refuse a period that is reversed or too long, and filters outside the viewer's jurisdiction."""
    fields: dict[str, list[str]] = {}
    if query.last < query.first:
        fields["to"] = ["结束日期不能早于开始日期"]
    elif (query.last - query.first).days >= MAX_DAYS:
        fields["to"] = ["统计期间最长为三年"]
    allowed = choices(ctx, query.user_id)
    if query.region_code is not None and query.region_code not in {c for c, _, _ in allowed.regions}:
        fields["region"] = ["所选地区不在您的管辖范围内"]
    if query.agency_unit_id is not None and query.agency_unit_id not in {i for i, _ in allowed.agencies}:
        fields["agency"] = ["所选核对机构不在您的管辖范围内"]
    if fields:
        raise ValidationError("统计条件有误，请修改后重试", fields=fields)


def case_conditions(ctx: EngineContext, query: StatsQuery, instance: type[WorkflowInstance] = WorkflowInstance,
                    household: type[Household] = Household) -> ColumnElement[bool]:
    """SQL: the case is a verification case in the viewer's jurisdiction, received in the period, filtered."""
    conditions = [instance.process_id == PROCESS_ID, visible_instances(ctx, query.user_id, instance),
                  instance.started_at >= query.since, instance.started_at < query.until]
    if query.region_code is not None:
        path = ctx.session.execute(select(Region.path).where(Region.code == query.region_code)).scalar_one()
        conditions.append(instance.region_code.in_(select(Region.code).where(Region.path.startswith(path))))
    if query.agency_unit_id is not None:
        conditions.append(instance.agency_unit_id == query.agency_unit_id)
    if query.business_type is not None:
        conditions.append(household.business_type == query.business_type)
    return and_(*conditions)
