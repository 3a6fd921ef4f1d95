"""Auditing: replay reproduces the stored state of every kind of case; tampering is found and located."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy import text

from engine.audit import replay_instance
from engine.audit import timeline
from engine.audit import verify_all
from engine.calendar import WorkingCalendar
from engine.calendar import seed_calendar
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import SeparationOfDutiesError
from engine.models import Event
from engine.models import InstanceStatus
from engine.models import WorkflowInstance
from engine.services.deploy import deploy_files
from engine.services.instances import claim_task
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from engine.services.messages import deliver_message
from engine.services.timers import fire_due_timers
from tests.conftest import T0
from tests.engine.test_history import _disable_guards

BPMN = Path(__file__).parents[2] / "bpmn" / "standard_verification.bpmn"
INTAKE = Actor("li_intake", "intake_officer")
REVIEWER = Actor("wang_review", "review_officer")
EXCHANGE = Actor("chen_exchange", "exchange_officer")
CHECKER = Actor("liu_exchange", "exchange_officer")
REPORTER = Actor("zhao_report", "report_officer")
ASSISTANCE = Actor("sun_assist", "assistance_officer")
CLERK = Actor("zhao_clerk", "street_clerk")
CASE = "HD-2026-0042"
INTAKE_OK = {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True}


def _do(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str, data: dict[str, Any], actor: Actor) -> None:
    [task] = [t for t in list_open_tasks(ctx, instance_id=instance.id) if t.bpmn_id == bpmn_id]
    complete_task(ctx, task.id, data, actor=actor)
    ctx.session.expire_all()  # the next command reads only what was saved


def _deliver(ctx: EngineContext, message: str, unit: str, payload: dict[str, Any]) -> None:
    deliver_message(ctx, message, f"{CASE}:{unit}", payload, actor=Actor(f"unit:{unit}"))
    ctx.session.expire_all()


def _consistent(ctx: EngineContext, instance: WorkflowInstance, steps: int) -> None:
    result = replay_instance(ctx, instance.id)
    assert (result.consistent, result.steps, result.first_divergence) == (True, steps, None)


@pytest.fixture
def standard(ctx: EngineContext, session: Any, clock: Any) -> EngineContext:
    seed_calendar(session, [2026], clock=clock)
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    deploy_files(ctx, {BPMN.name: BPMN.read_bytes()}, actor=Actor("designer", "process_designer"))
    return ctx


def _standard_case(ctx: EngineContext, clock: Any, units: list[str]) -> WorkflowInstance:
    """A standard verification case up to the data exchange (requests sent)."""
    instance = start_instance(ctx, "standard_verification", actor=INTAKE, business_key=CASE,
                              data={"case_no": CASE, "subject_ids": [101, 102], "sharing_units": units})
    ctx.session.expire_all()
    clock.advance(hours=2)
    _do(ctx, instance, "intake_check", INTAKE_OK, INTAKE)
    clock.advance(hours=3)
    _do(ctx, instance, "review", {"decision": "accept"}, REVIEWER)
    clock.advance(days=1)
    _do(ctx, instance, "prepare_exchange", {"batch_checked": True}, EXCHANGE)
    return instance


def _finish_standard(ctx: EngineContext, clock: Any, instance: WorkflowInstance) -> None:
    clock.advance(hours=1)
    _do(ctx, instance, "confirm_exchange", {"statuses_checked": True}, CHECKER)
    _do(ctx, instance, "issue_report", {"report_no": "朝核报〔2026〕42号"}, REPORTER)
    _do(ctx, instance, "feedback", {"remark": "已收到核对报告"}, ASSISTANCE)
    assert instance.status == InstanceStatus.COMPLETED


def _linear_with_return(ctx: EngineContext, deploy: Any, clock: Any) -> WorkflowInstance:
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-2026-0001")
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    claim_task(ctx, task.id, actor=INTAKE)  # claims are history, not commands: replay skips them
    clock.advance(minutes=30)
    _do(ctx, instance, "intake_check", {"remark": "材料齐全"}, INTAKE)
    clock.advance(hours=1)
    _do(ctx, instance, "review", {"decision": "return", "reason": "授权书缺签字"}, REVIEWER)
    clock.advance(hours=1)
    _do(ctx, instance, "intake_check", {"remark": "已补正"}, INTAKE)
    clock.advance(hours=1)
    _do(ctx, instance, "review", {"decision": "accept"}, REVIEWER)
    assert instance.status == InstanceStatus.COMPLETED
    return instance


# --- replay: every kind of case is reproduced --------------------------------------------------------------


def test_replay_of_a_completed_linear_case_is_consistent(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-2026-0002")
    _do(ctx, instance, "intake_check", {}, INTAKE)
    clock.advance(hours=4)
    _do(ctx, instance, "review", {"decision": "accept"}, REVIEWER)
    assert instance.status == InstanceStatus.COMPLETED
    _consistent(ctx, instance, 3)


def test_replay_of_a_case_with_a_return_loop_is_consistent_step_by_step(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    instance = _linear_with_return(ctx, deploy, clock)
    result = replay_instance(ctx, instance.id, steps=True)
    assert result.consistent and result.steps == 5
    assert [(s.seq, s.kind, s.bpmn_id) for s in result.snapshots] == [
        (1, "started", None), (3, "task_completed", "intake_check"), (4, "task_completed", "review"),
        (5, "task_completed", "intake_check"), (6, "task_completed", "review")]
    first, returned, last = result.snapshots[0].state, result.snapshots[2].state, result.snapshots[-1].state
    assert [t["bpmn_id"] for t in first["open_tasks"]] == ["intake_check"] and not first["completed"]
    assert [t["bpmn_id"] for t in returned["open_tasks"]] == ["intake_check"]  # back to intake after the return
    assert returned["open_tasks"][0]["data"]["decision"] == "return"
    assert last["completed"] and last["open_tasks"] == []
    assert [step[1] for step in last["trace"]].count("intake_check") == 2
    assert result.snapshots[2].occurred_at == T0 + timedelta(minutes=30, hours=1)


def test_replay_of_a_standard_case_with_messages_is_consistent(standard, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = standard
    instance = _standard_case(ctx, clock, ["bank_a", "tax"])
    clock.advance(days=1)
    _deliver(ctx, "exchange_result", "tax", {"result_id": 72})
    _consistent(ctx, instance, 5)  # a running case too: waiting for the bank
    clock.advance(days=1)
    _deliver(ctx, "exchange_result", "bank_a", {"result_id": 71})
    _finish_standard(ctx, clock, instance)
    _consistent(ctx, instance, 9)


def test_replay_of_a_timer_fired_case_is_consistent(standard, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = standard
    instance = _standard_case(ctx, clock, ["bank_a", "housing_fund"])
    _deliver(ctx, "exchange_result", "bank_a", {"result_id": 81})
    clock.advance(days=10)
    assert fire_due_timers(ctx) == 1
    ctx.session.expire_all()
    _finish_standard(ctx, clock, instance)
    kinds = [r.kind for r in timeline(ctx, instance.id)]
    assert kinds.count("timer_fired") == 1
    _consistent(ctx, instance, 9)


def test_replay_of_two_timers_fired_in_one_sweep(standard, clock) -> None:  # type: ignore[no-untyped-def]
    """One sweep fires both units' timers: two events, one engine run, both consistent."""
    ctx = standard
    instance = _standard_case(ctx, clock, ["bank_a", "tax"])
    clock.advance(days=10)
    assert fire_due_timers(ctx) == 2
    ctx.session.expire_all()
    _finish_standard(ctx, clock, instance)
    _consistent(ctx, instance, 9)


