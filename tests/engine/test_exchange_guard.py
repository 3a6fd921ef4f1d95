"""PR-1 at the engine boundary: no exchange request leaves for a person without a valid authorisation."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import PermissionDeniedError
from engine.models import OutboxMessage
from engine.services.authorisations import end_authorisation
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from tests.engine.package_factory import synthetic_household
from tests.engine.test_entrustments import _entrust
from tests.engine.test_entrustments import intake  # noqa: F401  (fixture)
from tests.engine.test_entrustments import seed

#: the demo organisation and the verification diagram, seeded once for the module
SEED_ONCE = seed

INTAKE_OK = {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True}


def _to_exchange(ctx: EngineContext) -> tuple[int, int]:
    household = _entrust(ctx, [synthetic_household(0)]).households[0]
    for bpmn_id, data, who in (("intake_check", INTAKE_OK, "a"), ("review", {"decision": "accept"}, "b")):
        task = next(t for t in list_open_tasks(ctx, instance_id=household.instance_id) if t.bpmn_id == bpmn_id)
        complete_task(ctx, task.id, data, actor=Actor(who, task.role_code))
    return household.instance_id, household.authorisations[0].id


def _prepare(ctx: EngineContext, instance_id: int) -> None:
    task = next(t for t in list_open_tasks(ctx, instance_id=instance_id) if t.bpmn_id == "prepare_exchange")
    complete_task(ctx, task.id, {"batch_checked": True}, actor=Actor("c", task.role_code))


def _requests(ctx: EngineContext) -> int:
    return ctx.session.execute(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.message_name == "exchange_request")).scalar_one()


def test_requests_leave_for_authorised_subjects(intake: EngineContext) -> None:  # noqa: F811
    instance_id, _ = _to_exchange(intake)
    _prepare(intake, instance_id)
    assert _requests(intake) > 0


def test_an_ended_authorisation_stops_the_exchange(intake: EngineContext) -> None:  # noqa: F811
    instance_id, authorisation_id = _to_exchange(intake)
    end_authorisation(intake, authorisation_id, last_day=date(2026, 11, 22), reason="revoked",
                      actor=Actor("hq_street_clerk"))
    savepoint = intake.session.begin_nested()
    with pytest.raises(PermissionDeniedError) as info:
        _prepare(intake, instance_id)
    savepoint.rollback()
    assert info.value.code == "authorisation_missing" and "*" in info.value.message
    assert _requests(intake) == 0
    assert [t.bpmn_id for t in list_open_tasks(intake, instance_id=instance_id)] == ["prepare_exchange"]
