"""Cases for the inbox tests (web and browser): the demo region, ``standard_verification`` deployed,
households entrusted by 红旗街道 to the 朝阳区 agency, and optionally cases without a household.

Every person is synthetic (tests/engine/package_factory.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.context import Actor
from engine.context import EngineContext
from engine.models import Entrustment
from engine.models import WorkflowInstance
from engine.services.cases import create_entrustment
from engine.services.demo import seed_demo
from engine.services.deploy import deploy_files
from engine.services.instances import start_instance
from engine.services.org import get_unit_by_code
from engine.services.packages import DocumentIn
from tests.engine.package_factory import PDF
from tests.engine.package_factory import PNG
from tests.engine.package_factory import REGION
from tests.engine.package_factory import synthetic_household

BPMN = Path(__file__).parents[2] / "bpmn" / "standard_verification.bpmn"
PROCESS = "standard_verification"
ADMIN = Actor("admin", "admin")
DESIGNER = Actor("designer", "process_designer")
CLERK = Actor("hq_street_clerk", "street_clerk")
#: the intake form filled in correctly
INTAKE_OK = {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True}


def prepare(ctx: EngineContext) -> None:
    """The demo organisation and the standard verification process (idempotent)."""
    seed_demo(ctx, actor=ADMIN)
    deploy_files(ctx, {BPMN.name: BPMN.read_bytes()}, actor=DESIGNER)


def entrust(ctx: EngineContext, count: int = 1, *, first: int = 0) -> Entrustment:
    """One 委托书 from 红旗街道民政办 to the 朝阳区 agency with ``count`` synthetic households."""
    households = [synthetic_household(first + i) for i in range(count)]
    documents = [_scans(h) for h in households]
    return create_entrustment(ctx, entrusting_unit="HQ-MZB", agency_unit="CY-HDZX", households=households,
                              documents=documents, contact_name="周敏", contact_phone="0431-88880000", actor=CLERK,
                              sharing_units=["CC-BANK"])


def _scans(household: dict[str, Any]) -> list[DocumentIn]:
    applicant = household["members"][0]["id_number"]
    return [DocumentIn("authorisation", "授权书.pdf", PDF), DocumentIn("id_card", "身份证.png", PNG, applicant)]


def plain_cases(ctx: EngineContext, count: int, *, prefix: str = "PLAIN") -> list[WorkflowInstance]:
    """Cases of the 朝阳区 agency started directly (no household rows): the inbox shows "—" for the applicant."""
    agency = get_unit_by_code(ctx, "CY-HDZX")
    entrusting = get_unit_by_code(ctx, "HQ-MZB")
    assert agency is not None and entrusting is not None
    out = []
    for i in range(count):
        key = f"{prefix}-{i:03d}"
        out.append(start_instance(
            ctx, PROCESS, actor=CLERK, business_key=key,
            data={"case_no": key, "subject_ids": [1], "sharing_units": ["CC-BANK"]},
            agency_unit_id=agency.id, entrusting_unit_id=entrusting.id, region_code=REGION))
    return out
