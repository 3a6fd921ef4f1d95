"""Migrating running cases to a new process version (designer tools, DESIGN "migration" command).

A case waiting at an early step moves and then follows the new diagram; a case at a removed step
is blocked and left untouched; derived rows are rebuilt (new tasks take the target's catalogue,
a surviving claimed task keeps its assignee and due time); the ``migrated`` event sits in the hash
chain, verification passes and the audit replay re-executes it (and still catches tampering).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy import text

from engine.audit import replay_instance
from engine.audit import timeline
from engine.audit import verify_all
from engine.audit import verify_instance
from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import verify_chain
from engine.models import Event
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import InstanceStatus
from engine.models import ProcessDefinition
from engine.models import Timer
from engine.models import TimerStatus
from engine.models import WorkflowInstance
from engine.services.instance_migration import migrate_instances
from engine.services.instance_migration import plan_migration
from engine.services.instances import claim_task
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from engine.services.timers import fire_due_timers
from tests.conftest import T0
from tests.engine.migration_factory import ADDED_STEP
from tests.engine.migration_factory import DESIGNER
from tests.engine.migration_factory import MANUAL_REVIEW
from tests.engine.migration_factory import RELANED
from tests.engine.migration_factory import REMOVED_REVIEW
from tests.engine.migration_factory import TIMER_ADDED_STEP
from tests.engine.migration_factory import TIMER_DURATION_V1
from tests.engine.migration_factory import TIMER_DURATION_V2
from tests.engine.migration_factory import TIMER_REMOVED
from tests.engine.migration_factory import TIMER_RETIMED_V2
from tests.engine.migration_factory import TIMER_V1
from tests.engine.migration_factory import V1
from tests.engine.migration_factory import deploy_text
from tests.engine.test_history import _disable_guards

INTAKE = Actor("li_intake", "intake_officer")
REVIEWER = Actor("wang_review", "review_officer")
CLERK = Actor("zhao_clerk", "street_clerk")
REASON = "修正审核前缺少法规审查的问题"


@pytest.fixture
def linear(ctx: EngineContext) -> EngineContext:
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    assert deploy_text(ctx, V1) == 1
    return ctx


def _start(ctx: EngineContext, key: str, **data: Any) -> WorkflowInstance:
    instance = start_instance(ctx, "linear_review", actor=INTAKE, business_key=key, data=data)
    ctx.session.expire_all()
    return instance


def _do(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str, data: dict[str, Any], actor: Actor) -> None:
    [task] = [t for t in list_open_tasks(ctx, instance_id=instance.id) if t.bpmn_id == bpmn_id]
    complete_task(ctx, task.id, data, actor=actor)
    ctx.session.expire_all()


def _open(ctx: EngineContext, instance: WorkflowInstance) -> list[HumanTask]:
    return list(ctx.session.execute(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.status == HumanTaskStatus.OPEN)).scalars())


def _events(ctx: EngineContext, instance: WorkflowInstance) -> list[Event]:
    return list(ctx.session.execute(select(Event).where(Event.stream == f"instance:{instance.id}")
                                    .order_by(Event.seq)).scalars())


def _migrate(ctx: EngineContext, to: int = 2, **kwargs: Any) -> Any:
    result = migrate_instances(ctx, "linear_review", 1, to, actor=DESIGNER, reason=REASON, **kwargs)
    ctx.session.expire_all()
    return result


# --- plan ----------------------------------------------------------------------------------------------


def test_plan_lists_compatible_and_blocked_cases_with_the_diff(linear, clock) -> None:  # type: ignore[no-untyped-def]
    early, at_review = _start(linear, "HD-M-1"), _start(linear, "HD-M-2")
    _do(linear, at_review, "intake_check", {"remark": "材料齐全"}, INTAKE)
    deploy_text(linear, REMOVED_REVIEW)
    plan = plan_migration(linear, "linear_review", 1, 2)
    assert [(i.business_key, i.compatible) for i in plan.items] == [("HD-M-1", True), ("HD-M-2", False)]
    assert plan.items[0].current == ("受理初审（待办）",)
    assert plan.items[1].reasons == ("当前所在步骤「审核复审」（review）在新版本中已删除",)
    summary = plan.summary()
    assert [c["bpmn_id"] for c in summary["removed"]] == ["review"] and summary["added"] == []
    assert {c["bpmn_id"] for c in summary["changed"]} >= {"intake_check", "gw_review"}
    assert plan.compatible_ids == [early.id]


def test_plan_refuses_unknown_and_equal_versions_and_foreign_cases(linear) -> None:  # type: ignore[no-untyped-def]
    deploy_text(linear, ADDED_STEP)
    with pytest.raises(NotFoundError):
        plan_migration(linear, "linear_review", 1, 7)
    with pytest.raises(NotFoundError):
        plan_migration(linear, "no_such_process", 1, 2)
    with pytest.raises(ValidationError) as same:
        plan_migration(linear, "linear_review", 2, 2)
    assert same.value.code == "same_version"
    other = start_instance(linear, "linear_review", actor=INTAKE, business_key="HD-M-v2")  # runs on v2
    assert plan_migration(linear, "linear_review", 1, 2).items == ()  # no running case on v1: an empty plan
    assert plan_migration(linear, "linear_review", 1, 2, instance_ids=[other.id]).items == ()
    with pytest.raises(ValidationError):
        plan_migration(linear, "linear_review", 1, 2, instance_ids=[other.id + 1000])


def test_plan_changes_nothing(linear) -> None:  # type: ignore[no-untyped-def]
    instance = _start(linear, "HD-M-3")
    before = (instance.state, instance.version, instance.definition_id, len(_events(linear, instance)))
    deploy_text(linear, ADDED_STEP)
    assert plan_migration(linear, "linear_review", 1, 2).items[0].compatible
    linear.session.expire_all()
    assert (instance.state, instance.version, instance.definition_id, len(_events(linear, instance))) == before


# --- migrate: the new path, derived rows, the untouched blocked case ---------------------------------------


def test_a_case_at_an_early_step_moves_and_follows_the_new_path(linear, clock) -> None:  # type: ignore[no-untyped-def]
    instance = _start(linear, "HD-M-4")
    [task] = _open(linear, instance)
    claim_task(linear, task.id, actor=INTAKE)
    due_before = task.due_at
    deploy_text(linear, ADDED_STEP)
    clock.advance(hours=1)
    result = _migrate(linear)
    assert [i.business_key for i in result.migrated] == ["HD-M-4"] and result.skipped == []
    v2 = linear.session.execute(select(ProcessDefinition).where(ProcessDefinition.version == 2)).scalar_one()
    assert instance.definition_id == v2.id
    [survivor] = _open(linear, instance)
    # the claimed task survived: same row, assignee and due time kept, the new name shown
    assert (survivor.id, survivor.assignee, survivor.due_at) == (task.id, "li_intake", due_before)
    assert survivor.name == "受理初审（核对材料）" and survivor.properties["dueWorkingDays"] == "4"
    clock.advance(hours=1)
    _do(linear, instance, "intake_check", {"remark": "材料齐全"}, INTAKE)
    [legal] = _open(linear, instance)
    assert (legal.bpmn_id, legal.name, legal.role_code) == ("legal_check", "法规审查", "review_officer")
    assert legal.due_at == linear.deadline(clock.now(), 2)  # the target's catalogue: 2 working days
    _do(linear, instance, "legal_check", {}, REVIEWER)
    [review] = _open(linear, instance)
    assert review.bpmn_id == "review" and review.due_at == linear.deadline(clock.now(), 5)  # changed in v2
    _do(linear, instance, "review", {"decision": "accept"}, REVIEWER)
    assert instance.status == InstanceStatus.COMPLETED
    replayed = replay_instance(linear, instance.id)
    assert (replayed.consistent, replayed.first_divergence) == (True, None)


def test_a_case_at_a_removed_task_is_blocked_and_untouched(linear) -> None:  # type: ignore[no-untyped-def]
    early, at_review = _start(linear, "HD-M-5", decision="accept"), _start(linear, "HD-M-6")
    _do(linear, at_review, "intake_check", {"remark": "材料齐全"}, INTAKE)
    before = (at_review.state, at_review.version, at_review.definition_id, len(_events(linear, at_review)),
              [t.id for t in _open(linear, at_review)])
    deploy_text(linear, REMOVED_REVIEW)
    result = _migrate(linear)
    assert [i.business_key for i in result.migrated] == ["HD-M-5"]
    assert [(i.business_key, i.reasons) for i in result.skipped] == [
        ("HD-M-6", ("当前所在步骤「审核复审」（review）在新版本中已删除",))]
    after = (at_review.state, at_review.version, at_review.definition_id, len(_events(linear, at_review)),
             [t.id for t in _open(linear, at_review)])
    assert after == before
    # the migrated one now skips the removed review: intake_check leads straight to the gateway
    _do(linear, early, "intake_check", {"remark": "材料齐全"}, INTAKE)
    assert early.status == InstanceStatus.COMPLETED
    assert replay_instance(linear, early.id).consistent


def test_a_removed_step_in_the_history_blocks_the_case(linear) -> None:  # type: ignore[no-untyped-def]
    """A case that went through 审核复审 and was returned: the stored path names a step the target lacks."""
    instance = _start(linear, "HD-M-7")
    _do(linear, instance, "intake_check", {}, INTAKE)
    _do(linear, instance, "review", {"decision": "return", "reason": "授权书缺签字"}, REVIEWER)
    deploy_text(linear, REMOVED_REVIEW)
    [item] = plan_migration(linear, "linear_review", 1, 2).items
    assert not item.compatible
    assert item.reasons == ("已经过的步骤「审核复审」（review）在新版本中已删除，案件历史无法对应到新版本",)


def test_a_current_task_moved_to_another_role_blocks_the_case(linear) -> None:  # type: ignore[no-untyped-def]
    _start(linear, "HD-M-8")
    deploy_text(linear, RELANED)
    [item] = plan_migration(linear, "linear_review", 1, 2).items
    assert item.reasons == ("当前所在步骤「受理初审」（intake_check）在新版本中改由其他角色办理",)
    assert _migrate(linear).migrated == []


def test_a_current_task_that_changed_its_kind_blocks_the_case(linear) -> None:  # type: ignore[no-untyped-def]
    instance = _start(linear, "HD-M-8b")
    _do(linear, instance, "intake_check", {}, INTAKE)
    deploy_text(linear, MANUAL_REVIEW)
    [item] = plan_migration(linear, "linear_review", 1, 2).items
    assert item.reasons == ("当前所在步骤「审核复审」（review）在新版本中改变了类型",)


def test_a_removed_waiting_timer_blocks_the_case_named_by_its_element(ctx) -> None:  # type: ignore[no-untyped-def]
    """The boundary timer is gone: the refusal names it, not SpiffWorkflow's internal split/join tasks."""
    deploy_text(ctx, TIMER_V1, "timer_boundary.bpmn")
    start_instance(ctx, "timer_boundary", actor=CLERK, business_key="HD-M-T4",
                   data={"materials_due": (T0 + timedelta(days=3)).isoformat()})
    deploy_text(ctx, TIMER_REMOVED, "timer_boundary.bpmn")
    [item] = plan_migration(ctx, "timer_boundary", 1, 2).items
    assert item.reasons == ("当前所在步骤「逾期未补正」（materials_overdue）在新版本中已删除",)
    assert item.current == ("补正材料（待办）", "逾期未补正（等待中）")


