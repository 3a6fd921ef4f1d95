"""Overdue work is visible and escalated (PS-10): ``tasks.escalate_overdue`` and ``list_overdue``.

A task is overdue once its working-day ``due_at`` has passed while it is open; the job
reports it once (``task_escalations`` + a ``task_overdue`` event in the case's history) to
the unit holding it, whose supervisors see it in :func:`list_overdue`. Nothing is blocked.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.escalation import escalate_overdue
from engine.escalation import list_overdue
from engine.history import verify_chain
from engine.jobs import job_names
from engine.jobs import run_job
from engine.models import Event
from engine.models import TaskEscalation
from engine.models import WorkflowInstance
from engine.services.demo import seed_demo
from engine.services.deploy import deploy_files
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from engine.services.org import get_unit_by_code
from tests.conftest import read_files

SHANGHAI = ZoneInfo("Asia/Shanghai")
ADMIN = Actor("admin", "admin")
INTAKE = Actor("li_intake", "intake_officer")
#: linear_review's 受理初审 has dueWorkingDays=3: started Mon 23 Nov, due at the end of Thu 26 Nov
DUE = datetime(2026, 11, 26, 23, 59, 59, 999999, tzinfo=SHANGHAI)
JUST_AFTER = datetime(2026, 11, 27, 0, 0, 1, tzinfo=SHANGHAI)


def seed(ctx: EngineContext) -> None:
    """The demo organisation and the test diagram (受理初审 due in 3 working days -> 审核复审)."""
    seed_demo(ctx, actor=ADMIN)
    deploy_files(ctx, read_files("linear_review.bpmn"), actor=ADMIN)


#: seeded once for the module; every test runs in a savepoint on top (concurrency: test_escalation_commits.py)
SEED_ONCE = seed


@pytest.fixture
def units(ctx: EngineContext) -> dict[str, int]:
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    return {code: get_unit_by_code(ctx, code).id for code in ("CY-HDZX", "NG-HDZX", "CY-MZJ")}


def _start(ctx: EngineContext, key: str, agency: int | None, entrusting: int | None = None) -> WorkflowInstance:
    return start_instance(ctx, "linear_review", actor=ADMIN, business_key=key, agency_unit_id=agency,
                          entrusting_unit_id=entrusting)


def _overdue_events(ctx: EngineContext) -> list[Event]:
    return list(ctx.session.execute(select(Event).where(Event.kind == "task_overdue").order_by(Event.id)).scalars())


def test_an_open_task_past_its_due_time_is_escalated_once(ctx: EngineContext, clock: Any,
                                                           units: dict[str, int]) -> None:
    instance = _start(ctx, "HD-1", units["CY-HDZX"])
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    assert task.due_at == DUE
    clock.set(DUE)
    assert escalate_overdue(ctx) == 0 and list_overdue(ctx, units["CY-HDZX"]) == []

    clock.set(JUST_AFTER)
    [before] = list_overdue(ctx, units["CY-HDZX"])  # visible at once, before the job has run
    assert (before.task_id, before.escalated_at) == (task.id, None)
    assert escalate_overdue(ctx) == 1
    assert escalate_overdue(ctx) == 0  # once only
    row = ctx.session.get(TaskEscalation, task.id)
    assert (row.escalated_at, row.notified_unit_id) == (JUST_AFTER, units["CY-HDZX"])
    [event] = _overdue_events(ctx)
    assert (event.stream, event.instance_id, event.task_id, event.bpmn_id, event.actor) == (
        f"instance:{instance.id}", instance.id, task.id, "intake_check", "job:escalation")
    assert event.payload == {"due_at": DUE.astimezone(UTC).isoformat(), "role": "intake_officer",
                             "unit_id": units["CY-HDZX"], "assignee": None, "notified_unit_id": units["CY-HDZX"]}
    [overdue] = list_overdue(ctx, units["CY-HDZX"])
    assert (overdue.task_id, overdue.business_key, overdue.bpmn_id, overdue.name, overdue.role_code) == (
        task.id, "HD-1", "intake_check", "受理初审", "intake_officer")
    assert (overdue.due_at, overdue.escalated_at) == (DUE, JUST_AFTER)
    assert list_overdue(ctx, units["NG-HDZX"]) == []  # another county's supervisors see nothing
    assert verify_chain(ctx.session) == []


def test_overdue_work_can_still_be_done_and_then_leaves_the_list(ctx: EngineContext, clock: Any,
                                                                   units: dict[str, int]) -> None:
    instance = _start(ctx, "HD-2", units["CY-HDZX"])
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    clock.set(JUST_AFTER)
    escalate_overdue(ctx)
    complete_task(ctx, task.id, {"remark": "逾期办结"}, actor=INTAKE)  # warn, never block
    assert list_overdue(ctx, units["CY-HDZX"]) == []
    kinds = ctx.session.execute(select(Event.kind).where(Event.instance_id == instance.id).order_by(Event.seq))
    assert list(kinds.scalars()) == ["started", "task_overdue", "task_completed"]
    # the next task (审核复审) has no dueWorkingDays: never overdue
    clock.set(datetime(2027, 6, 1, tzinfo=SHANGHAI))
    assert escalate_overdue(ctx) == 0


def test_tasks_done_in_time_and_tasks_without_a_due_time_are_never_escalated(ctx: EngineContext, clock: Any,
                                                                              units: dict[str, int]) -> None:
    done = _start(ctx, "HD-3", units["CY-HDZX"])
    [task] = list_open_tasks(ctx, instance_id=done.id)
    complete_task(ctx, task.id, {}, actor=INTAKE)
    clock.set(JUST_AFTER)
    assert escalate_overdue(ctx) == 0 and _overdue_events(ctx) == []


def test_the_notified_unit_falls_back_to_the_cases_agency(ctx: EngineContext, clock: Any,
                                                          units: dict[str, int]) -> None:
    no_units = _start(ctx, "HD-4", None)
    clock.set(JUST_AFTER)
    assert escalate_overdue(ctx) == 1
    [task] = list_open_tasks(ctx, instance_id=no_units.id)
    assert ctx.session.get(TaskEscalation, task.id).notified_unit_id is None
    assert all(list_overdue(ctx, unit) == [] for unit in units.values())


def test_the_sweep_is_bounded_and_ordered_by_case(ctx: EngineContext, clock: Any, units: dict[str, int]) -> None:
    instances = [_start(ctx, f"HD-{n}", units["CY-HDZX"] if n % 2 else units["NG-HDZX"]) for n in range(5)]
    clock.set(JUST_AFTER)
    assert escalate_overdue(ctx, limit=2) == 2
    escalated = {e.instance_id for e in _overdue_events(ctx)}
    assert escalated == {instances[0].id, instances[1].id}
    assert run_job(ctx, "tasks.escalate_overdue") == 3
    assert [o.business_key for o in list_overdue(ctx, units["CY-HDZX"])] == ["HD-1", "HD-3"]
    assert [o.business_key for o in list_overdue(ctx, units["NG-HDZX"], limit=2)] == ["HD-0", "HD-2"]


def test_the_job_is_registered_with_the_timer_sweep() -> None:
    from web.worker import celery_settings

    assert "tasks.escalate_overdue" in job_names()
    schedule = celery_settings({"TIMER_INTERVAL": 30, "BROKER_URL": "memory://"})["beat_schedule"]
    assert schedule["tasks.escalate_overdue"]["args"] == ("tasks.escalate_overdue", {})
