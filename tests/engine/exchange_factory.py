"""Cases in data exchange for the exchange tests: the demo region, its catalogue, real diagrams.

Synthetic people only (valid check digits, fake names). The clock is put inside Jilin's
exchange window (days 11–20) unless a test moves it.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.exchange.catalogue import seed_demo_catalogue
from engine.models import WorkflowInstance
from engine.models.case import Household
from engine.services.cases import create_entrustment
from engine.services.demo import seed_demo
from engine.services.demo_cases import _advance
from engine.services.deploy import deploy_files
from engine.services.packages import DocumentIn
from engine.services.users import get_user
from tests.engine.package_factory import PDF
from tests.engine.package_factory import synthetic_household

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
ADMIN = Actor("admin", "admin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Monday 14 December 2026, 09:00 in Beijing: inside Jilin's exchange window
IN_WINDOW = datetime(2026, 12, 14, 9, 0, tzinfo=SHANGHAI)


def officer(ctx: EngineContext, username: str) -> Actor:
    return Actor(username, "exchange_officer", get_user(ctx, username).id)


def setup_exchange(ctx: EngineContext, clock: Any) -> None:
    """Demo region, catalogue (modes, keys, agreements), deployed diagrams, working-day deadlines."""
    clock.set(datetime(2026, 12, 11, 9, 0, tzinfo=SHANGHAI))  # Friday, inside the window
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    seed_demo(ctx, actor=ADMIN)
    seed_demo_catalogue(ctx, actor=ADMIN, valid_from=date(2025, 1, 1))
    deploy_files(ctx, {p.name: p.read_bytes() for p in BPMN.glob("*.bpmn")}, actor=ADMIN)


def case_in_exchange(ctx: EngineContext, units: list[str], index: int = 0) -> WorkflowInstance:
    """One household case, taken through intake and review to the running data exchange."""
    household = synthetic_household(index)
    household["authorisation"]["signed_on"] = ctx.now().astimezone(SHANGHAI).date().isoformat()
    clerk = Actor("hq_street_clerk", "street_clerk", get_user(ctx, "hq_street_clerk").id)
    entrustment = create_entrustment(
        ctx, entrusting_unit="HQ-MZB", agency_unit="CY-HDZX", households=[household],
        documents=[[DocumentIn("authorisation", "授权书.pdf", PDF)]], contact_name="周敏",
        contact_phone="0431-88886666", sharing_units=units, actor=clerk)
    case = entrustment.households[0].instance
    _advance(ctx, case, stop_after="prepare_exchange")
    return case


def case_no(ctx: EngineContext, case: WorkflowInstance) -> str:
    return ctx.session.execute(select(Household.case_no).where(Household.instance_id == case.id)).scalar_one()