def test_only_the_chosen_cases_move(linear) -> None:  # type: ignore[no-untyped-def]
    first, second = _start(linear, "HD-M-9"), _start(linear, "HD-M-10")
    deploy_text(linear, ADDED_STEP)
    result = _migrate(linear, instance_ids=[second.id])
    assert [i.business_key for i in result.migrated] == ["HD-M-10"]
    assert first.definition_id != second.definition_id
    again = _migrate(linear, instance_ids=[second.id])  # moved already: nothing left on v1 among the chosen
    assert (again.migrated, again.skipped) == ([], [])


def test_a_reason_is_required_and_only_designers_may_migrate(linear, session) -> None:  # type: ignore[no-untyped-def]
    from engine.models import User
    from engine.services.demo import seed_demo

    _start(linear, "HD-M-11")
    deploy_text(linear, ADDED_STEP)
    with pytest.raises(ValidationError) as missing:
        migrate_instances(linear, "linear_review", 1, 2, actor=DESIGNER, reason="  ")
    assert missing.value.code == "reason_required"
    seed_demo(linear, actor=Actor("admin", "admin"))
    intake = session.execute(select(User).where(User.username == "cy_intake")).scalar_one()
    with pytest.raises(PermissionDeniedError):
        migrate_instances(linear, "linear_review", 1, 2, actor=Actor("cy_intake", "intake_officer", intake.id),
                          reason=REASON)
    designer = session.execute(select(User).where(User.username == "designer")).scalar_one()
    result = migrate_instances(linear, "linear_review", 1, 2, actor=Actor("designer", "process_designer",
                                                                          designer.id), reason=REASON)
    assert [i.business_key for i in result.migrated] == ["HD-M-11"]