def test_replay_of_a_delay_notice_case_is_consistent(standard, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = standard
    instance = _standard_case(ctx, clock, ["real_estate"])
    clock.advance(days=5)
    _deliver(ctx, "exchange_delay", "real_estate", {"days": 3, "notice_id": 77})
    _consistent(ctx, instance, 5)
    clock.advance(days=2)
    _deliver(ctx, "exchange_result", "real_estate", {"result_id": 78})
    _finish_standard(ctx, clock, instance)
    _consistent(ctx, instance, 9)


def test_replay_of_a_boundary_timer_case_is_consistent(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    deploy("timer_boundary.bpmn")
    instance = start_instance(ctx, "timer_boundary", actor=CLERK,
                              data={"materials_due": (T0 + timedelta(days=3)).isoformat()})
    clock.advance(days=4)
    assert fire_due_timers(ctx) == 1
    ctx.session.expire_all()
    assert instance.status == InstanceStatus.COMPLETED
    _consistent(ctx, instance, 2)


COUNTERSIGN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs_countersign" targetNamespace="http://hedui.example/bpmn/test">
  <bpmn:process id="countersign" name="测试：多人会签" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_review" name="review_officer">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>sign</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="sign" name="会签">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formKey" value="acknowledge" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>units</bpmn:loopDataInputRef>
        <bpmn:loopDataOutputRef>opinions</bpmn:loopDataOutputRef>
        <bpmn:inputDataItem id="unit" name="unit" />
        <bpmn:outputDataItem id="remark" name="remark" />
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sign" />
    <bpmn:sequenceFlow id="f2" sourceRef="sign" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_parallel_tasks_with_one_bpmn_id_are_matched_by_order_of_creation(ctx) -> None:  # type: ignore[no-untyped-def]
    """Three READY ``sign`` tasks at once, completed out of order: each event goes to the task of its unit."""
    deploy_files(ctx, {"countersign.bpmn": COUNTERSIGN.encode("utf-8")}, actor=Actor("designer", "process_designer"))
    instance = start_instance(ctx, "countersign", actor=REVIEWER, business_key="HD-MI",
                              data={"units": ["bank_a", "tax", "housing_fund"]})
    tasks = list_open_tasks(ctx, instance_id=instance.id)
    assert len(tasks) == 3
    from engine.persistence import load_workflow

    wf = load_workflow(ctx, instance)
    by_unit = {wf.task_data(t.id)["unit"]: t.id for t in tasks}
    for unit in ("tax", "housing_fund", "bank_a"):
        complete_task(ctx, by_unit[unit], {"remark": f"{unit} 同意"}, actor=REVIEWER)
        ctx.session.expire_all()
    assert instance.status == InstanceStatus.COMPLETED
    result = replay_instance(ctx, instance.id, steps=True)
    assert result.consistent and result.notes == []
    # the final data cannot tell (outputs are collected in completion order), the steps can
    open_units = [sorted(t["data"]["unit"] for t in s.state["open_tasks"]) for s in result.snapshots]
    assert open_units == [["bank_a", "housing_fund", "tax"], ["bank_a", "housing_fund"], ["bank_a"], []]


# --- tampering -------------------------------------------------------------------------------------------


def test_untouched_log_and_states_verify(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    _linear_with_return(ctx, deploy, clock)
    report = verify_all(ctx)
    assert report.ok and report.instances_checked == 1 and report.events_checked >= 7


def test_one_byte_changed_in_a_stored_state_is_reported_with_the_case(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    first = _linear_with_return(ctx, deploy, clock)
    second = start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-2026-0003")
    state = second.state
    i = state.index('"intake_check"')
    ctx.session.execute(text("UPDATE workflow_instances SET state = :s WHERE id = :i"),
                        {"s": state[:i + 1] + "J" + state[i + 2:], "i": second.id})
    ctx.session.expire_all()
    report = verify_all(ctx)
    assert [(p.instance_id, p.business_key, p.seq, p.place) for p in report.problems] == [
        (second.id, "HD-2026-0003", 1, "存储的流程状态")]
    assert "第 1 号事件（started）" in str(report.problems[0]) and first.id != second.id
    assert report.problems[0].detail == "存储的流程状态无法读取（可能被篡改）"  # no such element in the diagram


def test_one_byte_changed_in_an_event_payload_is_reported_with_the_place(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    instance = _linear_with_return(ctx, deploy, clock)
    event = ctx.session.execute(select(Event).where(Event.stream == f"instance:{instance.id}", Event.seq == 4)
                                ).scalar_one()
    raw = json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))
    _disable_guards(ctx)
    ctx.session.execute(text("UPDATE events SET payload = :p WHERE id = :i"),
                        {"p": raw.replace('"return"', '"retusn"'), "i": event.id})
    ctx.session.expire_all()
    problems = verify_all(ctx).problems
    assert [(p.instance_id, p.seq, p.event_id) for p in problems] == [(instance.id, 4, event.id)]
    assert "哈希" in problems[0].problem


def test_a_changed_definition_hash_in_an_event_is_reported(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    instance = _linear_with_return(ctx, deploy, clock)
    _disable_guards(ctx)
    ctx.session.execute(text("UPDATE events SET definition_hash = :h WHERE stream = :s AND seq = 3"),
                        {"h": "f" * 64, "s": f"instance:{instance.id}"})
    ctx.session.expire_all()
    problems = verify_all(ctx).problems
    assert {(p.seq, "哈希" in p.problem, "流程版本" in p.problem) for p in problems} == {
        (3, True, False), (3, False, True)}
    result = replay_instance(ctx, instance.id)
    assert not result.consistent and result.first_divergence.aspect == "definition"


def test_a_changed_decision_in_the_state_makes_the_replay_inconsistent(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    """Valid JSON, still loads, hash not re-checked: the replay finds the decision the log never recorded."""
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-2026-0004")
    _do(ctx, instance, "intake_check", {"remark": "材料齐全"}, INTAKE)
    _do(ctx, instance, "review", {"decision": "terminate", "reason": "材料不实"}, REVIEWER)
    _consistent(ctx, instance, 3)
    tampered = instance.state.replace('"decision": "terminate"', '"decision": "accept"')
    assert tampered != instance.state
    ctx.session.execute(text("UPDATE workflow_instances SET state = :s WHERE id = :i"),
                        {"s": tampered, "i": instance.id})
    ctx.session.expire_all()
    result = replay_instance(ctx, instance.id)
    assert not result.consistent and result.steps == 3
    d = result.first_divergence
    assert (d.seq, d.kind, d.bpmn_id, d.aspect, d.path) == (3, "task_completed", "review", "data", "data/decision")
    assert (d.expected, d.actual) == ("terminate", "accept")
    assert "重放为" in d.message and result.to_dict()["first_divergence"]["seq"] == 3
    [problem] = verify_all(ctx).problems  # the digest check sees it too, and the replay locates it
    assert (problem.instance_id, problem.seq, problem.detail) == (instance.id, 3, d.message)


def test_a_forged_extra_step_in_the_state_is_located(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    """The stored state of a running case swapped for a later one: the log does not explain it."""
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-2026-0005")
    other = start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-2026-0006")
    _do(ctx, other, "intake_check", {"remark": "伪造"}, INTAKE)
    ctx.session.execute(text("UPDATE workflow_instances SET state = :s WHERE id = :i"),
                        {"s": other.state, "i": instance.id})
    ctx.session.expire_all()
    result = replay_instance(ctx, instance.id)
    d = result.first_divergence
    assert not result.consistent and d.aspect == "trace" and d.seq == 1 and d.actual[1] == "intake_check"


def test_a_recorded_command_the_replay_cannot_run_is_the_divergence(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    instance = _linear_with_return(ctx, deploy, clock)
    _disable_guards(ctx)
    ctx.session.execute(text("UPDATE events SET bpmn_id = 'review' WHERE stream = :s AND seq = 3"),
                        {"s": f"instance:{instance.id}"})
    ctx.session.expire_all()
    d = replay_instance(ctx, instance.id).first_divergence
    assert (d.seq, d.aspect, d.actual) == (3, "command", ["intake_check"])


def test_a_malformed_record_is_a_divergence_not_a_crash(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    instance = _linear_with_return(ctx, deploy, clock)
    _disable_guards(ctx)
    ctx.session.execute(text("UPDATE events SET payload = :p WHERE stream = :s AND seq = 4"),
                        {"p": '{"data":[1,2],"state_sha256":"x"}', "s": f"instance:{instance.id}"})
    ctx.session.expire_all()
    result = replay_instance(ctx, instance.id)
    assert not result.consistent and (result.first_divergence.seq, result.first_divergence.aspect) == (4, "command")


# --- timeline --------------------------------------------------------------------------------------------


def test_timeline_lists_every_event_and_filters(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    instance = _linear_with_return(ctx, deploy, clock)
    rows = timeline(ctx, instance.id)
    assert [(r.seq, r.kind) for r in rows] == [
        (1, "started"), (2, "task_claimed"), (3, "task_completed"), (4, "task_completed"), (5, "task_completed"),
        (6, "task_completed")]
    assert rows[3].task_name == "审核复审" and rows[3].actor_role == "review_officer"
    assert rows[3].payload["data"]["decision"] == "return" and "审核结论：退回" in rows[3].summary
    assert rows[0].definition_version == 1 and rows[0].process_id == "linear_review"
    assert rows[2].occurred_at == T0 + timedelta(minutes=30)
    assert [r.seq for r in timeline(ctx, instance.id, kinds=["task_claimed"])] == [2]
    assert [r.seq for r in timeline(ctx, instance.id, actor="wang_review")] == [4, 6]
    assert rows[0].to_dict()["occurred_at"] == rows[0].occurred_at.isoformat()


def test_timeline_shows_refusals_and_replay_ignores_them(ctx, deploy) -> None:  # type: ignore[no-untyped-def]
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-2026-0007")
    _do(ctx, instance, "intake_check", {}, INTAKE)
    [review] = list_open_tasks(ctx, instance_id=instance.id)
    with pytest.raises(SeparationOfDutiesError):
        complete_task(ctx, review.id, {"decision": "accept"}, actor=Actor("li_intake", "review_officer"))
    [refusal] = timeline(ctx, instance.id, kinds=["refused"])
    assert (refusal.kind_name, refusal.actor, refusal.task_name) == ("拒绝操作", "li_intake", "审核复审")
    assert refusal.summary.startswith("拒绝办理任务「审核复审」（SD-1）")
    _consistent(ctx, instance, 2)
