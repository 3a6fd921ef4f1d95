"""Every path of ``bpmn/individual_recheck.bpmn`` through the engine services (PS-9, PS-13, DO-8, AU-2).

The four triggers (objection within the window, complaint / 举报, contradicting home visit,
another reason), the late objection refused and recorded, the county department's decision
(SoD: not the person who filed the 复核表), the numbered 复核委托书 to the county or the city
agency, the linked standard case finishing within 15 working days or late, and the result
linked to the original case. Every command is followed by ``expire_all()`` so the next one
reads what was saved; both policy profiles run where a limit applies.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine.audit import replay_instance
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import FormValidationError
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import SeparationOfDutiesError
from engine.history import verify_chain
from engine.models import Entrustment
from engine.models import Event
from engine.models import Household
from engine.models import HumanTask
from engine.models import InstanceStatus
from engine.models import MessageSubscription
from engine.models import Recheck
from engine.models import RecheckStatus
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.reports.service import current_report
from engine.services.demo_cases import _answer
from engine.services.deploy import get_current_definition
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.org import get_unit_by_code
from engine.services.org import grant_role
from engine.services.rechecks import ObjectionTooLateError
from engine.services.rechecks import file_recheck
from engine.services.rechecks import is_overdue
from engine.services.timers import fire_due_timers
from engine.services.users import create_user
from tests.engine.recheck_factory import as_user
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare
from tests.engine.recheck_factory import prepared_once
from tests.engine.recheck_factory import report_decision
from tests.engine.recheck_factory import verify
from tests.engine.test_street_intake import check_diagram_interchange

#: the demo region at every level, every diagram and the demo sharing catalogue, seeded once for the module
SEED_ONCE = prepare

BPMN = Path(__file__).parents[2] / "bpmn" / "individual_recheck.bpmn"
SHANGHAI = ZoneInfo("Asia/Shanghai")
MAIN_PATH = ["start", "check_start", "fill_recheck_form", "decide_recheck", "gw_decision", "set_due", "wait_result",
             "receive_result", "record_result", "end_completed"]
INTAKE_OK = {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True}


def _at(year: int, month: int, day: int, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


@pytest.fixture
def prepared(ctx: EngineContext) -> EngineContext:
    return prepared_once(ctx)


def _form(trigger: str, **extra: Any) -> dict[str, Any]:
    return {"trigger": trigger, "requester_name": "张演示户主", "requested_on": "2026-11-23",
            "reason": "对核对结果中的存款数额有异议", **extra}


def _file(ctx: EngineContext, household: Household, form: dict[str, Any], unit: str = "HQ-MZB",
          who: str = "hq_street_clerk") -> Recheck:
    recheck = file_recheck(ctx, case_no=household.case_no, form=form, initiating_unit=get_unit_by_code(ctx, unit),
                           actor=as_user(ctx, who, "assistance_officer"))
    ctx.session.expire_all()
    return recheck


def _open(ctx: EngineContext, instance_id: int | None) -> list[str]:
    return sorted(t.bpmn_id for t in list_open_tasks(ctx, instance_id=instance_id))


def _task(ctx: EngineContext, instance_id: int | None, bpmn_id: str) -> HumanTask:
    [task] = [t for t in list_open_tasks(ctx, instance_id=instance_id) if t.bpmn_id == bpmn_id]
    return task


def _do(ctx: EngineContext, instance_id: int | None, bpmn_id: str, data: dict[str, Any], actor: Actor) -> None:
    complete_task(ctx, _task(ctx, instance_id, bpmn_id).id, data, actor=actor)
    ctx.session.expire_all()


def _decide(ctx: EngineContext, recheck: Recheck, data: dict[str, Any], who: str = "cy_assistance") -> Recheck:
    _do(ctx, recheck.instance_id, "decide_recheck", data, as_user(ctx, who, "assistance_officer"))
    return ctx.session.get(Recheck, recheck.id)


def _walk(ctx: EngineContext, case: Household, *, until: str = "feedback", after: str | None = None) -> None:
    """The entrusted agency's standard case (system actors: any unit; SoD still applies by name)."""
    steps = [("intake_check", INTAKE_OK, "a_intake"), ("review", {"decision": "accept"}, "a_review"),
             ("prepare_exchange", {"batch_checked": True}, "a_exchange_1"), ("answer", None, None),
             ("confirm_exchange", {"statuses_checked": True}, "a_exchange_2"),
             ("issue_report", {"report_no": "CY-2026-00042"}, "a_report"), ("feedback", {}, "a_assist")]
    if after is not None:
        steps = steps[[s[0] for s in steps].index(after) + 1:]
    for bpmn_id, data, who in steps:
        if bpmn_id == "answer":
            _answer(ctx, case.instance)
        else:
            _do(ctx, case.instance_id, bpmn_id, data, Actor(who, None))
        if bpmn_id == until:
            return


