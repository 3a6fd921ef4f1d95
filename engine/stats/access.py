"""Who may read the statistics, and the record of every viewing and export (AN-1, AU-4, SEC-12).

Supervisors, auditors, administrators and the civil-affairs departments' assistance officers read
aggregates of their own jurisdiction. Aggregates carry no personal data, but viewing and exporting
them is recorded on the system stream as other exports are, so the access log shows who looked.
"""

from __future__ import annotations

from typing import Any

from engine.assignment import load_memberships
from engine.context import Actor
from engine.context import EngineContext
from engine.history import append_system_event
from engine.models import Event
from engine.stats.scope import StatsQuery

#: the roles that may read the statistics page, its exports and the API
STATS_ROLES = ("supervisor", "auditor", "admin", "assistance_officer")


def may_view(ctx: EngineContext, user_id: int) -> bool:
    return any(role in STATS_ROLES for _, role, _ in load_memberships(ctx, user_id).rows)


def describe(query: StatsQuery) -> dict[str, Any]:
    """The query as the record and the API state it (no personal data in it)."""
    return {"period": {"from": query.first.isoformat(), "to": query.last.isoformat()},
            "filters": {"region": query.region_code, "agency": query.agency_unit_id,
                        "business_type": query.business_type}}


def record_viewed(ctx: EngineContext, actor: Actor, query: StatsQuery, *, via: str) -> Event:
    return append_system_event(ctx, kind="stats_viewed", actor=actor, payload={"via": via, **describe(query)})


def record_exported(ctx: EngineContext, actor: Actor, query: StatsQuery, *, table: str, fmt: str) -> Event:
    return append_system_event(ctx, kind="stats_exported", actor=actor,
                               payload={"via": "web", "table": table, "format": fmt, **describe(query)})