def test_a_countersign_in_progress_keeps_each_instance_item(ctx) -> None:  # type: ignore[no-untyped-def]
    """Multi-instance: the open 会签 tasks are re-predicted but keep their unit; the opinions are collected."""
    from engine.persistence import load_workflow
    from tests.engine.test_audit import COUNTERSIGN

    deploy_text(ctx, COUNTERSIGN, "countersign.bpmn")
    instance = start_instance(ctx, "countersign", actor=REVIEWER, business_key="HD-M-MI",
                              data={"units": ["bank_a", "tax"]})
    [first, _] = list_open_tasks(ctx, instance_id=instance.id)
    complete_task(ctx, first.id, {"remark": "bank_a 同意"}, actor=REVIEWER)
    deploy_text(ctx, COUNTERSIGN.replace('name="会签"', 'name="会签（复核）"'), "countersign.bpmn")
    [item] = plan_migration(ctx, "countersign", 1, 2).items
    assert item.current == ("会签（进行中）", "会签（待办）")
    migrate_instances(ctx, "countersign", 1, 2, actor=DESIGNER, reason=REASON)
    ctx.session.expire_all()
    [left] = list_open_tasks(ctx, instance_id=instance.id)
    assert left.name == "会签（复核）" and load_workflow(ctx, instance).task_data(left.id)["unit"] == "tax"
    complete_task(ctx, left.id, {"remark": "tax 同意"}, actor=REVIEWER)
    ctx.session.expire_all()
    assert instance.status == InstanceStatus.COMPLETED
    assert load_workflow(ctx, instance).data["opinions"] == ["bank_a 同意", "tax 同意"]
    assert replay_instance(ctx, instance.id).consistent


