"""Per information-sharing unit (AN-1, DX-5, PS-10): requests sent, answered, in time, delayed, overdue.

Read from the stored requests (``exchange_requests``): their ``reply_due`` is the unit's limit as the
case computed it, already moved by an accepted written delay notice, so "in time" means by the
(possibly extended) limit. The cases are those of the statistics scope (received in the period).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from engine.context import EngineContext
from engine.models import Unit
from engine.models import WorkflowInstance
from engine.models.case import Household
from engine.models.exchange import ExchangeDelayNotice
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import RequestStatus
from engine.stats.scope import StatsQuery
from engine.stats.scope import case_conditions
from engine.stats.sql import working_days

SHARING_COUNTERS = ("requests", "sent", "answered", "answered_in_time", "delay_notices", "overdue",
                    "waiting", "answer_days_total")


@dataclass(frozen=True)
class SharingRow:
    unit_id: int
    unit_name: str
    values: dict[str, int]


def sharing_units(ctx: EngineContext, query: StatsQuery) -> list[SharingRow]:
    """One row per sharing unit asked about a case in scope, in unit-code order (one statement)."""
    dialect = ctx.session.get_bind().dialect.name
    r = ExchangeRequest
    now = ctx.now()
    answered = r.answered_at.is_not(None)
    overdue = or_(r.status == RequestStatus.OVERDUE, and_(~answered, r.reply_due < now))
    days = case((and_(answered, r.sent_at.is_not(None)), working_days(dialect, r.sent_at, r.answered_at)))
    columns: list[Any] = [
        func.count(r.id).label("requests"),
        func.count(r.sent_at).label("sent"),
        func.count(r.answered_at).label("answered"),
        func.sum(case((and_(answered, r.answered_at <= r.reply_due), 1), else_=0)).label("answered_in_time"),
        func.count(ExchangeDelayNotice.id).label("delay_notices"),
        func.sum(case((overdue, 1), else_=0)).label("overdue"),
        func.sum(case((and_(~answered, r.sent_at.is_not(None), ~overdue), 1), else_=0)).label("waiting"),
        func.coalesce(func.sum(days), 0).label("answer_days_total"),
    ]
    rows = ctx.session.execute(
        select(Unit.id, Unit.name, *columns)
        .join(r, r.unit_id == Unit.id)
        .join(WorkflowInstance, WorkflowInstance.id == r.instance_id)
        .join(Household, Household.instance_id == WorkflowInstance.id)
        .outerjoin(ExchangeDelayNotice, ExchangeDelayNotice.request_id == r.id)
        .where(case_conditions(ctx, query))
        .group_by(Unit.id, Unit.name, Unit.code).order_by(Unit.code)).mappings()
    return [SharingRow(row["id"], row["name"], {name: int(row[name] or 0) for name in SHARING_COUNTERS})
            for row in rows]
