"""Reading cross-city requests and batches (PS-7) for each level, with jurisdiction.

The county sees the requests its agency raised (and the batch each is in), the city its
waiting requests and its batches, the province the batches entrusted to it and their cases.
Someone outside all of these gets :class:`~engine.errors.NotFoundError` (OR-3: the batch does
not exist for them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlalchemy import select

from engine.assignment import visible_to
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import Membership
from engine.models import Region
from engine.models import RegionLevel
from engine.models import Timer
from engine.models import TimerStatus
from engine.models import Unit
from engine.models import UnitKind
from engine.models.escalation import CrossCityBatch
from engine.models.escalation import Escalation
from engine.models.escalation import EscalationKind
from engine.models.escalation import EscalationStatus
from engine.services.cross_city import GATHER_ROLES


@dataclass(frozen=True)
class BatchView:
    """A batch as the pages and the API show it."""

    batch: CrossCityBatch
    overdue: bool
    reports_due: datetime | None
    open_tasks: list[HumanTask]


def unit_ids_of(ctx: EngineContext, user_id: int) -> set[int]:
    return set(ctx.session.execute(select(Membership.unit_id).where(Membership.user_id == user_id)).scalars())


def gathering_units(ctx: EngineContext, user_id: int) -> list[Unit]:
    """City verification agencies where the user may gather now (「立即汇总」)."""
    return list(ctx.session.execute(
        select(Unit).join(Membership, Membership.unit_id == Unit.id).join(Region, Region.code == Unit.region_code)
        .where(Membership.user_id == user_id, Membership.role_code.in_(GATHER_ROLES),
               Unit.kind == UnitKind.VERIFICATION_AGENCY, Region.level == RegionLevel.CITY)
        .distinct().order_by(Unit.code)).scalars())


def gathering_role(ctx: EngineContext, user_id: int, unit: Unit) -> str:
    """The role the user gathers ``unit``'s requests in (recorded on the events): review officer, else supervisor."""
    held = set(ctx.session.execute(select(Membership.role_code).where(
        Membership.user_id == user_id, Membership.unit_id == unit.id, Membership.role_code.in_(GATHER_ROLES)))
        .scalars())
    return next(role for role in GATHER_ROLES if role in held)


def list_requests(ctx: EngineContext, *, origin_unit_ids: set[int] | None = None, via_unit_ids: set[int] | None = None,
                  statuses: tuple[EscalationStatus, ...] | None = None, limit: int = 200) -> list[Escalation]:
    """Cross-city requests raised by ``origin_unit_ids`` or going through ``via_unit_ids``, newest first."""
    query = select(Escalation).where(Escalation.kind == EscalationKind.CROSS_CITY)
    parties = []
    if origin_unit_ids is not None:
        parties.append(Escalation.origin_agency_unit_id.in_(origin_unit_ids))
    if via_unit_ids is not None:
        parties.append(Escalation.via_unit_id.in_(via_unit_ids))
    if parties:
        query = query.where(or_(*parties))
    if statuses:
        query = query.where(Escalation.status.in_(statuses))
    return list(ctx.session.execute(query.order_by(Escalation.id.desc()).limit(limit)).scalars())


def list_batches(ctx: EngineContext, unit_ids: set[int], *, limit: int = 100) -> list[CrossCityBatch]:
    """Batches gathered by, or entrusted to, one of ``unit_ids``, newest first."""
    return list(ctx.session.execute(
        select(CrossCityBatch).where(or_(CrossCityBatch.city_agency_unit_id.in_(unit_ids),
                                         CrossCityBatch.province_agency_unit_id.in_(unit_ids)))
        .order_by(CrossCityBatch.id.desc()).limit(limit)).scalars())


def get_batch(ctx: EngineContext, number: str, *, user_id: int | None = None) -> CrossCityBatch:
    """The batch ``number``; with ``user_id``, only if that user may see it.

    :raises NotFoundError: no such batch, or outside the user's jurisdiction (another city's staff).
    """
    batch = ctx.session.execute(select(CrossCityBatch).where(CrossCityBatch.number == number)).scalar_one_or_none()
    if batch is None or (user_id is not None and not batch_visible(ctx, user_id, batch)):
        raise NotFoundError("跨地市核对批次不存在", code="batch_not_found", batch_no=number)
    return batch


def batch_visible(ctx: EngineContext, user_id: int, batch: CrossCityBatch) -> bool:
    """The city and province agencies, units whose region contains the city, and the requesting counties."""
    units = unit_ids_of(ctx, user_id)
    if units & {batch.city_agency_unit_id, batch.province_agency_unit_id}:
        return True
    if units & {e.origin_agency_unit_id for e in batch.escalations}:
        return True
    return batch.instance is not None and visible_to(ctx, user_id, batch.instance)


def visible_requests(ctx: EngineContext, user_id: int, batch: CrossCityBatch) -> list[Escalation]:
    """The batch's requests a viewer may read: all of them for the city and province agencies and units whose
    region contains the city; a requesting county only its own (not the other counties' cases and reasons)."""
    units = unit_ids_of(ctx, user_id)
    if units & {batch.city_agency_unit_id, batch.province_agency_unit_id} or (
            batch.instance is not None and visible_to(ctx, user_id, batch.instance)):
        return list(batch.escalations)
    return [e for e in batch.escalations if e.origin_agency_unit_id in units]


def request_visible(ctx: EngineContext, user_id: int, escalation: Escalation) -> bool:
    units = unit_ids_of(ctx, user_id)
    parties = {escalation.origin_agency_unit_id, escalation.via_unit_id, escalation.target_agency_unit_id}
    if units & parties:
        return True
    return escalation.origin_instance is not None and visible_to(ctx, user_id, escalation.origin_instance)


def batch_view(ctx: EngineContext, batch: CrossCityBatch) -> BatchView:
    """Whether the reports are overdue (the fired timer, no deserializing), the latest due date, open steps."""
    overdue = batch.instance_id is not None and ctx.session.execute(select(Timer.id).where(
        Timer.instance_id == batch.instance_id, Timer.bpmn_id == "reports_timeout",
        Timer.status == TimerStatus.FIRED)).first() is not None
    dues = [e.due_at for e in batch.escalations if e.due_at is not None
            and e.status not in (EscalationStatus.CANCELLED,)]
    tasks = list(ctx.session.execute(select(HumanTask).where(
        HumanTask.instance_id == batch.instance_id, HumanTask.status == HumanTaskStatus.OPEN)).scalars())
    return BatchView(batch, overdue, max(dues) if dues else None, tasks)


def upper_origin(ctx: EngineContext, household_id: int) -> Escalation | None:
    """The cross-city request a province case was started for (its batch says which city sent it)."""
    return ctx.session.execute(select(Escalation).where(
        Escalation.upper_household_id == household_id,
        Escalation.kind == EscalationKind.CROSS_CITY)).scalar_one_or_none()
