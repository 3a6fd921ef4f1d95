"""What an auditor may look at: the cases of its jurisdiction and the access log (SEC-12, PR-4, AR-4).

An auditor's jurisdiction is the region of every unit where it holds the ``auditor`` role
(with all regions below it) plus those units' own cases. The access log is the system stream's
record of every view, unmasking, search by ID number, export and print of a case's personal data;
it is read here, never written or changed (the event log is append-only and hash-chained).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from engine.assignment import AUDITOR_ROLE
from engine.context import Actor
from engine.context import EngineContext
from engine.history import SYSTEM_STREAM
from engine.history import append_system_event
from engine.models import Event
from engine.models import Membership
from engine.models import Region
from engine.models import Unit
from engine.models import User
from engine.models import WorkflowInstance

#: the kinds of the access log, in the order a filter lists them (Chinese for the pages)
ACCESS_KINDS = {
    "personal_data_viewed": "查看个人信息",
    "personal_data_unmasked": "查看完整证件号码",
    "personal_data_searched": "按身份证号码查询",
    "audit_viewed": "审计查阅",
    "history_exported": "导出办理记录",
    "document_printed": "打印",
    "access_log_viewed": "查阅访问记录",
    "stats_viewed": "查阅统计分析",
    "stats_exported": "导出统计报表",
}
#: how far back the access-log page scans for rows in the auditor's jurisdiction (newest first)
SCAN_LIMIT = 20_000


@dataclass(frozen=True)
class Scope:
    """An auditor's jurisdiction: region paths (subtrees) and units."""

    paths: tuple[str, ...]
    unit_ids: tuple[int, ...]

    @property
    def empty(self) -> bool:
        return not self.paths and not self.unit_ids


def auditor_scope(ctx: EngineContext, user_id: int) -> Scope:
    rows = ctx.session.execute(
        select(Membership.unit_id, Region.path).join(Unit, Unit.id == Membership.unit_id)
        .join(Region, Region.code == Unit.region_code)
        .where(Membership.user_id == user_id, Membership.role_code == AUDITOR_ROLE)
    ).all()
    return Scope(tuple(sorted({path for _, path in rows})), tuple(sorted({unit_id for unit_id, _ in rows})))


def _in_scope(query: Select[Any], scope: Scope) -> Select[Any]:
    if scope.empty:
        return query.where(false())
    conditions = [Region.path.startswith(path) for path in scope.paths]
    conditions += [WorkflowInstance.agency_unit_id.in_(scope.unit_ids),
                   WorkflowInstance.entrusting_unit_id.in_(scope.unit_ids)]
    return query.outerjoin(Region, Region.code == WorkflowInstance.region_code).where(or_(*conditions))


def cases_in_scope(ctx: EngineContext, scope: Scope, *, q: str = "", status: str | None = None,
                   offset: int = 0, limit: int = 25) -> tuple[int, list[WorkflowInstance]]:
    """The cases an auditor may audit, newest first: ``(total, page)``; ``q`` matches the case number."""
    query = _in_scope(select(WorkflowInstance), scope)
    if q:
        query = query.where(WorkflowInstance.business_key.contains(q.strip()))
    if status:
        query = query.where(WorkflowInstance.status == status)
    total = ctx.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    page = ctx.session.execute(
        query.order_by(WorkflowInstance.started_at.desc(), WorkflowInstance.id.desc()).offset(offset).limit(limit)
    ).scalars().all()
    return int(total), list(page)


def instance_ids_in_scope(ctx: EngineContext, scope: Scope) -> set[int]:
    return set(ctx.session.execute(_in_scope(select(WorkflowInstance.id), scope)).scalars())


def usernames_in_scope(ctx: EngineContext, scope: Scope) -> set[str]:
    """People working in a unit of the jurisdiction (their searches by ID number belong to it)."""
    if scope.empty:
        return set()
    conditions = [Region.path.startswith(path) for path in scope.paths] + [Unit.id.in_(scope.unit_ids)]
    return set(ctx.session.execute(
        select(User.username).join(Membership, Membership.user_id == User.id).join(Unit, Unit.id == Membership.unit_id)
        .join(Region, Region.code == Unit.region_code).where(or_(*conditions))
    ).scalars())


@dataclass(frozen=True)
class AccessFilter:
    kind: str | None = None
    actor: str | None = None
    case: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def access_log(ctx: EngineContext, scope: Scope, f: AccessFilter, *, offset: int = 0,
               limit: int = 50) -> tuple[list[Event], bool]:
    """Access records of the jurisdiction, newest first: ``(page, more)``.

    A record about a case belongs to the jurisdiction when the case does; one without a case (a
    search by ID number) when the person who searched works there. Kind, person and time filter in
    SQL; the case and the jurisdiction are read from the payload, so at most :data:`SCAN_LIMIT`
    matching records are scanned.
    """
    query = select(Event).where(Event.stream == SYSTEM_STREAM, Event.kind.in_(list(ACCESS_KINDS)))
    if f.kind:
        query = query.where(Event.kind == f.kind)
    if f.actor:
        query = query.where(Event.actor == f.actor)
    if f.since:
        query = query.where(Event.occurred_at >= f.since)
    if f.until:
        query = query.where(Event.occurred_at < f.until)
    instances, people = instance_ids_in_scope(ctx, scope), usernames_in_scope(ctx, scope)
    page: list[Event] = []
    skipped = 0
    for event in _scan(ctx, query.order_by(Event.seq.desc()).limit(SCAN_LIMIT)):
        if not _belongs(event, instances, people, f.case):
            continue
        if skipped < offset:
            skipped += 1
            continue
        if len(page) == limit:
            return page, True
        page.append(event)
    return page, False


def _scan(ctx: EngineContext, query: Select[Any]) -> Iterator[Event]:
    """The events in chunks; the cursor (server-side on PostgreSQL) is closed when the caller stops early."""
    result = ctx.session.execute(query.execution_options(yield_per=500))
    try:
        yield from result.scalars()
    finally:
        result.close()


def _belongs(event: Event, instances: set[int], people: set[str], case: str | None) -> bool:
    payload = event.payload if isinstance(event.payload, dict) else {}
    instance_id = payload.get("instance_id")
    if case:
        named = [payload.get("business_key"), *(payload.get("case_nos") or [])]
        if case not in named and str(instance_id) != case:
            return False
    if isinstance(instance_id, int):
        return instance_id in instances
    return event.actor in people


def record_log_viewed(ctx: EngineContext, actor: Actor, filters: dict[str, Any]) -> Event:
    """Reading the access log is itself recorded (who looked at whose accesses)."""
    return append_system_event(ctx, kind="access_log_viewed", actor=actor, payload={"filters": filters})
