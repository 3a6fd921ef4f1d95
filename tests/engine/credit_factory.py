"""Shared set-up for the dishonesty-record tests (AU-3): an ended case, a second person to approve.

Synthetic people only (``engine.services.demo_cases.demo_household``: fake names, valid check digits).
"""

from __future__ import annotations

from typing import Any

from engine.context import Actor
from engine.context import EngineContext
from engine.models import Household
from engine.models.credit import CreditRecord
from engine.services.credit import decide_record
from engine.services.credit import propose_record
from engine.services.org import get_unit_by_code
from tests.engine.recheck_factory import as_user
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import verify

#: the department's head (科室负责人, a demo user) who approves what cy_assistance proposes
HEAD = "cy_mzj_head"


def ended_case(ctx: EngineContext) -> Household:
    """A household of 红旗街道 whose standard verification ran to its end (report issued)."""
    [household] = enrol(ctx)
    verify(ctx, household)
    ctx.session.expire_all()
    return household


def form(household: Household, **extra: Any) -> dict[str, Any]:
    applicant = household.applicant
    assert applicant is not None
    return {"person_id": str(applicant.id), "reason": "hid_property", "reason_detail": "隐瞒名下车辆一辆（演示数据）",
            "valid_from": "2026-11-23", "valid_to": "2027-11-22", **extra}


def propose(ctx: EngineContext, household: Household, **extra: Any) -> CreditRecord:
    return propose_record(ctx, case_no=household.case_no, unit=get_unit_by_code(ctx, "CY-MZJ"),
                          form=form(household, **extra), actor=as_user(ctx, "cy_assistance", "assistance_officer"))


def registered(ctx: EngineContext, household: Household, **extra: Any) -> CreditRecord:
    record = propose(ctx, household, **extra)
    return decide_record(ctx, record.number, approve=True, note=None, actor=head(ctx))


def head(ctx: EngineContext) -> Actor:
    return as_user(ctx, HEAD, "supervisor")