def _data(ctx: EngineContext, instance_id: int | None, bpmn_id: str) -> dict[str, Any]:
    """The task data an open user task sees (what its form is shown with)."""
    instance = ctx.session.get(WorkflowInstance, instance_id)
    return load_workflow(ctx, instance).task_data(_task(ctx, instance_id, bpmn_id).id)


def _waiting_data(ctx: EngineContext, recheck: Recheck) -> dict[str, Any]:
    """The data of the catch event the recheck waits at (message or timer)."""
    wf = load_workflow(ctx, ctx.session.get(WorkflowInstance, recheck.instance_id))
    [task_id] = ctx.session.execute(select(MessageSubscription.task_id).where(
        MessageSubscription.instance_id == recheck.instance_id)).scalars().all()
    return wf.task_data(task_id)


def _path(ctx: EngineContext, recheck: Recheck) -> list[str]:
    instance = ctx.session.get(WorkflowInstance, recheck.instance_id)
    return [s.bpmn_id for s in load_workflow(ctx, instance).trace() if s.state == "COMPLETED"]


def _events(ctx: EngineContext, instance_id: int | None) -> list[str]:
    return list(ctx.session.execute(select(Event.kind).where(Event.instance_id == instance_id)
                                    .order_by(Event.stream, Event.seq)).scalars())


# --- the diagram -------------------------------------------------------------------------------------------


def test_diagram_interchange_is_complete() -> None:
    check_diagram_interchange(BPMN, MAIN_PATH)


def test_user_tasks_lanes_forms_and_separation_of_duties(prepared: EngineContext) -> None:
    definition = get_current_definition(prepared, "individual_recheck")
    tasks = {t["bpmn_id"]: (t["lane"], t["properties"]["formKey"], t["properties"].get("sodNotSameAs"))
             for t in definition.task_catalogue["user_tasks"]}
    assert tasks == {"fill_recheck_form": ("assistance_officer", "recheck_form", None),
                     "decide_recheck": ("assistance_officer", "recheck_decision", "fill_recheck_form"),
                     "record_result": ("assistance_officer", "recheck_result", None)}


# --- objection within the window: decided, entrusted to the county agency, finished in time ---------------


@pytest.mark.parametrize("profile", ["jilin", "baoji"])
def test_objection_in_time_runs_to_a_linked_result(prepared: EngineContext, clock: Any, profile: str) -> None:
    ctx = prepared
    ctx.policy_profile = profile
    [household] = enrol(ctx)
    verify(ctx, household)
    report_decision(ctx, household, decided_on="2026-11-23", notified_on="2026-11-23")
    ctx.session.expire_all()

    recheck = _file(ctx, household, _form("objection"))
    assert (recheck.status, recheck.trigger.value) == (RecheckStatus.FILED, "objection")
    assert (recheck.notified_on, recheck.objection_deadline) == (date(2026, 11, 23), date(2026, 12, 23))
    assert recheck.deciding_unit.code == "CY-MZJ" and recheck.initiating_unit.code == "HQ-MZB"
    assert recheck.number.startswith("FH-CY-MZJ-2026-")
    assert _open(ctx, recheck.instance_id) == ["decide_recheck"]
    decide = _task(ctx, recheck.instance_id, "decide_recheck")
    assert decide.unit_id == get_unit_by_code(ctx, "CY-MZJ").id and decide.role_code == "assistance_officer"
    filed = ctx.session.execute(select(HumanTask).where(HumanTask.instance_id == recheck.instance_id,
                                                        HumanTask.bpmn_id == "fill_recheck_form")).scalar_one()
    assert filed.completed_by == "hq_street_clerk"

    recheck = _decide(ctx, recheck, {"decision": "recheck", "agency_level": "county"})
    assert recheck.status is RecheckStatus.ENTRUSTED and recheck.agency_unit.code == "CY-HDZX"
    letter = ctx.session.get(Entrustment, recheck.entrustment_id)
    assert letter.source.value == "recheck" and letter.number.startswith("FHWT-CY-MZJ-2026-")
    assert (letter.household_count, letter.person_count, letter.entrusting_unit.code) == (1, 3, "CY-MZJ")
    case = recheck.verification_household
    assert case.case_no != household.case_no and case.entrustment_id == letter.id
    assert [p.id_number for p in case.persons] == [p.id_number for p in household.persons]
    assert _open(ctx, case.instance_id) == ["intake_check"]
    data = _data(ctx, case.instance_id, "intake_check")
    assert data["verification_days"] == 15
    assert data["verification_due"] == _at(2026, 12, 14, 23, 59, 59).replace(microsecond=999999).isoformat()
    # the linked case's statutory deadline as a column: 15 working days (PS-9, PS-10)
    assert ctx.session.get(WorkflowInstance, case.instance_id).due_at == datetime.fromisoformat(
        data["verification_due"])
    # the recheck waits (no open task): its data is on the waiting gateway's path
    assert _waiting_data(ctx, recheck)["recheck_due"] == data["verification_due"]
    first = ctx.session.execute(select(Event).where(Event.instance_id == case.instance_id,
                                                    Event.kind == "entrustment_received")).scalar_one()
    assert first.payload["original_case_no"] == household.case_no and first.payload["recheck_no"] == recheck.number

    _walk(ctx, case)
    recheck = ctx.session.get(Recheck, recheck.id)
    report = current_report(ctx, case.case_no)
    assert report is not None and report.report.number.startswith("朝阳核字〔2026〕第")
    assert recheck.report_no == report.report.number  # linked through the report hook
    assert report.report.kind.value == "reverification"  # DO-8: the linked case issues a 复核报告
    assert _open(ctx, recheck.instance_id) == ["record_result"]
    outcome = _data(ctx, recheck.instance_id, "record_result")["verification_outcome"]
    assert outcome == {"case_no": case.case_no, "end": "end_completed", "report_no": report.report.number}
    _do(ctx, recheck.instance_id, "record_result", {"result": "复核查明存款与原核对结果一致"},
        as_user(ctx, "cy_assistance", "assistance_officer"))
    recheck = ctx.session.get(Recheck, recheck.id)
    assert recheck.status is RecheckStatus.COMPLETED and recheck.result == "复核查明存款与原核对结果一致"
    assert recheck.instance.status is InstanceStatus.COMPLETED and _path(ctx, recheck) == MAIN_PATH
    assert not is_overdue(ctx, recheck)
    original_events = _events(ctx, household.instance_id)
    assert {"recheck_filed", "recheck_entrusted", "recheck_completed"} <= set(original_events)
    assert verify_chain(ctx.session) == []
    assert replay_instance(ctx, recheck.instance_id).consistent


