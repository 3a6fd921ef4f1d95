"""Every path of ``bpmn/decision_feedback.bpmn`` through the engine services (PS-12, PS-10).

The entrusting unit reports its own assistance decision for a verified household by a due
date the application computes from the policy profile (Jilin: day 10 of the next month;
Baoji: 10 working days) and hands over as ISO ``feedback_due``. Past it, the case is
marked overdue and the decision is asked for as a late report, which the escalation job
reports to the unit's supervisors once that is overdue too. Every command reloads what
was saved.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import forms
from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import FormValidationError
from engine.errors import HeduiError
from engine.errors import InvalidStateError
from engine.escalation import escalate_overdue
from engine.escalation import list_overdue
from engine.history import verify_chain
from engine.models import Event
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import InstanceStatus
from engine.models import Timer
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.policy import effective_policy
from engine.services.demo import seed_demo
from engine.services.deploy import deploy_files
from engine.services.deploy import get_current_definition
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from engine.services.org import get_unit_by_code
from engine.services.timers import fire_due_timers
from tests.engine.test_street_intake import check_diagram_interchange

BPMN = Path(__file__).parents[2] / "bpmn" / "decision_feedback.bpmn"
PROCESS = "decision_feedback"
CASE = "HD-2026-0042"
SHANGHAI = ZoneInfo("Asia/Shanghai")

DESIGNER = Actor("designer", "process_designer")
ASSISTANCE = Actor("sun_assist", "assistance_officer")
APPROVED = {"assistance_decision": "approved", "decided_on": "2026-12-01", "decision_document_no": "朝民低〔2026〕88号"}
HEAD = ["start", "check_start"]
#: when the report reaches the entrusting unit: the conftest clock, Mon 23 Nov 2026 09:00 Beijing
DELIVERED = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
#: Jilin: day 10 of the next month (a Thursday); Baoji: 10 working days after delivery
DUE = {"jilin": datetime(2026, 12, 10, 23, 59, 59, 999999, tzinfo=SHANGHAI),
       "baoji": datetime(2026, 12, 7, 23, 59, 59, 999999, tzinfo=SHANGHAI)}


def _at(year: int, month: int, day: int, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


@pytest.fixture
def deployed(ctx: EngineContext) -> EngineContext:
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    deploy_files(ctx, {BPMN.name: BPMN.read_bytes()}, actor=DESIGNER)
    return ctx


def _start(ctx: EngineContext, profile: str, units: tuple[int, int] | None = None, **data: Any) -> WorkflowInstance:
    """Start as the application does: the due date comes from the effective policy and the calendar."""
    payload = effective_policy(ctx, profile).decision_feedback_data(
        CASE, DELIVERED, WorkingCalendar(ctx.session), report_no="朝核报〔2026〕42号")
    agency, entrusting = units or (None, None)
    instance = start_instance(ctx, PROCESS, actor=Actor("system"), business_key=CASE, data={**payload, **data},
                              agency_unit_id=agency, entrusting_unit_id=entrusting)
    ctx.session.expire_all()
    return instance


def _open(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    return sorted(t.bpmn_id for t in list_open_tasks(ctx, instance_id=instance.id))


def _task(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str) -> HumanTask:
    [task] = [t for t in list_open_tasks(ctx, instance_id=instance.id) if t.bpmn_id == bpmn_id]
    return task


def _do(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str, data: dict[str, Any]) -> None:
    complete_task(ctx, _task(ctx, instance, bpmn_id).id, data, actor=ASSISTANCE)
    ctx.session.expire_all()


def _fire(ctx: EngineContext) -> int:
    fired = fire_due_timers(ctx)
    ctx.session.expire_all()
    return fired


def _data(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str) -> dict[str, Any]:
    return load_workflow(ctx, instance).task_data(_task(ctx, instance, bpmn_id).id)


def _path(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    return [s.bpmn_id for s in load_workflow(ctx, instance).trace() if s.state == "COMPLETED"]


def _timers(ctx: EngineContext, instance: WorkflowInstance) -> list[tuple[str, datetime, str]]:
    rows = ctx.session.execute(select(Timer).where(Timer.instance_id == instance.id)).scalars()
    return sorted((r.bpmn_id, r.due_at, r.status.value) for r in rows)


def _overdue_late(ctx: EngineContext, profile: str, clock: Any, units: tuple[int, int] | None = None
                  ) -> WorkflowInstance:
    instance = _start(ctx, profile, units)
    clock.set(DUE[profile])
    assert _fire(ctx) == 0  # the last day is not over yet
    clock.set(_at(DUE[profile].year, DUE[profile].month, DUE[profile].day + 1, 0, 0, 1))
    assert _fire(ctx) == 1
    return instance


# --- on time -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["jilin", "baoji"])
def test_decision_recorded_in_time(deployed: EngineContext, clock: Any, profile: str) -> None:
    ctx = deployed
    instance = _start(ctx, profile)
    assert _open(ctx, instance) == ["record_decision"]
    task = _task(ctx, instance, "record_decision")
    assert (task.role_code, task.form_key, task.due_at) == ("assistance_officer", "decision_feedback", None)
    data = _data(ctx, instance, "record_decision")
    assert (data["feedback_due"], data["feedback_overdue"]) == (DUE[profile].isoformat(), False)
    assert _timers(ctx, instance) == [("feedback_overdue", DUE[profile], "pending")]

    clock.set(_at(2026, 12, 3, 15))
    _do(ctx, instance, "record_decision", APPROVED)
    assert instance.status == InstanceStatus.COMPLETED and _open(ctx, instance) == []
    assert _path(ctx, instance) == HEAD + ["record_decision", "end_recorded"]
    assert _timers(ctx, instance) == [("feedback_overdue", DUE[profile], "cancelled")]
    assert load_workflow(ctx, instance).data["assistance_decision"] == "approved"
    [completed] = ctx.session.execute(
        select(Event).where(Event.instance_id == instance.id, Event.kind == "task_completed")).scalars()
    assert completed.payload["data"] == {**APPROVED, "note": None}
    assert verify_chain(ctx.session) == []


@pytest.mark.parametrize(("decision", "fields"), [
    ({"assistance_decision": "other", "decided_on": "2026-12-01"}, {"note"}),
    ({"assistance_decision": "eligible", "decided_on": "2026-12-01"}, {"assistance_decision"}),
    ({"assistance_decision": "refused", "decided_on": "2026-13-01"}, {"decided_on"}),
    ({"assistance_decision": "refused"}, {"decided_on"}),
])
def test_the_decision_form_refuses_bad_input(deployed: EngineContext, decision: dict[str, Any],
                                             fields: set[str]) -> None:
    ctx = deployed
    instance = _start(ctx, "jilin")
    with pytest.raises(FormValidationError) as info:
        complete_task(ctx, _task(ctx, instance, "record_decision").id, decision, actor=ASSISTANCE)
    assert set(info.value.details["fields"]) == fields


def test_refused_and_other_decisions_are_recorded_as_given(deployed: EngineContext) -> None:
    ctx = deployed
    for decision in ({"assistance_decision": "refused", "decided_on": "2026-11-30"},
                     {"assistance_decision": "other", "decided_on": "2026-11-30", "note": "申请人撤回申请"}):
        instance = _start(ctx, "baoji")
        _do(ctx, instance, "record_decision", decision)
        assert instance.status == InstanceStatus.COMPLETED
        assert load_workflow(ctx, instance).data["assistance_decision"] == decision["assistance_decision"]


# --- overdue -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["jilin", "baoji"])
def test_overdue_feedback_is_marked_and_asked_for_late(deployed: EngineContext, clock: Any, profile: str) -> None:
    ctx = deployed
    instance = _start(ctx, profile)
    on_time = _task(ctx, instance, "record_decision").id
    clock.set(DUE[profile])
    assert _fire(ctx) == 0
    fired_at = _at(DUE[profile].year, DUE[profile].month, DUE[profile].day + 1, 0, 0, 1)
    clock.set(fired_at)
    assert _fire(ctx) == 1

    assert _open(ctx, instance) == ["record_decision_late"]
    assert ctx.session.get(HumanTask, on_time).status == HumanTaskStatus.CANCELLED
    with pytest.raises(InvalidStateError):
        complete_task(ctx, on_time, APPROVED, actor=ASSISTANCE)
    late = _task(ctx, instance, "record_decision_late")
    # a late report is due the next working day, then the escalation job reports it
    next_day = {"jilin": (2026, 12, 14), "baoji": (2026, 12, 9)}[profile]
    assert (late.role_code, late.form_key) == ("assistance_officer", "decision_feedback_late")
    assert late.due_at == datetime(*next_day, 23, 59, 59, 999999, tzinfo=SHANGHAI)
    data = _data(ctx, instance, "record_decision_late")
    assert data["feedback_overdue"] is True and datetime.fromisoformat(data["overdue_since"]) == fired_at
    assert _timers(ctx, instance) == [("feedback_overdue", DUE[profile], "fired")]

    with pytest.raises(FormValidationError) as info:
        complete_task(ctx, late.id, APPROVED, actor=ASSISTANCE)
    assert set(info.value.details["fields"]) == {"late_reason"}
    ctx.session.expire_all()
    _do(ctx, instance, "record_decision_late", {**APPROVED, "late_reason": "审批会议延期"})
    assert instance.status == InstanceStatus.COMPLETED
    assert _path(ctx, instance) == HEAD + ["feedback_overdue", "mark_overdue", "record_decision_late",
                                           "end_recorded_late"]
    kinds = ctx.session.execute(select(Event.kind).where(Event.instance_id == instance.id).order_by(Event.seq))
    assert list(kinds.scalars()) == ["started", "timer_fired", "task_completed"]


def test_a_due_date_already_past_goes_straight_to_the_late_report(deployed: EngineContext, clock: Any) -> None:
    ctx = deployed
    clock.set(_at(2026, 12, 11, 9))
    instance = _start(ctx, "jilin")  # delivered on 23 Nov, started late: due 10 Dec has passed
    assert _open(ctx, instance) == ["record_decision_late"]
    assert _path(ctx, instance) == HEAD + ["feedback_overdue", "mark_overdue"]


def test_an_overdue_late_report_is_escalated_to_the_units_supervisors(deployed: EngineContext, clock: Any) -> None:
    ctx = deployed
    seed_demo(ctx, actor=Actor("admin", "admin"))
    agency, entrusting = get_unit_by_code(ctx, "CY-HDZX").id, get_unit_by_code(ctx, "CY-MZJ").id
    instance = _overdue_late(ctx, "jilin", clock, (agency, entrusting))
    late = _task(ctx, instance, "record_decision_late")
    assert late.unit_id == entrusting  # assistance_officer acts for the entrusting unit
    assert escalate_overdue(ctx) == 0  # due the next working day: not overdue yet
    clock.set(_at(2026, 12, 15, 0, 0, 1))
    assert escalate_overdue(ctx) == 1
    [overdue] = list_overdue(ctx, entrusting)
    assert (overdue.task_id, overdue.business_key, overdue.escalated_at) == (late.id, CASE, clock.now())
    assert list_overdue(ctx, agency) == []
    [event] = ctx.session.execute(
        select(Event).where(Event.instance_id == instance.id, Event.kind == "task_overdue")).scalars()
    assert (event.bpmn_id, event.payload["notified_unit_id"]) == ("record_decision_late", entrusting)


@pytest.mark.parametrize(("data", "message"), [
    ({"case_no": " "}, "case_no"),
    ({"feedback_due": None}, "feedback_due"),
    ({"feedback_due": "2026-12-10T23:59:59"}, "feedback_due"),  # naive: read in the server's zone (P5)
    ({"feedback_due": 20261210}, "feedback_due"),
])
def test_invalid_start_data_is_refused(deployed: EngineContext, data: dict[str, Any], message: str) -> None:
    with pytest.raises(HeduiError) as info:
        _start(deployed, "jilin", **data)
    assert info.value.details["bpmn_id"] == "check_start" and message in info.value.message


# --- the diagram itself ----------------------------------------------------------------------------


def test_diagram_interchange_is_complete() -> None:
    check_diagram_interchange(BPMN, HEAD + ["record_decision", "end_recorded"])


def test_forms_record_the_entrusting_units_decision_never_a_verification_verdict(deployed: EngineContext) -> None:
    definition = get_current_definition(deployed, PROCESS)
    tasks = {t["bpmn_id"]: (t["lane"], t["properties"]["formKey"]) for t in definition.task_catalogue["user_tasks"]}
    assert tasks == {"record_decision": ("assistance_officer", "decision_feedback"),
                     "record_decision_late": ("assistance_officer", "decision_feedback_late")}
    for key in ("decision_feedback", "decision_feedback_late"):
        names = set(forms.get_schema(key).fields)
        assert "assistance_decision" in names  # the social-assistance department's own decision (PS-12)
        assert not any(word in name for name in names for word in ("eligib", "qualif", "entitle", "verdict")), names