# --- the event, verification and replay ---------------------------------------------------------------


def test_the_migrated_event_is_chained_verified_and_shown(linear, clock) -> None:  # type: ignore[no-untyped-def]
    instance = _start(linear, "HD-M-12")
    deploy_text(linear, ADDED_STEP)
    clock.advance(hours=2)
    _migrate(linear)
    event = _events(linear, instance)[-1]
    hashes = dict(linear.session.execute(select(ProcessDefinition.version, ProcessDefinition.content_hash)).all())
    assert event.kind == "migrated" and event.actor == "designer" and event.definition_hash == hashes[2]
    p = event.payload
    assert (p["from_version"], p["to_version"], p["from_hash"], p["to_hash"], p["reason"]) == (
        1, 2, hashes[1], hashes[2], REASON)
    assert [c["bpmn_id"] for c in p["diff"]["added"]] == ["legal_check"] and p["state_sha256"]
    assert verify_chain(linear.session, f"instance:{instance.id}") == []
    assert verify_instance(linear, instance.id) == [] and verify_all(linear).ok
    row = timeline(linear, instance.id)[-1]
    assert row.kind_name == "迁移到新版本" and row.definition_version == 2
    assert row.summary == f"迁移到新版本：第 1 版 → 第 2 版（原因：{REASON}）"
    result = replay_instance(linear, instance.id, steps=True)
    assert result.consistent and [s.kind for s in result.snapshots] == ["started", "migrated"]


def test_a_tampered_migrated_case_fails_replay_and_verification(linear, clock) -> None:  # type: ignore[no-untyped-def]
    instance = _start(linear, "HD-M-13")
    deploy_text(linear, ADDED_STEP)
    _migrate(linear)
    _do(linear, instance, "intake_check", {}, INTAKE)
    assert replay_instance(linear, instance.id).consistent
    # forge the state: back to 受理初审 under the new version, as if the migration had skipped legal_check
    _disable_guards(linear)
    forged = instance.state.replace('"legal_check"', '"review"')
    linear.session.execute(text("UPDATE workflow_instances SET state = :s WHERE id = :i"),
                           {"s": forged, "i": instance.id})
    linear.session.expire_all()
    assert not replay_instance(linear, instance.id).consistent
    assert [p.place for p in verify_instance(linear, instance.id)] == ["存储的流程状态"]


def test_a_re_pinned_case_without_a_migrated_event_is_still_reported(linear) -> None:  # type: ignore[no-untyped-def]
    instance = _start(linear, "HD-M-14")
    deploy_text(linear, ADDED_STEP)
    v2 = linear.session.execute(select(ProcessDefinition.id).where(ProcessDefinition.version == 2)).scalar_one()
    linear.session.execute(text("UPDATE workflow_instances SET definition_id = :d WHERE id = :i"),
                           {"d": v2, "i": instance.id})
    linear.session.expire_all()
    problems = verify_instance(linear, instance.id, locate=False)
    assert problems and all("流程版本" in p.problem for p in problems)