# --- SoD and jurisdiction ------------------------------------------------------------------------------------


def test_the_filer_cannot_decide_and_another_jurisdiction_cannot_file(prepared: EngineContext) -> None:
    ctx = prepared
    [household] = enrol(ctx)
    recheck = _file(ctx, household, _form("complaint", reason="举报该户有经营性车辆"),
                    unit="CY-MZJ", who="cy_assistance")
    with pytest.raises(SeparationOfDutiesError):
        _decide(ctx, recheck, {"decision": "decline", "reason": "举报内容不实"})
    refused = ctx.session.execute(select(Event).where(Event.instance_id == recheck.instance_id,
                                                      Event.kind == "refused")).scalar_one()
    assert refused.payload["rule"] == "SoD" and refused.bpmn_id == "decide_recheck"
    colleague = create_user(ctx, "cy_assistance_2", "钱演示（朝阳区民政局）", "hedui-demo-1", actor=Actor("admin"))
    grant_role(ctx, colleague, get_unit_by_code(ctx, "CY-MZJ"), "assistance_officer", actor=Actor("admin"))
    recheck = _decide(ctx, recheck, {"decision": "decline", "reason": "举报内容不实"}, who="cy_assistance_2")
    assert recheck.status is RecheckStatus.DECLINED
    with pytest.raises(NotFoundError):  # 南关区 cannot even see a 朝阳区 household (OR-3)
        file_recheck(ctx, case_no=household.case_no, form=_form("complaint"),
                     initiating_unit=get_unit_by_code(ctx, "NG-MZJ"), actor=Actor("ng_clerk"))


# --- late objection -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["jilin", "baoji"])
def test_a_late_objection_is_refused_and_the_refusal_recorded(prepared: EngineContext, clock: Any,
                                                              profile: str) -> None:
    ctx = prepared
    ctx.policy_profile = profile
    [household] = enrol(ctx)
    verify(ctx, household)
    # told on Thu 29 Oct: day 30 is Sat 28 Nov, so the window ends on Mon 30 Nov (next working day)
    report_decision(ctx, household, decided_on="2026-10-28", notified_on="2026-10-29")
    clock.set(_at(2026, 12, 1))
    with pytest.raises(ObjectionTooLateError) as info:
        _file(ctx, household, _form("objection", requested_on="2026-12-01"))
    assert info.value.code == "objection_late" and info.value.commit
    assert "2026-11-30" in info.value.message
    ctx.session.expire_all()
    [refused] = ctx.session.execute(select(Recheck)).scalars().all()
    assert (refused.status, refused.refusal_code, refused.instance_id) == (RecheckStatus.REFUSED, "objection_late",
                                                                            None)
    assert refused.objection_deadline == date(2026, 11, 30)
    event = ctx.session.execute(select(Event).where(Event.instance_id == household.instance_id,
                                                    Event.kind == "recheck_refused")).scalar_one()
    assert event.payload["deadline"] == "2026-11-30" and event.payload["code"] == "objection_late"
    # the last day of the window is still accepted
    recheck = _file(ctx, household, _form("objection", requested_on="2026-11-30"))
    assert recheck.status is RecheckStatus.FILED


