"""Reading complaints (举报投诉, AU-2): lists and one complaint by jurisdiction (OR-3).

A user sees the complaints received by the units they belong to, and those of every unit, or
about every case, in the regions they cover (the county department and the province's auditors
see the street offices' complaints). Outside it a complaint does not exist (404, never 403).
"""

from __future__ import annotations

from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from sqlalchemy import ColumnElement
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine.clock import LOCAL_TZ
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.history import append_system_event
from engine.models import Recheck
from engine.models.complaint import Complaint
from engine.services.complaints import get_complaint
from engine.services.register_scope import readers_memberships
from engine.services.register_scope import register_visibility


def visible_complaints(ctx: EngineContext, user_id: int) -> ColumnElement[bool]:
    """SQL: what the user reads (``engine.services.register_scope``: reading roles, then jurisdiction)."""
    return register_visibility(ctx, user_id, Complaint.unit_id, Complaint.household_id)


def visible_complaint(ctx: EngineContext, user_id: int, number: str) -> Complaint:
    """The complaint if the user's jurisdiction covers it; 404 otherwise."""
    complaint = get_complaint(ctx, number)
    if ctx.session.execute(select(Complaint.id).where(Complaint.id == complaint.id,
                                                      visible_complaints(ctx, user_id))).first() is None:
        raise NotFoundError("举报投诉不存在", complaint_no=number)
    return complaint


def list_complaints(ctx: EngineContext, *, user_id: int, status: str | None = None, channel: str | None = None,
                    received_from: date | None = None, received_to: date | None = None,
                    before_id: int | None = None, limit: int = 50) -> tuple[list[Complaint], int | None]:
    """The complaints in the user's jurisdiction, newest first: ``(page, cursor of the next page or None)``.

    :param received_from: with ``received_to``: received on these Beijing dates (both included).
    """
    query = (select(Complaint).where(visible_complaints(ctx, user_id)).order_by(Complaint.id.desc())
             .options(selectinload(Complaint.unit), selectinload(Complaint.recheck)).limit(limit + 1))
    if status:
        query = query.where(Complaint.status == status)
    if channel:
        query = query.where(Complaint.channel == channel)
    if received_from is not None:
        query = query.where(Complaint.received_at >= datetime.combine(received_from, time(), LOCAL_TZ))
    if received_to is not None:
        query = query.where(Complaint.received_at < datetime.combine(received_to + timedelta(days=1), time(), LOCAL_TZ))
    if before_id is not None:
        query = query.where(Complaint.id < before_id)
    rows = list(ctx.session.execute(query).scalars())
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


def household_complaints(ctx: EngineContext, user_id: int, household_id: int) -> list[Complaint] | None:
    """The complaints about a household (``household_id``) the user reads, newest first (the case page).

    None when the user reads neither register at all (no reading role, ``REGISTER_READERS``): the case
    page then shows no complaint section; a reader outside a complaint's jurisdiction does not see it.
    """
    if not readers_memberships(ctx, user_id).rows:
        return None
    return list(ctx.session.execute(
        select(Complaint).where(Complaint.household_id == household_id, visible_complaints(ctx, user_id))
        .order_by(Complaint.received_at.desc(), Complaint.id.desc())).scalars())


def complaint_of_recheck(ctx: EngineContext, recheck: Recheck) -> Complaint | None:
    """The complaint a recheck came from (the recheck page's 来源举报), if any."""
    return ctx.session.execute(select(Complaint).where(Complaint.recheck_id == recheck.id)).scalars().first()


def is_visible(ctx: EngineContext, user_id: int, complaint: Complaint) -> bool:
    return ctx.session.execute(select(Complaint.id).where(Complaint.id == complaint.id,
                                                          visible_complaints(ctx, user_id))).first() is not None


def record_viewed(ctx: EngineContext, complaint: Complaint, actor: Actor, *, via: str) -> None:
    """Opening a complaint shows the complainant and their contact: recorded in the access log (SEC-12),
    without the content or the contact."""
    append_system_event(ctx, kind="personal_data_viewed", actor=actor,
                        payload={"via": via, "page": "complaint", "complaint_no": complaint.number,
                                 **({"business_key": complaint.case_no} if complaint.case_no else {})})