def test_a_forged_migration_source_is_a_replay_divergence(linear) -> None:  # type: ignore[no-untyped-def]
    instance = _start(linear, "HD-M-15")
    deploy_text(linear, ADDED_STEP)
    _migrate(linear)
    event = _events(linear, instance)[-1]
    _disable_guards(linear)
    payload = dict(event.payload, from_hash="f" * 64)
    linear.session.execute(text("UPDATE events SET payload = :p WHERE id = :i"),
                           {"p": json.dumps(payload, ensure_ascii=False), "i": event.id})
    linear.session.expire_all()
    result = replay_instance(linear, instance.id)
    assert not result.consistent and result.first_divergence.aspect == "definition"
    assert not verify_all(linear).ok


# --- timers -------------------------------------------------------------------------------------------


def test_a_waiting_boundary_timer_keeps_its_due_time(ctx, clock) -> None:  # type: ignore[no-untyped-def]
    """A relative timer ("P3D" from when the task opened) is not restarted by the migration a day later."""
    deploy_text(ctx, TIMER_DURATION_V1, "timer_boundary.bpmn")
    instance = start_instance(ctx, "timer_boundary", actor=CLERK, business_key="HD-M-T")
    [timer] = ctx.session.execute(select(Timer).where(Timer.instance_id == instance.id)).scalars().all()
    timer_id = timer.id
    assert timer.due_at == T0 + timedelta(days=3)
    deploy_text(ctx, TIMER_DURATION_V2, "timer_boundary.bpmn")
    clock.advance(days=1)
    result = migrate_instances(ctx, "timer_boundary", 1, 2, actor=DESIGNER, reason=REASON)
    ctx.session.expire_all()
    assert [i.business_key for i in result.migrated] == ["HD-M-T"]
    [after] = ctx.session.execute(select(Timer).where(Timer.instance_id == instance.id,
                                                      Timer.status == TimerStatus.PENDING)).scalars().all()
    assert (after.id, after.due_at) == (timer_id, T0 + timedelta(days=3))
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    assert task.name == "补正材料（含说明）"
    complete_task(ctx, task.id, {}, actor=CLERK)
    ctx.session.expire_all()
    [check] = list_open_tasks(ctx, instance_id=instance.id)
    assert check.bpmn_id == "check_materials"  # the step added by the new version
    assert replay_instance(ctx, instance.id).consistent


def test_a_changed_timer_is_computed_anew_at_the_migration(ctx, clock) -> None:  # type: ignore[no-untyped-def]
    deploy_text(ctx, TIMER_DURATION_V1, "timer_boundary.bpmn")
    instance = start_instance(ctx, "timer_boundary", actor=CLERK, business_key="HD-M-T3")
    deploy_text(ctx, TIMER_RETIMED_V2, "timer_boundary.bpmn")
    [item] = plan_migration(ctx, "timer_boundary", 1, 2).items
    assert item.compatible
    clock.advance(days=1)
    migrate_instances(ctx, "timer_boundary", 1, 2, actor=DESIGNER, reason=REASON)
    ctx.session.expire_all()
    [timer] = ctx.session.execute(select(Timer).where(Timer.instance_id == instance.id,
                                                      Timer.status == TimerStatus.PENDING)).scalars().all()
    assert timer.due_at == T0 + timedelta(days=6)  # migrated a day in, plus the new five days
    assert _events(ctx, instance)[-1].payload["retimed"] == ["materials_overdue"]
    assert replay_instance(ctx, instance.id).consistent


def test_a_migrated_timer_still_fires_and_replays(ctx, clock) -> None:  # type: ignore[no-untyped-def]
    deploy_text(ctx, TIMER_V1, "timer_boundary.bpmn")
    instance = start_instance(ctx, "timer_boundary", actor=CLERK, business_key="HD-M-T2",
                              data={"materials_due": (T0 + timedelta(days=3)).isoformat()})
    deploy_text(ctx, TIMER_ADDED_STEP, "timer_boundary.bpmn")
    migrate_instances(ctx, "timer_boundary", 1, 2, actor=DESIGNER, reason=REASON)
    ctx.session.expire_all()
    clock.advance(days=4)
    assert fire_due_timers(ctx) == 1
    ctx.session.expire_all()
    assert instance.status == InstanceStatus.COMPLETED
    result = replay_instance(ctx, instance.id)
    assert (result.consistent, result.steps) == (True, 3)
