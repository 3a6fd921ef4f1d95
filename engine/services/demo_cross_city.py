"""The demo's cross-city verification (跨地市核对, PS-7; idempotent, synthetic people only).

A 朝阳区 case whose 审核复审 asks for an item held in another city (吉林市不动产登记中心,
``JLS-BDC``), gathered with the city agency's other waiting requests into a batch that waits for
市级审核 at 长春市核对中心 (``cc_reviewer``). Needs the demo organisation with its second city
(engine/services/demo.py) and every diagram deployed; otherwise it does nothing.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.context import EngineContext
from engine.models.escalation import CrossCityBatch
from engine.services.cases import create_entrustment
from engine.services.cross_city import GATHER_ACTOR
from engine.services.cross_city import PROCESS_ID
from engine.services.cross_city import gather_requests
from engine.services.demo_cases import DEMO_SCAN
from engine.services.demo_cases import _advance
from engine.services.demo_cases import _as
from engine.services.demo_cases import demo_household
from engine.services.deploy import get_current_definition
from engine.services.org import get_unit_by_code
from engine.services.packages import DocumentIn

#: the demo household of the cross-city case (distinct from the other demo cases' households)
DEMO_INDEX = 8
CITY, ITEM = "CC-HDZX", "JLS-BDC"
REASON = "户主在吉林市有房产登记线索，需由吉林市不动产登记中心提供数据（演示）"


def seed_cross_city_demo(ctx: EngineContext) -> str | None:
    """A cross-city request of 朝阳区 in a batch under review at 长春市; returns the batch number.

    Idempotent: when 长春市核对中心 has a batch already, returns its number and creates nothing.
    """
    if any(get_current_definition(ctx, p) is None for p in (PROCESS_ID, "standard_verification")):
        return None
    city, item = get_unit_by_code(ctx, CITY, required=False), get_unit_by_code(ctx, ITEM, required=False)
    if city is None or item is None:
        return None
    existing = ctx.session.execute(select(CrossCityBatch.number).where(
        CrossCityBatch.city_agency_unit_id == city.id).order_by(CrossCityBatch.id)).scalars().first()
    if existing is not None:
        return existing
    signed_on = ctx.now().date() - timedelta(days=3)
    entrustment = create_entrustment(
        ctx, entrusting_unit="HQ-MZB", agency_unit="CY-HDZX", households=[demo_household(DEMO_INDEX, signed_on)],
        documents=[[DocumentIn("authorisation", "授权书.pdf", DEMO_SCAN)]], contact_name="周敏",
        contact_phone="0431-88886666", actor=_as(ctx, "hq_street_clerk", "street_clerk"))
    case = entrustment.households[0].instance
    _advance(ctx, case, stop_after="review",
             review={"decision": "accept", "cross_city_items": [ITEM], "cross_city_reason": REASON})
    batches = gather_requests(ctx, actor=GATHER_ACTOR, city_agency=city)
    return batches[0].number if batches else None
