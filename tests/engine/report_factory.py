"""Reports for tests: the demo cases plus households entrusted to another agency, issued directly."""

from __future__ import annotations

from datetime import timedelta

from engine.context import Actor
from engine.context import EngineContext
from engine.models.case import Household
from engine.services.cases import create_entrustment
from engine.services.demo_cases import DEMO_SCAN
from engine.services.demo_cases import demo_household
from engine.services.packages import DocumentIn
from tests.engine.archive_factory import households

REPORTER = Actor("cy_reporter", "report_officer")


def southern_case(ctx: EngineContext, i: int = 7) -> Household:
    """One household entrusted by 南关区民政局 to the 南关区 agency (another agency's numbering)."""
    data = demo_household(i, ctx.now().date() - timedelta(days=2))
    data["region_code"] = "220102001"
    entrustment = create_entrustment(ctx, entrusting_unit="NG-MZJ", agency_unit="NG-HDZX", households=[data],
                                     documents=[[DocumentIn("authorisation", "授权书.pdf", DEMO_SCAN)]],
                                     contact_name="吴军", contact_phone="0431-88880000", actor=Actor("admin", "admin"))
    return entrustment.households[0]


def open_cases(ctx: EngineContext) -> list[Household]:
    return [h for h in households(ctx) if h.instance is not None and h.instance.status.value == "running"]
