"""The case page's 上级核对 section (PS-5, PS-7): every escalation of the case with its steps — where it is
now, who moved it when — the same for tiered and cross-city; on an upper agency's case, the case it checks for.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.models import Escalation
from engine.models import Unit
from engine.models import User
from engine.models.case import Household
from engine.models.escalation import ESCALATION_KIND_NAMES
from engine.models.escalation import ESCALATION_STATUS_NAMES
from engine.services.escalations import PENDING
from engine.services.escalations import escalations_of
from web.db import get_ctx
from web.inbox.views import local_time


def case_escalations(household: Household) -> dict[str, Any]:
    """``{"rows": [...], "upper_of": {...} | None}`` for ``cases/_escalations.html``."""
    ctx = get_ctx()
    rows = escalations_of(ctx, household.id)
    names = _names([s.actor for e in rows for s in e.steps] + [e.raised_by for e in rows])
    units = dict(ctx.session.execute(select(Unit.code, Unit.name).where(
        Unit.code.in_([code for e in rows for code in e.items]))).all())
    mine = ctx.session.execute(select(Escalation).where(Escalation.upper_household_id == household.id)
                               ).scalar_one_or_none()
    return {"rows": [_row(e, names, units) for e in rows], "upper_of": _upper_of(mine) if mine else None}


def _upper_of(mine: Escalation) -> dict[str, Any]:
    """Where an upper agency's case came from, shown once: the lower agency and its case, and for a
    cross-city case (PS-7) the city agency that gathered it and its batch, which relays the report back."""
    return {"number": mine.number, "kind": ESCALATION_KIND_NAMES[mine.kind.value],
            "agency": mine.origin_agency.name, "case_no": mine.origin_household.case_no,
            "status": ESCALATION_STATUS_NAMES[mine.status.value],
            "via": mine.via_unit.name if mine.via_unit else None,
            "batch_no": mine.batch.number if mine.batch else None}


def _row(e: Escalation, names: dict[str, str], units: dict[str, str]) -> dict[str, Any]:
    from web.crosscity.views import who  # system actors (jobs) by name; crosscity imports this module

    now = get_ctx().now()
    current = e.steps[-1] if e.steps else None
    return {
        "number": e.number, "kind": ESCALATION_KIND_NAMES[e.kind.value],
        "status": ESCALATION_STATUS_NAMES[e.status.value],
        "items": "、".join(units.get(code, code) for code in e.items), "agency": e.target_agency.name,
        "via": e.via_unit.name if e.via_unit else None, "reason": e.reason,
        "raised": f"{local_time(e.raised_at)} {names.get(e.raised_by) or who(e.raised_by)}",
        "due": local_time(e.due_at) if e.due_at else None,
        "overdue": e.status in PENDING and e.due_at is not None and e.due_at < now,
        "where": current.unit.name if current else None,
        "case_no": e.upper_household.case_no if e.upper_household else None,
        "batch_no": e.batch.number if e.batch else None,
        "steps": [{"at": local_time(s.at), "status": ESCALATION_STATUS_NAMES[s.status.value], "unit": s.unit.name,
                   "actor": names.get(s.actor) or who(s.actor), "note": s.note} for s in e.steps],
    }


def _names(usernames: list[str]) -> dict[str, str]:
    rows = get_ctx().session.execute(select(User.username, User.display_name).where(
        User.username.in_(set(usernames)))).all()
    return {username: name for username, name in rows}
