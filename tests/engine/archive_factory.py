"""Demo organisation and demo cases (synthetic people) for the document and archive tests."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.models import InstanceStatus
from engine.models import WorkflowInstance
from engine.models.case import Household
from engine.services.demo import seed_demo
from engine.services.demo_cases import seed_demo_cases
from engine.services.deploy import deploy_files

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
ADMIN = Actor("admin", "admin")


def seed(ctx: EngineContext) -> list[Household]:
    """The demo region, the diagrams and the four demo cases (the last one closed and sealed)."""
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    seed_demo(ctx, actor=ADMIN)
    deploy_files(ctx, {p.name: p.read_bytes() for p in BPMN.glob("*.bpmn")}, actor=ADMIN)
    seed_demo_cases(ctx, actor=ADMIN, finished_recheck=False)  # one closed case, one report, one archive
    return households(ctx)


def seeded(ctx: EngineContext) -> list[Household]:
    """What :func:`seed` made, in a module that seeds once per module (``SEED_ONCE = seed``)."""
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    return households(ctx)


def households(ctx: EngineContext) -> list[Household]:
    return list(ctx.session.execute(select(Household).options(
        selectinload(Household.persons), selectinload(Household.authorisations)).order_by(Household.id)).scalars())


def closed(ctx: EngineContext) -> list[Household]:
    return [h for h in households(ctx) if h.instance is not None and h.instance.status is InstanceStatus.COMPLETED]


def instance_of(ctx: EngineContext, household: Household) -> WorkflowInstance:
    assert household.instance is not None
    return household.instance