def test_an_objection_needs_a_notification_date(prepared: EngineContext) -> None:
    ctx = prepared
    [household] = enrol(ctx)
    with pytest.raises(FormValidationError) as info:
        _file(ctx, household, _form("objection"))
    assert "notified_on" in info.value.details["fields"]
    recheck = _file(ctx, household, _form("objection", notified_on="2026-11-20"))
    assert recheck.notified_on == date(2026, 11, 20)
    with pytest.raises(InvalidStateError) as again:
        _file(ctx, household, _form("home_visit"))
    assert again.value.code == "recheck_open"


# --- home visit declined; another reason to the city agency, late; a returned verification -------------------


def test_home_visit_declined(prepared: EngineContext) -> None:
    ctx = prepared
    [household] = enrol(ctx)
    recheck = _file(ctx, household, _form("home_visit", requester_name="周敏", reason="入户发现家中新购轿车"))
    with pytest.raises(FormValidationError):
        _decide(ctx, recheck, {"decision": "decline"})
    recheck = _decide(ctx, recheck, {"decision": "decline", "reason": "车辆系借用，已核实"})
    assert recheck.status is RecheckStatus.DECLINED and recheck.decision_reason == "车辆系借用，已核实"
    assert _path(ctx, recheck)[-2:] == ["gw_decision", "end_declined"]
    assert recheck.verification_household_id is None
    assert "recheck_declined" in _events(ctx, household.instance_id)


@pytest.mark.parametrize("profile", ["jilin", "baoji"])
def test_other_reason_entrusted_to_the_city_and_finished_late(prepared: EngineContext, clock: Any,
                                                              profile: str) -> None:
    ctx = prepared
    ctx.policy_profile = profile
    [household] = enrol(ctx)
    recheck = _file(ctx, household, _form("other", requester_name="朝阳区民政局", reason="年度抽查"))
    recheck = _decide(ctx, recheck, {"decision": "recheck", "agency_level": "city"})
    case = recheck.verification_household
    assert recheck.agency_unit.code == "CC-HDZX" and case.case_no.startswith("HD-CC-HDZX-2026-")
    assert case.instance.agency_unit_id == get_unit_by_code(ctx, "CC-HDZX").id
    _walk(ctx, case, until="intake_check")
    clock.set(_at(2026, 12, 14, 23, 59, 59))
    assert fire_due_timers(ctx) == 0  # the 15th working day is not over yet
    clock.set(_at(2026, 12, 15, 0, 0, 1))
    assert fire_due_timers(ctx) == 1
    ctx.session.expire_all()
    recheck = ctx.session.get(Recheck, recheck.id)
    assert is_overdue(ctx, recheck) and _waiting_data(ctx, recheck)["recheck_overdue"] is True
    assert _open(ctx, recheck.instance_id) == []
    # the agency ends its verification at 审核复审 (PS-3); the recheck takes the late path
    _do(ctx, case.instance_id, "review", {"decision": "terminate", "reason": "户籍信息与原案件不符"}, Actor("a_review"))
    assert _data(ctx, recheck.instance_id, "record_result")["verification_outcome"]["end"] == "end_terminated"
    assert _open(ctx, recheck.instance_id) == ["record_result"]
    _do(ctx, recheck.instance_id, "record_result", {"result": "复核完成（逾期）", "report_no": "CC-2026-00007"},
        as_user(ctx, "cy_assistance", "assistance_officer"))
    recheck = ctx.session.get(Recheck, recheck.id)
    assert recheck.status is RecheckStatus.COMPLETED and recheck.report_no == "CC-2026-00007"
    assert _path(ctx, recheck)[-5:] == ["result_timeout", "mark_overdue", "receive_result_late", "record_result",
                                        "end_completed"]


def test_a_returned_verification_still_reaches_the_recheck(prepared: EngineContext) -> None:
    ctx = prepared
    [household] = enrol(ctx)
    recheck = _file(ctx, household, _form("complaint", reason="举报隐瞒收入"))
    recheck = _decide(ctx, recheck, {"decision": "recheck", "agency_level": "county"})
    case = recheck.verification_household
    _do(ctx, case.instance_id, "intake_check", {"decision": "return", "reason": "材料不全"}, Actor("a_intake"))
    outcome = _data(ctx, recheck.instance_id, "record_result")["verification_outcome"]
    assert outcome["end"] == "end_returned" and outcome["report_no"] is None
    assert _open(ctx, recheck.instance_id) == ["record_result"]
