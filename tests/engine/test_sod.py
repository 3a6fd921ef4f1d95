"""Separation of duties and assignment as decision tables (SD-1, SD-2, SD-3, OR-3)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import SeparationOfDutiesError
from engine.models import Event
from engine.models import ExchangeRegistration
from engine.services.demo import seed_demo
from engine.services.deploy import deploy_files
from engine.services.instances import claim_task
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import list_tasks_for_user
from engine.services.instances import reassign_task
from engine.services.instances import start_instance
from engine.services.org import end_registration
from engine.services.org import get_unit_by_code
from engine.services.org import is_registered
from engine.services.users import get_user
from engine.sod import violations
from tests.conftest import read_files

ADMIN = Actor("admin", "admin")

REVIEW = {"sodNotSameAs": "intake_check", "sodRule": "SD-1"}
REPORT = {"sodNotSameAs": "intake_check,review", "sodRule": "SD-1"}
CONFIRM = {"sodNotSameAs": "prepare_batch", "dualControl": "true"}


def seed(ctx: EngineContext) -> None:
    """The demo organisation and the two test diagrams (intake_check -> review; record -> confirm a result)."""
    seed_demo(ctx, actor=ADMIN)
    deploy_files(ctx, read_files("linear_review.bpmn", "exchange_step.bpmn"), actor=ADMIN)


#: seeded once for the module; every test runs in a savepoint on top
SEED_ONCE = seed


@pytest.mark.parametrize(("properties", "done_by", "user", "rules"), [
    (REVIEW, {"intake_check": ["a"]}, "a", ["SD-1"]),
    (REVIEW, {"intake_check": ["a"]}, "b", []),
    (REVIEW, {}, "a", []),
    (REVIEW, {"intake_check": ["a", "b"]}, "b", ["SD-1"]),  # returned and redone by someone else: both excluded
    (REPORT, {"intake_check": ["a"], "review": ["b"]}, "a", ["SD-1"]),
    (REPORT, {"intake_check": ["a"], "review": ["b"]}, "b", ["SD-1"]),
    (REPORT, {"intake_check": ["a"], "review": ["b"]}, "c", []),
    (REPORT, {"intake_check": ["a"], "review": ["a"]}, "a", ["SD-1", "SD-1"]),
    (CONFIRM, {"prepare_batch": ["x"]}, "x", ["SD-2"]),
    (CONFIRM, {"prepare_batch": ["x"]}, "y", []),
    ({}, {"intake_check": ["a"]}, "a", []),
    ({"sodNotSameAs": "intake_check"}, {"intake_check": ["a"]}, "a", ["SoD"]),
])
def test_violation_table(properties, done_by, user, rules) -> None:  # type: ignore[no-untyped-def]
    assert [v.rule for v in violations(properties, done_by, user)] == rules


# --- the same rules, enforced by the services on a real case ---------------------------------

@pytest.fixture
def case(ctx):  # type: ignore[no-untyped-def]
    """A 朝阳区 case entrusted by 红旗街道 on the seeded test diagram (intake_check -> review)."""
    return start_instance(ctx, "linear_review", actor=ADMIN, agency_unit_id=get_unit_by_code(ctx, "CY-HDZX").id,
                          entrusting_unit_id=get_unit_by_code(ctx, "HQ-MZB").id, region_code="220104001")


def _actor(ctx, username, role):  # type: ignore[no-untyped-def]
    return Actor(username, role, get_user(ctx, username).id)


def _task(ctx, case, bpmn_id):  # type: ignore[no-untyped-def]
    return next(t for t in list_open_tasks(ctx, instance_id=case.id) if t.bpmn_id == bpmn_id)


OUTCOMES = {"ok": None, "404": NotFoundError, "role": PermissionDeniedError, "sod": SeparationOfDutiesError}


@pytest.mark.parametrize("action", ["claim", "complete"])
@pytest.mark.parametrize(("user", "expected"), [
    ("cy_intake", "ok"),
    ("cy_all", "ok"),
    ("cy_reviewer", "role"),   # right unit, wrong role
    ("cy_exchange_1", "role"),
    ("ng_intake", "404"),      # right role, other county: may not know the case exists
    ("cc_reviewer", "role"),   # the city sees its counties' cases but holds no intake role here
])
def test_who_may_act_on_intake(ctx, case, action, user, expected) -> None:  # type: ignore[no-untyped-def]
    _check(ctx, case, "intake_check", action, _actor(ctx, user, "intake_officer"), expected, {})


@pytest.mark.parametrize("action", ["claim", "complete"])
@pytest.mark.parametrize(("intake_by", "user", "expected"), [
    ("cy_intake", "cy_reviewer", "ok"),
    ("cy_intake", "cy_all", "ok"),
    ("cy_all", "cy_all", "sod"),       # SD-1 even though cy_all holds the review role
    ("cy_all", "cy_reviewer", "ok"),
    ("cy_intake", "cy_intake", "role"),
    ("cy_intake", "ng_intake", "404"),
])
def test_who_may_act_on_review(ctx, case, action, intake_by, user, expected) -> None:  # type: ignore[no-untyped-def]
    complete_task(ctx, _task(ctx, case, "intake_check").id, {}, actor=_actor(ctx, intake_by, "intake_officer"))
    _check(ctx, case, "review", action, _actor(ctx, user, "review_officer"), expected, {"decision": "accept"})


def _check(ctx, case, bpmn_id, action, actor, expected, data) -> None:  # type: ignore[no-untyped-def]
    task = _task(ctx, case, bpmn_id)
    run = (lambda: claim_task(ctx, task.id, actor=actor)) if action == "claim" else \
        (lambda: complete_task(ctx, task.id, data, actor=actor))
    error = OUTCOMES[expected]
    if error is None:
        run()
        return
    with pytest.raises(error) as info:
        run()
    if expected == "sod":
        assert info.value.details["rule"] == "SD-1"
    if expected in ("sod", "role"):
        refused = ctx.session.execute(select(Event).where(Event.kind == "refused")).scalars().all()
        assert [(e.actor, e.payload["action"]) for e in refused] == [(actor.username, action)]


def test_inbox_follows_units_and_roles(ctx, case) -> None:  # type: ignore[no-untyped-def]
    assert [t.bpmn_id for t in list_tasks_for_user(ctx, get_user(ctx, "cy_intake").id)] == ["intake_check"]
    assert list_tasks_for_user(ctx, get_user(ctx, "ng_intake").id) == []


def test_supervisor_reassigns_within_the_rules(ctx, case) -> None:  # type: ignore[no-untyped-def]
    intake = _task(ctx, case, "intake_check")
    with pytest.raises(PermissionDeniedError):
        reassign_task(ctx, intake.id, get_user(ctx, "cy_all"), actor=_actor(ctx, "cy_intake", "intake_officer"))
    supervisor = _actor(ctx, "cy_supervisor", "supervisor")
    with pytest.raises(PermissionDeniedError):  # the new assignee must hold the role
        reassign_task(ctx, intake.id, get_user(ctx, "cy_reviewer"), actor=supervisor)
    reassign_task(ctx, intake.id, get_user(ctx, "cy_all"), actor=supervisor)
    assert intake.assignee == "cy_all"
    complete_task(ctx, intake.id, {}, actor=_actor(ctx, "cy_all", "intake_officer"))
    review = _task(ctx, case, "review")
    with pytest.raises(SeparationOfDutiesError):  # not even a supervisor can hand SD-1 work to cy_all
        reassign_task(ctx, review.id, get_user(ctx, "cy_all"), actor=supervisor)
    kinds = ctx.session.execute(select(Event.kind).where(Event.instance_id == case.id)).scalars().all()
    assert "task_reassigned" in kinds


def test_exchange_registrations_have_validity(ctx) -> None:  # type: ignore[no-untyped-def]
    officer = get_user(ctx, "cy_exchange_1")
    assert is_registered(ctx, officer.id, "CC-BANK", date(2026, 11, 23))
    assert not is_registered(ctx, officer.id, "CC-BANK", date(2024, 12, 31))  # before it took effect
    assert not is_registered(ctx, get_user(ctx, "cy_intake").id, "CC-BANK", date(2026, 11, 23))
    registration = ctx.session.execute(select(ExchangeRegistration).where(
        ExchangeRegistration.user_id == officer.id,
        ExchangeRegistration.sharing_unit_id == get_unit_by_code(ctx, "CC-BANK").id)).scalar_one()
    end_registration(ctx, registration, last_day=date(2026, 11, 30), actor=ADMIN)
    assert is_registered(ctx, officer.id, "CC-BANK", date(2026, 11, 30))
    assert not is_registered(ctx, officer.id, "CC-BANK", date(2026, 12, 1))
    kinds = ctx.session.execute(select(Event.kind).where(Event.stream == "system")).scalars().all()
    assert "exchange_officer_registration_ended" in kinds and "exchange_officer_registered" in kinds


@pytest.mark.parametrize(("recorder", "confirmer", "ended_for", "expected"), [
    ("cy_exchange_1", "cy_exchange_2", None, None),
    ("cy_exchange_1", "cy_exchange_1", None, "SD-2"),              # dual control: a second person
    ("cy_exchange_1", "cy_exchange_2", "cy_exchange_2", "SD-3"),   # registration ended before today
])
def test_exchange_steps_need_two_registered_officers(ctx, recorder, confirmer, ended_for, expected) -> None:  # type: ignore[no-untyped-def]
    case = start_instance(ctx, "exchange_step", actor=ADMIN, agency_unit_id=get_unit_by_code(ctx, "CY-HDZX").id,
                          region_code="220104", data={"unit": "CC-BANK"})
    complete_task(ctx, _task(ctx, case, "record_result").id, {}, actor=_actor(ctx, recorder, "exchange_officer"))
    if ended_for:
        registration = ctx.session.execute(select(ExchangeRegistration).where(
            ExchangeRegistration.user_id == get_user(ctx, ended_for).id,
            ExchangeRegistration.sharing_unit_id == get_unit_by_code(ctx, "CC-BANK").id)).scalar_one()
        end_registration(ctx, registration, last_day=date(2026, 11, 1), actor=ADMIN)
    confirm = _task(ctx, case, "confirm_result")
    assert confirm.properties["exchangeUnitValue"] == "CC-BANK"
    actor = _actor(ctx, confirmer, "exchange_officer")
    if expected is None:
        complete_task(ctx, confirm.id, {}, actor=actor)
        return
    with pytest.raises(SeparationOfDutiesError) as info:
        claim_task(ctx, confirm.id, actor=actor)
    assert info.value.details["rule"] == expected


def test_unregistered_officer_cannot_record(ctx) -> None:  # type: ignore[no-untyped-def]
    case = start_instance(ctx, "exchange_step", actor=ADMIN, agency_unit_id=get_unit_by_code(ctx, "CY-HDZX").id,
                          region_code="220104", data={"unit": "CC-SW-UNKNOWN"})
    with pytest.raises(SeparationOfDutiesError) as info:
        claim_task(ctx, _task(ctx, case, "record_result").id, actor=_actor(ctx, "cy_exchange_1", "exchange_officer"))
    assert info.value.details["rule"] == "SD-3"


def test_a_guarded_claim_reads_the_actors_memberships_once(ctx, case) -> None:  # type: ignore[no-untyped-def]
    """Jurisdiction (OR-3), the auditor role (AU-1) and the task role are checked from one membership query."""
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    task = _task(ctx, case, "intake_check")
    connection = ctx.session.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        claim_task(ctx, task.id, actor=_actor(ctx, "cy_intake", "intake_officer"))
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert len([s for s in statements if "memberships" in s]) == 1
