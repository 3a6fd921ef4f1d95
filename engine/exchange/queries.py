"""Read-only views of the exchange for the officers' screens and the case page (no ID numbers in lists)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from engine.context import EngineContext
from engine.exchange.catalogue import CATEGORIES
from engine.exchange.catalogue import get_profile
from engine.models import Unit
from engine.models import UnitKind
from engine.models.case import Person
from engine.models.exchange import RESULT_STATUS_NAMES
from engine.models.exchange import BatchStatus
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeMode
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import ExchangeResult
from engine.models.exchange import ImportStatus
from engine.models.exchange import RequestStatus


@dataclass(frozen=True)
class OpenUnit:
    code: str
    name: str
    open_requests: int
    modes: list[str]


Scope = set[tuple[int, int | None]]


def units_with_open_requests(ctx: EngineContext, scope: Scope) -> list[OpenUnit]:
    rows = ctx.session.execute(
        select(Unit, ExchangeRequest.agency_unit_id, func.count(ExchangeRequest.id))
        .join(ExchangeRequest, ExchangeRequest.unit_id == Unit.id)
        .where(ExchangeRequest.status == RequestStatus.OPEN, Unit.kind == UnitKind.SHARING_UNIT)
        .group_by(Unit.id, ExchangeRequest.agency_unit_id).order_by(Unit.code)).all()
    out = []
    for unit, agency_id, count in rows:
        if (unit.id, agency_id) not in scope:
            continue
        profile = get_profile(ctx, unit)
        mode = profile.mode if profile else None
        modes = ["system", "media"] if mode is ExchangeMode.BOTH else ([mode.value] if mode else [])
        out.append(OpenUnit(unit.code, unit.name, count, modes))
    return out


def batches(ctx: EngineContext, scope: Scope, *statuses: BatchStatus) -> list[ExchangeBatch]:
    rows = ctx.session.execute(select(ExchangeBatch).where(ExchangeBatch.status.in_(statuses))
                               .order_by(ExchangeBatch.id)).scalars()
    return [b for b in rows if (b.unit_id, b.agency_unit_id) in scope]


def staged_imports(ctx: EngineContext, scope: Scope) -> list[ExchangeImport]:
    rows = ctx.session.execute(select(ExchangeImport).where(ExchangeImport.status == ImportStatus.STAGED)
                               .order_by(ExchangeImport.id)).scalars()
    return [i for i in rows if (i.batch.unit_id, i.batch.agency_unit_id) in scope]


def in_scope(requests: list[ExchangeRequest], scope: Scope) -> list[ExchangeRequest]:
    return [r for r in requests if (r.unit_id, r.agency_unit_id) in scope]


def waiting_requests(ctx: EngineContext, scope: Scope) -> list[ExchangeRequest]:
    """Requests sent and still waiting (a delay notice can be recorded for them)."""
    return in_scope(list(ctx.session.execute(
        select(ExchangeRequest).where(ExchangeRequest.status == RequestStatus.SENT)
        .order_by(ExchangeRequest.reply_due, ExchangeRequest.id)).scalars()), scope)


def case_results(ctx: EngineContext, instance_id: int) -> list[dict[str, Any]]:
    """Per person × unit × category: status (有数据/无记录/未反馈/超期未反馈) and the normalised items."""
    rows = ctx.session.execute(
        select(ExchangeResult, Person.name, Unit.name)
        .join(ExchangeRequest, ExchangeRequest.id == ExchangeResult.request_id)
        .join(Person, Person.id == ExchangeResult.person_id)
        .join(Unit, Unit.id == ExchangeResult.unit_id)
        .where(ExchangeRequest.instance_id == instance_id)
        .order_by(Person.position, Unit.code, ExchangeResult.category)).all()
    return [{"person": name, "unit": unit_name, "category": CATEGORIES.get(r.category, (r.category, ""))[0],
             "status": RESULT_STATUS_NAMES[r.status.value], "status_code": r.status.value,
             "items": r.normalised or [], "records": len((r.raw or {}).get("records", []))}
            for r, name, unit_name in rows]
