"""Every path of ``bpmn/standard_verification.bpmn`` through the engine services.

PS-1…PS-3 (受理初审 → 审核复审 → 数据交换 → 出具核对报告 → 反馈委托单位), PS-6 (a lower
agency's case starts at 审核复审), PS-10 / DX-5 (a sharing unit answers within 7 working
days, or gives written notice and gets at most 5 more) on the seeded working-day calendar.
Every command reloads the saved state, and the next command reads only what was saved.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from sqlalchemy import select

import forms
from engine.calendar import WorkingCalendar
from engine.calendar import seed_calendar
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import FormValidationError
from engine.errors import HeduiError
from engine.errors import NotFoundError
from engine.errors import SeparationOfDutiesError
from engine.history import verify_chain
from engine.models import Event
from engine.models import HumanTask
from engine.models import InstanceStatus
from engine.models import MessageSubscription
from engine.models import OutboxMessage
from engine.models import Timer
from engine.models import TimerStatus
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.services.deploy import deploy_files
from engine.services.deploy import get_current_definition
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from engine.services.messages import deliver_message
from engine.services.timers import fire_due_timers

BPMN = Path(__file__).parents[2] / "bpmn" / "standard_verification.bpmn"
PROCESS = "standard_verification"
CASE = "HD-2026-0042"
SUBJECTS = [101, 102, 103]
SHANGHAI = ZoneInfo("Asia/Shanghai")

DESIGNER = Actor("designer", "process_designer")
INTAKE = Actor("li_intake", "intake_officer")
REVIEWER = Actor("wang_review", "review_officer")
EXCHANGE = Actor("chen_exchange", "exchange_officer")  # sends the requests
CHECKER = Actor("liu_exchange", "exchange_officer")  # the second officer: confirms the results (SD-2)
REPORTER = Actor("zhao_report", "report_officer")
ASSISTANCE = Actor("sun_assist", "assistance_officer")

INTAKE_OK = {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True}
MAIN_PATH_HEAD = ["start", "apply_defaults", "gw_entry", "intake_check", "gw_intake", "review", "gw_review"]
#: the review's plan (PS-5: nothing goes upward in these cases), then the local exchange and report
MAIN_PATH_TAIL = ["plan_upper", "gw_local", "prepare_exchange", "data_exchange", "summarize_exchange",
                  "confirm_exchange", "issue_report", "gw_after_report", "gw_upper", "feedback", "end_completed"]


def _eod(year: int, month: int, day: int) -> datetime:
    """End of a working day in Beijing: what ``add_working_days`` hands to BPMN timers."""
    return datetime(year, month, day, 23, 59, 59, 999999, tzinfo=SHANGHAI)


def _at(year: int, month: int, day: int, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


@pytest.fixture
def deployed(ctx: EngineContext, session: Any, clock: Any) -> EngineContext:
    seed_calendar(session, [2026], clock=clock)
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    deploy_files(ctx, {BPMN.name: BPMN.read_bytes()}, actor=DESIGNER)
    return ctx


# --- helpers: each command is followed by expire_all(), so the next one reads what was saved -----


def _start(ctx: EngineContext, units: list[str] | None = None, **data: Any) -> WorkflowInstance:
    payload = {"case_no": CASE, "subject_ids": SUBJECTS, "sharing_units": ["bank_a"] if units is None else units}
    instance = start_instance(ctx, PROCESS, actor=INTAKE, business_key=CASE, data={**payload, **data})
    ctx.session.expire_all()
    return instance


def _open(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    return sorted(t.bpmn_id for t in list_open_tasks(ctx, instance_id=instance.id))


def _task(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str) -> HumanTask:
    [task] = [t for t in list_open_tasks(ctx, instance_id=instance.id) if t.bpmn_id == bpmn_id]
    return task


def _do(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str, data: dict[str, Any], actor: Actor) -> None:
    complete_task(ctx, _task(ctx, instance, bpmn_id).id, data, actor=actor)
    ctx.session.expire_all()


def _deliver(ctx: EngineContext, message: str, unit: str, payload: dict[str, Any]) -> list[int]:
    delivered = deliver_message(ctx, message, f"{CASE}:{unit}", payload, actor=Actor(f"unit:{unit}"))
    ctx.session.expire_all()
    return delivered


def _fire(ctx: EngineContext) -> int:
    fired = fire_due_timers(ctx)
    ctx.session.expire_all()
    return fired


def _data(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str) -> dict[str, Any]:
    """The task data an open user task sees (what its form is shown with)."""
    return load_workflow(ctx, instance).task_data(_task(ctx, instance, bpmn_id).id)


def _requests(ctx: EngineContext, instance: WorkflowInstance) -> list[tuple[str, dict[str, Any]]]:
    rows = ctx.session.execute(select(OutboxMessage).where(OutboxMessage.instance_id == instance.id)).scalars()
    return sorted(((r.message_name, r.payload) for r in rows), key=lambda r: r[1]["unit"])


def _subscriptions(ctx: EngineContext, instance: WorkflowInstance) -> list[tuple[str, str, str]]:
    rows = ctx.session.execute(
        select(MessageSubscription).where(MessageSubscription.instance_id == instance.id)
    ).scalars()
    return sorted((r.correlation_key, r.message_name, r.bpmn_id) for r in rows)


def _timers(ctx: EngineContext, instance: WorkflowInstance, status: TimerStatus) -> list[tuple[str, datetime]]:
    rows = ctx.session.execute(
        select(Timer).where(Timer.instance_id == instance.id, Timer.status == status)
    ).scalars()
    return sorted((r.bpmn_id, r.due_at) for r in rows)


def _main_path(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    """The top-level path (the multi-instance task and its per-unit children count once)."""
    path: list[str] = []
    for step in load_workflow(ctx, instance).trace():
        if step.process_id == PROCESS and (not path or path[-1] != step.bpmn_id):
            path.append(step.bpmn_id)
    return path


def _exchange_steps(ctx: EngineContext, instance: WorkflowInstance) -> Counter[str]:
    """The steps run inside the per-unit 数据交换 subprocesses, counted over all units."""
    return Counter(s.bpmn_id for s in load_workflow(ctx, instance).trace() if s.process_id == "data_exchange")


def _kinds(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    return list(ctx.session.execute(
        select(Event.kind).where(Event.instance_id == instance.id).order_by(Event.seq)
    ).scalars())


def _to_exchange(ctx: EngineContext, units: list[str] | None = None, **data: Any) -> WorkflowInstance:
    instance = _start(ctx, units, **data)
    _do(ctx, instance, "intake_check", INTAKE_OK, INTAKE)
    _do(ctx, instance, "review", {"decision": "accept"}, REVIEWER)
    _do(ctx, instance, "prepare_exchange", {"batch_checked": True}, EXCHANGE)
    return instance


def _finish(ctx: EngineContext, instance: WorkflowInstance) -> None:
    _do(ctx, instance, "confirm_exchange", {"statuses_checked": True}, CHECKER)
    _do(ctx, instance, "issue_report", {"report_no": "朝核报〔2026〕42号"}, REPORTER)
    _do(ctx, instance, "feedback", {"remark": "已收到核对报告"}, ASSISTANCE)
    assert instance.status == InstanceStatus.COMPLETED and _open(ctx, instance) == []


def _result(unit: str, status: str, result_id: int | None = None, extended_days: int = 0,
            delay_notice_id: int | None = None) -> dict[str, Any]:
    return {"unit": unit, "status": status, "result_id": result_id, "extended_days": extended_days,
            "delay_notice_id": delay_notice_id}


def _key(unit: str) -> str:
    return f"{CASE}:{unit}"


# --- the happy path ------------------------------------------------------------------------------


def test_accept_all_the_way(deployed: EngineContext, clock: Any) -> None:
    ctx = deployed
    instance = _start(ctx)
    assert _open(ctx, instance) == ["intake_check"]
    intake = _task(ctx, instance, "intake_check")
    assert (intake.role_code, intake.form_key, intake.due_at) == ("intake_officer", "intake_check", _eod(2026, 11, 25))
    data = _data(ctx, instance, "intake_check")
    assert (data["exchange_days"], data["delay_days"], data["verification_days"]) == (7, 5, 10)
    assert data["verification_due"] == _eod(2026, 12, 7).isoformat()  # 10 working days after Mon 23 Nov

    clock.advance(hours=3)
    _do(ctx, instance, "intake_check", INTAKE_OK, INTAKE)
    review = _task(ctx, instance, "review")
    assert review.role_code == "review_officer"
    assert (review.properties["sodNotSameAs"], review.properties["sodRule"]) == ("intake_check", "SD-1")

    clock.advance(hours=2)
    _do(ctx, instance, "review", {"decision": "accept"}, REVIEWER)
    prepare = _task(ctx, instance, "prepare_exchange")
    assert (prepare.role_code, prepare.form_key) == ("exchange_officer", "exchange_prepare")
    assert _requests(ctx, instance) == []  # nothing goes out before an officer has checked the batch

    clock.set(_at(2026, 11, 24, 10))  # sent the next day: the 7 working days start then
    _do(ctx, instance, "prepare_exchange", {"batch_checked": True}, EXCHANGE)
    assert _open(ctx, instance) == []  # waiting for the sharing unit
    assert _requests(ctx, instance) == [("exchange_request", {
        "case_no": CASE, "unit": "bank_a", "subject_ids": SUBJECTS, "reply_due": _eod(2026, 12, 3).isoformat(),
    })]
    assert _subscriptions(ctx, instance) == [
        (_key("bank_a"), "exchange_delay", "receive_delay"),
        (_key("bank_a"), "exchange_result", "receive_result"),
    ]
    assert _timers(ctx, instance, TimerStatus.PENDING) == [("reply_timeout", _eod(2026, 12, 3))]

    clock.set(_at(2026, 11, 27, 14))
    assert _deliver(ctx, "exchange_result", "bank_a", {"result_id": 501}) == [instance.id]
    assert _subscriptions(ctx, instance) == []
    assert _timers(ctx, instance, TimerStatus.PENDING) == []
    assert _timers(ctx, instance, TimerStatus.CANCELLED) == [("reply_timeout", _eod(2026, 12, 3))]
    assert _open(ctx, instance) == ["confirm_exchange"]
    confirm = _task(ctx, instance, "confirm_exchange")
    assert confirm.role_code == "exchange_officer"
    assert {k: confirm.properties[k] for k in ("dualControl", "sodNotSameAs", "sodRule")} == {
        "dualControl": "true", "sodNotSameAs": "prepare_exchange", "sodRule": "SD-2"}
    data = _data(ctx, instance, "confirm_exchange")
    assert data["exchange_results"] == [_result("bank_a", "answered", 501)]
    assert (data["exchange_status"], data["no_reply_units"]) == ({"bank_a": "answered"}, [])
    # only flags and ids come back from the per-unit subprocesses
    assert not {"unit", "unit_result", "exchange_reply", "reply_due", "delay_notice"} & set(data)

    _do(ctx, instance, "confirm_exchange", {"statuses_checked": True}, CHECKER)
    report = _task(ctx, instance, "issue_report")
    assert report.role_code == "report_officer"
    assert (report.properties["sodNotSameAs"], report.properties["sodRule"]) == ("intake_check,review", "SD-1")
    _do(ctx, instance, "issue_report", {"report_no": "CY-2026-00042", "remarks": "无"}, REPORTER)
    assert _task(ctx, instance, "feedback").role_code == "assistance_officer"
    _do(ctx, instance, "feedback", {}, ASSISTANCE)

    assert instance.status == InstanceStatus.COMPLETED and _open(ctx, instance) == []
    assert _main_path(ctx, instance) == MAIN_PATH_HEAD + MAIN_PATH_TAIL
    assert _exchange_steps(ctx, instance) == Counter(
        ["exchange_start", "prepare_request", "send_request", "wait_reply", "receive_result", "record_answered",
         "exchange_done"])
    assert _kinds(ctx, instance) == ["started"] + ["task_completed"] * 3 + ["message_received"] + [
        "task_completed"] * 3
    assert verify_chain(ctx.session) == []


# --- returns and terminations --------------------------------------------------------------------


def test_intake_returns_the_case_to_the_entrusting_unit(deployed: EngineContext) -> None:
    ctx = deployed
    instance = _start(ctx)
    task_id = _task(ctx, instance, "intake_check").id
    with pytest.raises(FormValidationError) as info:  # PS-2: accepting needs both checks
        complete_task(ctx, task_id, {"decision": "accept", "materials_complete": True}, actor=INTAKE)
    assert set(info.value.details["fields"]) == {"paper_electronic_consistent"}
    with pytest.raises(FormValidationError) as info:  # returning needs the reason
        complete_task(ctx, task_id, {"decision": "return", "materials_complete": False}, actor=INTAKE)
    assert set(info.value.details["fields"]) == {"reason"}
    with pytest.raises(FormValidationError):  # intake cannot terminate
        complete_task(ctx, task_id, {"decision": "terminate", "reason": "x"}, actor=INTAKE)
    ctx.session.expire_all()
    assert _open(ctx, instance) == ["intake_check"]

    _do(ctx, instance, "intake_check", {"decision": "return", "reason": "授权书缺少共同生活家庭成员签字"}, INTAKE)
    assert instance.status == InstanceStatus.COMPLETED and _open(ctx, instance) == []
    assert _main_path(ctx, instance) == ["start", "apply_defaults", "gw_entry", "intake_check", "gw_intake",
                                         "end_returned"]
    assert _requests(ctx, instance) == [] and _subscriptions(ctx, instance) == []
    bpmn_ids = ctx.session.execute(select(HumanTask.bpmn_id).where(HumanTask.instance_id == instance.id)).scalars()
    assert list(bpmn_ids) == ["intake_check"]


def test_review_terminates_the_verification(deployed: EngineContext) -> None:
    ctx = deployed
    instance = _start(ctx)
    _do(ctx, instance, "intake_check", INTAKE_OK, INTAKE)
    task_id = _task(ctx, instance, "review").id
    with pytest.raises(FormValidationError):  # allowedDecisions: review accepts or terminates, never returns
        complete_task(ctx, task_id, {"decision": "return", "reason": "x"}, actor=REVIEWER)
    with pytest.raises(FormValidationError) as info:
        complete_task(ctx, task_id, {"decision": "terminate"}, actor=REVIEWER)
    assert set(info.value.details["fields"]) == {"reason"}
    ctx.session.expire_all()

    _do(ctx, instance, "review", {"decision": "terminate", "reason": "电子数据包与纸质材料不一致"}, REVIEWER)
    assert instance.status == InstanceStatus.COMPLETED and _open(ctx, instance) == []
    assert _main_path(ctx, instance) == MAIN_PATH_HEAD + ["end_terminated"]
    assert _requests(ctx, instance) == []
    assert _subscriptions(ctx, instance) == [] and _timers(ctx, instance, TimerStatus.PENDING) == []


def test_case_from_a_lower_agency_starts_at_review(deployed: EngineContext) -> None:
    ctx = deployed
    instance = _start(ctx, from_lower_agency=True)
    assert _open(ctx, instance) == ["review"]  # PS-6
    data = _data(ctx, instance, "review")
    assert data["verification_days"] == 15  # a check entrusted upward: 15 working days (PS-10)
    assert data["verification_due"] == _eod(2026, 12, 14).isoformat()
    _do(ctx, instance, "review", {"decision": "accept"}, REVIEWER)
    _do(ctx, instance, "prepare_exchange", {"batch_checked": True}, EXCHANGE)
    assert [p["unit"] for _, p in _requests(ctx, instance)] == ["bank_a"]
    _deliver(ctx, "exchange_result", "bank_a", {"result_id": 9})
    _finish(ctx, instance)
    assert _main_path(ctx, instance) == ["start", "apply_defaults", "gw_entry", "review", "gw_review",
                                         *MAIN_PATH_TAIL]


# --- data exchange -----------------------------------------------------------------------------


def test_two_units_both_answer(deployed: EngineContext, clock: Any) -> None:
    ctx = deployed
    instance = _to_exchange(ctx, ["bank_a", "tax"])
    assert _requests(ctx, instance) == [
        ("exchange_request", {"case_no": CASE, "unit": unit, "subject_ids": SUBJECTS,
                              "reply_due": _eod(2026, 12, 2).isoformat()})
        for unit in ["bank_a", "tax"]
    ]
    assert _subscriptions(ctx, instance) == [
        (_key(unit), message, bpmn_id)
        for unit in ["bank_a", "tax"]
        for message, bpmn_id in [("exchange_delay", "receive_delay"), ("exchange_result", "receive_result")]
    ]
    assert _timers(ctx, instance, TimerStatus.PENDING) == [("reply_timeout", _eod(2026, 12, 2))] * 2

    clock.advance(days=1)
    _deliver(ctx, "exchange_result", "tax", {"result_id": 72})
    assert _open(ctx, instance) == []  # still waiting for the bank
    assert [key for key, _, _ in _subscriptions(ctx, instance)] == [_key("bank_a")] * 2
    assert _timers(ctx, instance, TimerStatus.PENDING) == [("reply_timeout", _eod(2026, 12, 2))]
    clock.advance(days=1)
    _deliver(ctx, "exchange_result", "bank_a", {"result_id": 71})

    assert _open(ctx, instance) == ["confirm_exchange"]
    data = _data(ctx, instance, "confirm_exchange")
    assert sorted(data["exchange_results"], key=lambda r: r["unit"]) == [
        _result("bank_a", "answered", 71), _result("tax", "answered", 72)]
    assert (data["exchange_status"], data["no_reply_units"]) == ({"bank_a": "answered", "tax": "answered"}, [])
    _finish(ctx, instance)
    assert _main_path(ctx, instance) == MAIN_PATH_HEAD + MAIN_PATH_TAIL
    steps = _exchange_steps(ctx, instance)
    assert (steps["send_request"], steps["receive_result"], steps["record_answered"], steps["exchange_done"]) == (
        2, 2, 2, 2)
    assert steps["reply_timeout"] == steps["record_no_reply"] == 0


def test_one_unit_answers_the_other_times_out(deployed: EngineContext, clock: Any) -> None:
    ctx = deployed
    instance = _to_exchange(ctx, ["bank_a", "housing_fund"])
    _deliver(ctx, "exchange_result", "bank_a", {"result_id": 81})

    clock.set(_at(2026, 12, 2, 23, 59))  # the last working day's evening: not yet
    assert _fire(ctx) == 0
    assert _subscriptions(ctx, instance) != []
    clock.set(_at(2026, 12, 3, 0, 0, 1))
    assert _fire(ctx) == 1
    [fired] = ctx.session.execute(
        select(Timer).where(Timer.instance_id == instance.id, Timer.status == TimerStatus.FIRED)).scalars()
    assert (fired.bpmn_id, fired.due_at, fired.fired_at) == ("reply_timeout", _eod(2026, 12, 2), clock.now())
    assert _subscriptions(ctx, instance) == [] and _timers(ctx, instance, TimerStatus.PENDING) == []

    assert _open(ctx, instance) == ["confirm_exchange"]
    data = _data(ctx, instance, "confirm_exchange")
    assert sorted(data["exchange_results"], key=lambda r: r["unit"]) == [
        _result("bank_a", "answered", 81), _result("housing_fund", "no_reply")]
    assert data["exchange_status"] == {"bank_a": "answered", "housing_fund": "no_reply"}
    assert data["no_reply_units"] == ["housing_fund"]
    with pytest.raises(NotFoundError):  # 未反馈 is final: a late answer finds nobody waiting
        _deliver(ctx, "exchange_result", "housing_fund", {"result_id": 82})

    _finish(ctx, instance)
    steps = _exchange_steps(ctx, instance)
    assert (steps["receive_result"], steps["reply_timeout"], steps["record_no_reply"]) == (1, 1, 1)
    [event] = ctx.session.execute(
        select(Event).where(Event.instance_id == instance.id, Event.kind == "timer_fired")).scalars()
    assert (event.bpmn_id, event.actor) == ("reply_timeout", "job:timers")


def test_delay_notice_then_answer_within_the_extension(deployed: EngineContext, clock: Any) -> None:
    ctx = deployed
    instance = _to_exchange(ctx, ["real_estate"])
    clock.set(_at(2026, 12, 1, 16))
    _deliver(ctx, "exchange_delay", "real_estate", {"days": 3, "notice_id": 77})
    # the deadline moves by the 3 working days asked for: Wed 2 Dec -> Mon 7 Dec
    assert _timers(ctx, instance, TimerStatus.CANCELLED) == [("reply_timeout", _eod(2026, 12, 2))]
    assert _timers(ctx, instance, TimerStatus.PENDING) == [("extended_timeout", _eod(2026, 12, 7))]
    assert _subscriptions(ctx, instance) == [(_key("real_estate"), "exchange_result", "receive_result_extended")]
    with pytest.raises(NotFoundError):  # only one written extension
        _deliver(ctx, "exchange_delay", "real_estate", {"days": 2, "notice_id": 78})

    clock.set(_at(2026, 12, 4, 9))  # past the original deadline, within the extension
    assert _fire(ctx) == 0
    _deliver(ctx, "exchange_result", "real_estate", {"result_id": 91})
    assert _timers(ctx, instance, TimerStatus.PENDING) == []
    assert _data(ctx, instance, "confirm_exchange")["exchange_results"] == [
        _result("real_estate", "answered", 91, extended_days=3, delay_notice_id=77)]
    _finish(ctx, instance)
    steps = _exchange_steps(ctx, instance)
    assert (steps["receive_delay"], steps["extend_deadline"], steps["receive_result_extended"]) == (1, 1, 1)
    assert steps["receive_result"] == steps["record_no_reply"] == 0


def test_delay_notice_then_timeout_after_the_extension_across_national_day(
    deployed: EngineContext, clock: Any
) -> None:
    ctx = deployed
    clock.set(_at(2026, 9, 28, 9))  # Monday before 国庆; Sat 10 Oct is a make-up working day (调休)
    instance = _to_exchange(ctx, ["civil_affairs"])
    # Sep 29, 30, Oct 8, 9, 10 (Sat, 调休), 12, 13
    assert _timers(ctx, instance, TimerStatus.PENDING) == [("reply_timeout", _eod(2026, 10, 13))]
    assert _requests(ctx, instance)[0][1]["reply_due"] == _eod(2026, 10, 13).isoformat()

    clock.set(_at(2026, 10, 12, 11))
    _deliver(ctx, "exchange_delay", "civil_affairs", {"days": 9, "notice_id": 5})
    # asked for 9, capped at delay_days = 5: Oct 14, 15, 16, 19, 20
    assert _timers(ctx, instance, TimerStatus.PENDING) == [("extended_timeout", _eod(2026, 10, 20))]

    clock.set(_at(2026, 10, 20, 23))
    assert _fire(ctx) == 0
    clock.set(_at(2026, 10, 21, 0, 0, 1))
    assert _fire(ctx) == 1
    assert _subscriptions(ctx, instance) == []
    assert _data(ctx, instance, "confirm_exchange")["exchange_results"] == [
        _result("civil_affairs", "no_reply", extended_days=5, delay_notice_id=5)]
    with pytest.raises(NotFoundError):
        _deliver(ctx, "exchange_result", "civil_affairs", {"result_id": 6})
    _finish(ctx, instance)
    steps = _exchange_steps(ctx, instance)
    assert (steps["receive_delay"], steps["extended_timeout"], steps["record_no_reply"]) == (1, 1, 1)
    assert steps["reply_timeout"] == steps["record_answered"] == 0


def test_late_and_duplicate_results_are_refused(deployed: EngineContext, clock: Any) -> None:
    ctx = deployed
    instance = _to_exchange(ctx, ["bank_a", "tax"])
    with pytest.raises(NotFoundError):  # a unit that was never asked
        _deliver(ctx, "exchange_result", "vehicles", {"result_id": 1})
    with pytest.raises(NotFoundError):  # right unit, other case
        deliver_message(ctx, "exchange_result", "HD-2026-0043:bank_a", {"result_id": 1}, actor=Actor("unit:bank_a"))
    _deliver(ctx, "exchange_result", "bank_a", {"result_id": 11})
    clock.set(_at(2026, 12, 3, 8))
    assert _fire(ctx) == 1  # the tax bureau did not answer
    state, requests = instance.state, _requests(ctx, instance)

    for message, unit in [("exchange_result", "bank_a"), ("exchange_delay", "bank_a"),
                          ("exchange_result", "tax"), ("exchange_delay", "tax")]:
        with pytest.raises(NotFoundError):
            _deliver(ctx, message, unit, {"result_id": 12})
    assert instance.state == state and _requests(ctx, instance) == requests
    assert _data(ctx, instance, "confirm_exchange")["exchange_status"] == {"bank_a": "answered", "tax": "no_reply"}


# --- separation of duties, as declared in the diagram and enforced by the services -------------------


def _refused(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str, data: dict[str, Any],
             actor: Actor) -> str:
    with pytest.raises(SeparationOfDutiesError) as info:
        complete_task(ctx, _task(ctx, instance, bpmn_id).id, data, actor=actor)
    ctx.session.expire_all()
    assert bpmn_id in _open(ctx, instance)  # refused: nothing moved
    return str(info.value.details["rule"])


def test_three_people_for_intake_review_report_and_two_for_the_exchange(deployed: EngineContext) -> None:
    ctx = deployed
    instance = _start(ctx)
    _do(ctx, instance, "intake_check", INTAKE_OK, INTAKE)
    intake_as_reviewer = Actor(INTAKE.username, "review_officer")
    assert _refused(ctx, instance, "review", {"decision": "accept"}, intake_as_reviewer) == "SD-1"
    _do(ctx, instance, "review", {"decision": "accept"}, REVIEWER)
    _do(ctx, instance, "prepare_exchange", {"batch_checked": True}, EXCHANGE)
    _deliver(ctx, "exchange_result", "bank_a", {"result_id": 3})
    assert _refused(ctx, instance, "confirm_exchange", {"statuses_checked": True}, EXCHANGE) == "SD-2"
    _do(ctx, instance, "confirm_exchange", {"statuses_checked": True}, CHECKER)
    report = {"report_no": "CY-2026-00042"}
    for earlier in (INTAKE, REVIEWER):
        assert _refused(ctx, instance, "issue_report", report, Actor(earlier.username, "report_officer")) == "SD-1"
    _do(ctx, instance, "issue_report", report, REPORTER)
    refusals = ctx.session.execute(
        select(Event.bpmn_id).where(Event.instance_id == instance.id, Event.kind == "refused").order_by(Event.seq)
    ).scalars().all()
    assert refusals == ["review", "confirm_exchange", "issue_report", "issue_report"]


# --- time limits and start data ----------------------------------------------------------------------


def test_policy_profile_time_limits_override_the_defaults(deployed: EngineContext) -> None:
    ctx = deployed
    instance = _to_exchange(ctx, ["tax"], exchange_days=5, delay_days=3, verification_days=12)
    assert _requests(ctx, instance)[0][1]["reply_due"] == _eod(2026, 11, 30).isoformat()
    _deliver(ctx, "exchange_delay", "tax", {"notice_id": 3})  # no days given: the whole allowance
    assert _timers(ctx, instance, TimerStatus.PENDING) == [("extended_timeout", _eod(2026, 12, 3))]


def test_no_sharing_units_goes_straight_to_confirmation(deployed: EngineContext) -> None:
    ctx = deployed
    instance = _to_exchange(ctx, [])
    assert _open(ctx, instance) == ["confirm_exchange"] and _requests(ctx, instance) == []
    assert _data(ctx, instance, "confirm_exchange")["exchange_results"] == []
    _finish(ctx, instance)


@pytest.mark.parametrize(("data", "message"), [
    ({"case_no": ""}, "case_no"),
    ({"sharing_units": ["tax", "tax"]}, "sharing_units"),  # a duplicate would make two waits share one key
    ({"exchange_days": 0}, "exchange_days"),
    ({"delay_days": "5"}, "delay_days"),
])
def test_invalid_start_data_is_refused(deployed: EngineContext, data: dict[str, Any], message: str) -> None:
    with pytest.raises(HeduiError) as info:
        _start(deployed, **data)
    assert info.value.details["bpmn_id"] == "apply_defaults" and message in info.value.message


def test_missing_calendar_year_is_an_error(ctx: EngineContext, session: Any, clock: Any) -> None:
    seed_calendar(session, [2026], clock=clock)
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    deploy_files(ctx, {BPMN.name: BPMN.read_bytes()}, actor=DESIGNER)
    clock.set(_at(2027, 3, 1))
    with pytest.raises(HeduiError) as info:  # no silent Monday–Friday guess (DESIGN: working days)
        _start(ctx)
    assert info.value.code == "calendar_year_missing" and "2027" in info.value.message


# --- the diagram itself --------------------------------------------------------------------------


def test_forms_record_no_eligibility_verdict(deployed: EngineContext) -> None:
    definition = get_current_definition(deployed, PROCESS)
    keys = {t["bpmn_id"]: t["properties"]["formKey"] for t in definition.task_catalogue["user_tasks"]}
    assert keys == {"intake_check": "intake_check", "review": "verification_review",
                    "prepare_exchange": "exchange_prepare",
                    "confirm_exchange": "exchange_confirm", "issue_report": "issue_report", "feedback": "acknowledge"}
    for key in set(keys.values()):
        for name in forms.get_schema(key).fields:
            assert not any(word in name for word in ("eligib", "qualif", "approv", "entitle")), (key, name)  # PR-3
    assert set(forms.get_schema("issue_report").fields) == {"report_no", "remarks"}


_NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
       "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
       "dc": "http://www.omg.org/spec/DD/20100524/DC",
       "di": "http://www.omg.org/spec/DD/20100524/DI"}
_NOT_NODES = {"laneSet", "lane", "sequenceFlow", "documentation", "extensionElements", "incoming", "outgoing",
              "multiInstanceLoopCharacteristics", "flowNodeRef", "property"}


def _box(shape: Any) -> tuple[float, float, float, float]:
    b = shape.find("dc:Bounds", _NS)
    x, y, w, h = (float(b.get(k)) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def _inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_diagram_interchange_is_complete_and_laid_out_by_lane() -> None:
    tree = etree.parse(str(BPMN))
    shapes = {s.get("bpmnElement"): _box(s) for s in tree.iterfind(".//bpmndi:BPMNShape", _NS)}
    edges = {e.get("bpmnElement"): [(float(p.get("x")), float(p.get("y"))) for p in e.iterfind("di:waypoint", _NS)]
             for e in tree.iterfind(".//bpmndi:BPMNEdge", _NS)}
    process = tree.find("bpmn:process", _NS)
    [participant] = tree.iterfind(".//bpmn:participant", _NS)
    assert participant.get("processRef") == PROCESS
    pool = shapes[participant.get("id")]

    def nodes(container: Any) -> list[Any]:
        return [el for el in container if isinstance(el.tag, str) and etree.QName(el).localname not in _NOT_NODES
                and etree.QName(el).namespace == _NS["bpmn"]]

    lanes = {lane.get("id"): lane for lane in process.iterfind(".//bpmn:lane", _NS)}
    lane_of = {ref.text: lane_id for lane_id, lane in lanes.items() for ref in lane.iterfind("bpmn:flowNodeRef", _NS)}
    for lane_id in lanes:
        assert _inside(shapes[lane_id], pool), lane_id
    containers = [(process, None)] + [(sp, sp.get("id")) for sp in process.iter(f"{{{_NS['bpmn']}}}subProcess")]
    for container, parent in containers:
        members = nodes(container)
        for node in members:
            node_id = node.get("id")
            assert node_id in shapes, f"no BPMNShape for {node_id}"
            outer = shapes[lanes_id] if (lanes_id := lane_of.get(node_id)) else shapes[parent]
            assert _inside(shapes[node_id], outer), node_id
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                assert not _overlap(shapes[a.get("id")], shapes[b.get("id")]), (a.get("id"), b.get("id"))
        for flow in container.iterfind("bpmn:sequenceFlow", _NS):
            points = edges[flow.get("id")]
            assert len(points) >= 2, flow.get("id")
            for end, ref in ((points[0], "sourceRef"), (points[-1], "targetRef")):
                x0, y0, x1, y1 = shapes[flow.get(ref)]
                on_border = (x0 - 1 <= end[0] <= x1 + 1 and y0 - 1 <= end[1] <= y1 + 1
                             and not (x0 + 1 < end[0] < x1 - 1 and y0 + 1 < end[1] < y1 - 1))
                assert on_border, (flow.get("id"), ref, end)
    assert all(lane_of.get(n.get("id")) for n in nodes(process)), "every top-level node sits in a lane"
    # SpiffWorkflow reads the loop references as task-data names; BPMN wants them to reference an
    # item-aware element, and a modeler drops unresolved references when it saves: declare them
    declared = {p.get("id") for p in process.iterfind("bpmn:property", _NS)}
    for tag in ("loopDataInputRef", "loopDataOutputRef"):
        refs = [el.text for el in process.iter(f"{{{_NS['bpmn']}}}{tag}")]
        assert refs and set(refs) <= declared, tag
    # left to right: no step of the main path is drawn left of the step before it
    main = ["start", "apply_defaults", "gw_entry", "intake_check", "gw_intake", "review", "gw_review",
            "prepare_exchange", "data_exchange", "summarize_exchange", "confirm_exchange", "issue_report", "feedback",
            "end_completed"]
    centres = [(shapes[n][0] + shapes[n][2]) / 2 for n in main]
    assert centres == sorted(centres)
