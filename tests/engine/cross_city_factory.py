"""Shared set-up for the cross-city tests (PS-7): requests as the county's 审核复审 raises them, a second city.

:func:`raise_request` writes the row the county's 审核复审 creates (engine.services.escalations):
an escalation ``cross_city``/``requested`` from the county agency, via its city agency, to the
province agency, with its first step at the city. Synthetic people only.
"""

from __future__ import annotations

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.models import Household
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import Region
from engine.models import Unit
from engine.models import User
from engine.models.escalation import CrossCityBatch
from engine.models.escalation import Escalation
from engine.models.escalation import EscalationKind
from engine.models.escalation import EscalationStatus
from engine.models.escalation import EscalationStep
from engine.services.cases import local_today
from engine.services.cases import next_counter_value
from engine.services.org import create_region
from engine.services.org import create_unit
from engine.services.org import get_unit_by_code
from engine.services.org import grant_role
from engine.services.users import create_user
from tests.engine.recheck_factory import ADMIN

#: the second city of the tests (T1's demo adds 吉林市 220200 too; whichever exists is used)
SECOND_CITY = ("220200", "吉林市")
SECOND_COUNTY = ("220204", "船营区")


def unit(ctx: EngineContext, code: str) -> Unit:
    found = get_unit_by_code(ctx, code)
    assert found is not None
    return found


def raise_request(ctx: EngineContext, household: Household, *, origin: str = "CY-HDZX", via: str = "CC-HDZX",
                  target: str = "JL-HDZX", raised_by: str = "cy_reviewer", items: tuple[str, ...] = ("JLS-BDC",),
                  reason: str = "户籍在吉林市，需核对吉林市公安局登记信息") -> Escalation:
    """A county's cross-city request for ``household``'s case, as its 审核复审 raises it."""
    origin_unit, via_unit, target_unit = unit(ctx, origin), unit(ctx, via), unit(ctx, target)
    year = local_today(ctx).year
    escalation = Escalation(
        number=f"SJ-{origin_unit.code}-{year}-{next_counter_value(ctx, origin_unit.id, year, 'escalation'):06d}",
        kind=EscalationKind.CROSS_CITY, status=EscalationStatus.REQUESTED, origin_household_id=household.id,
        origin_instance_id=household.instance_id, origin_agency_unit_id=origin_unit.id,
        target_agency_unit_id=target_unit.id, via_unit_id=via_unit.id, items=list(items), reason=reason,
        raised_at=ctx.now(), raised_by=raised_by)
    ctx.session.add(escalation)
    ctx.session.flush()
    ctx.session.add(EscalationStep(escalation_id=escalation.id, at=ctx.now(), status=EscalationStatus.REQUESTED,
                                   unit_id=via_unit.id, actor=raised_by, note=reason))
    ctx.session.flush()
    return escalation


def second_city(ctx: EngineContext) -> tuple[Unit, Unit]:
    """吉林市 with its verification agency and one county agency (created when missing): ``(city, county)``."""
    for (code, name), level, parent in ((SECOND_CITY, "city", "220000"), (SECOND_COUNTY, "county", SECOND_CITY[0])):
        if ctx.session.get(Region, code) is None:
            create_region(ctx, code, name, level, parent, actor=ADMIN)
    agencies = []
    for region, code, name in ((SECOND_CITY[0], "JLS-HDZX", "吉林市社会救助家庭经济状况核对中心"),
                               (SECOND_COUNTY[0], "CYQ-HDZX", "船营区社会救助家庭经济状况核对中心")):
        found = ctx.session.execute(select(Unit).where(Unit.region_code == region,
                                                       Unit.kind == "verification_agency")).scalars().first()
        agencies.append(found or create_unit(ctx, code, name, "verification_agency", region, actor=ADMIN))
    return agencies[0], agencies[1]


def staff(ctx: EngineContext, username: str, unit_code: str, role: str = "review_officer") -> Actor:
    """A user holding ``role`` at ``unit_code`` (created when missing), as an actor."""
    user = ctx.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        user = create_user(ctx, username, f"{username}（测试）", "hedui-demo", actor=ADMIN)
    grant_role(ctx, user, unit(ctx, unit_code), role, actor=ADMIN)
    return Actor(username, role, user.id)


def open_task(ctx: EngineContext, batch: CrossCityBatch, bpmn_id: str) -> HumanTask:
    return ctx.session.execute(select(HumanTask).where(
        HumanTask.instance_id == batch.instance_id, HumanTask.bpmn_id == bpmn_id,
        HumanTask.status == HumanTaskStatus.OPEN)).scalar_one()
