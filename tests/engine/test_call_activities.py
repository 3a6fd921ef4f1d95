"""Call activities: a caller runs a second deployed process (diagrams: tests/engine/call_activity_factory.py).

Deploy bundles the called process's spec into the caller's definition and refuses, naming file, element
and line, a call to a process that is neither among the files nor deployed. A case runs through the
called process restored from its stored state at every step; the called process's user tasks get
inbox rows of their own lane's role in the case's unit and its separation-of-duties rule (SD-1); the
hash chain verifies and the audit replay matches (AU-1). Running cases move to a version whose called
process changed: before, inside (when its current step survives) and after the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy import update

from engine.audit import replay_instance
from engine.audit import verify_instance
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import DeploymentError
from engine.errors import SeparationOfDutiesError
from engine.history import verify_chain
from engine.models import Event
from engine.models import HumanTask
from engine.models import InstanceStatus
from engine.models import ProcessDefinition
from engine.models import Unit
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.runtime import BpmnRuntime
from engine.services.deploy import deploy_files
from engine.services.instance_migration import migrate_instances
from engine.services.instance_migration import plan_migration
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import list_tasks_for_user
from engine.services.instances import start_instance
from engine.services.org import grant_role
from engine.services.users import create_user
from tests.engine.call_activity_factory import ADMIN
from tests.engine.call_activity_factory import CALLED
from tests.engine.call_activity_factory import CALLED_ADDED_STEP
from tests.engine.call_activity_factory import CALLED_FILE
from tests.engine.call_activity_factory import CALLED_REMOVED_CONFIRM
from tests.engine.call_activity_factory import CALLER
from tests.engine.call_activity_factory import CALLER_FILE
from tests.engine.call_activity_factory import DESIGNER
from tests.engine.call_activity_factory import deploy_pair
from tests.engine.call_activity_factory import files
from tests.engine.call_activity_factory import seed_agency
from tests.engine.test_history import _disable_guards

REASON = "共享审核程序调整"


@dataclass
class World:
    ctx: EngineContext
    unit: Unit
    intake: Actor
    reviewers: tuple[Actor, Actor]


def _person(ctx: EngineContext, username: str, unit: Unit, role: str) -> Actor:
    user = create_user(ctx, username, f"{username}（测试）", "hedui-demo", actor=ADMIN)
    grant_role(ctx, user, unit, role, actor=ADMIN)
    return Actor(username, role, user.id)


@pytest.fixture
def world(ctx: EngineContext) -> World:
    unit = seed_agency(ctx)
    intake = _person(ctx, "li_intake_t", unit, "intake_officer")
    reviewers = (_person(ctx, "wang_review_t", unit, "review_officer"),
                 _person(ctx, "zhao_review_t", unit, "review_officer"))
    deploy_pair(ctx)
    return World(ctx, unit, intake, reviewers)


def _start(w: World, key: str) -> WorkflowInstance:
    return start_instance(w.ctx, "call_caller", actor=w.intake, business_key=key, agency_unit_id=w.unit.id,
                          region_code="220104")


def _open(ctx: EngineContext, instance: WorkflowInstance) -> list[HumanTask]:
    ctx.session.expire_all()
    return list_open_tasks(ctx, instance_id=instance.id)


def _actor_for(w: World, task: HumanTask) -> Actor:
    return w.intake if task.role_code == "intake_officer" else w.reviewers[task.bpmn_id == "confirm_data"]


def _step(w: World, instance: WorkflowInstance, expected: str) -> None:
    [task] = _open(w.ctx, instance)
    assert task.bpmn_id == expected
    complete_task(w.ctx, task.id, {"remark": f"{expected} 已办"}, actor=_actor_for(w, task))


def _fresh_runtime(ctx: EngineContext) -> None:
    """A new runtime without the workflow cache: the next command restores the case from its stored state."""
    runtime = BpmnRuntime(ctx.clock, script_time_limit=2.0)
    runtime.saved_limit = 0
    ctx.runtime = runtime


def _events(ctx: EngineContext, instance: WorkflowInstance, kind: str) -> list[Event]:
    return list(ctx.session.execute(select(Event).where(
        Event.stream == f"instance:{instance.id}", Event.kind == kind)).scalars())


# --- deploy --------------------------------------------------------------------------------------------------


def test_deploying_the_pair_bundles_the_called_process_into_the_caller(world: World) -> None:
    caller = world.ctx.session.execute(select(ProcessDefinition).where(
        ProcessDefinition.process_id == "call_caller")).scalar_one()
    assert sorted(f.filename for f in caller.files) == [CALLER_FILE, CALLED_FILE]
    tasks = {(t["process_id"], t["bpmn_id"], t["lane"]) for t in caller.task_catalogue["user_tasks"]}
    assert tasks == {("call_caller", "intake_check", "intake_officer"),
                     ("call_caller", "final_check", "intake_officer"),
                     ("shared_review", "check_data", "review_officer"),
                     ("shared_review", "confirm_data", "review_officer")}
    # the caller alone deploys against the called process's current version: nothing changed, no new version
    [again] = deploy_files(world.ctx, {CALLER_FILE: CALLER.encode()}, actor=DESIGNER)
    assert (again.version, again.created) == (1, False)


@pytest.mark.parametrize(("caller", "message"), [
    (CALLER, "调用活动「共享审核程序」调用的流程「shared_review」尚未部署，也不在本次部署的文件中"),
    (CALLER.replace(' calledElement="shared_review"', ""),
     "调用活动「共享审核程序」未指定被调用的流程（calledElement）"),
], ids=["not_deployed", "no_called_element"])
def test_a_call_to_a_process_neither_uploaded_nor_deployed_is_refused_at_the_call(ctx: EngineContext, caller: str,
                                                                                  message: str) -> None:
    with pytest.raises(DeploymentError) as refused:
        deploy_files(ctx, {CALLER_FILE: caller.encode()}, actor=DESIGNER)
    [problem] = refused.value.details["problems"]
    line = caller.splitlines().index(next(x for x in caller.splitlines() if 'id="call_shared"' in x)) + 1
    assert problem == {"file": CALLER_FILE, "message": message, "element_id": "call_shared", "line": line,
                       "code": "called_process_missing"}
    assert ctx.session.execute(select(ProcessDefinition)).first() is None


def test_a_user_task_id_used_by_caller_and_called_process_is_refused(ctx: EngineContext) -> None:
    """Task rows, SoD rules and names are keyed by BPMN id: one id for two tasks of a case would mix them."""
    clash = CALLED.replace('"check_data"', '"intake_check"').replace(">check_data<", ">intake_check<")
    with pytest.raises(DeploymentError) as refused:
        deploy_files(ctx, files(clash), actor=DESIGNER)
    problems = refused.value.details["problems"]
    assert {(p["file"], p["element_id"], p["code"]) for p in problems} == {
        (CALLED_FILE, "intake_check", "user_task_id_duplicate")}
    assert problems[0]["message"].startswith(
        "用户任务 ID「intake_check」在流程「call_caller」和被调用的流程「shared_review」中重复")


# --- running -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cached", [False, True], ids=["reload_every_step", "workflow_cache"])
def test_a_case_runs_through_the_called_process(world: World, cached: bool) -> None:
    ctx = world.ctx
    ctx.runtime.verify_dumps = cached  # the incremental dump must equal a full one with a subprocess in the tree
    instance = _start(world, "HD-CALL-1")
    for expected in ("intake_check", "check_data", "confirm_data", "final_check"):
        if cached:
            ctx.session.commit()  # hands the saved workflow to the cache: the next command takes it from there
        else:
            _fresh_runtime(ctx)
        if expected == "check_data":
            [task] = _open(ctx, instance)
            assert (task.role_code, task.unit_id, task.name) == ("review_officer", world.unit.id, "核对数据")
            inbox = list_tasks_for_user(ctx, world.reviewers[0].user_id or 0)
            assert [t.id for t in inbox] == [task.id]
            assert list_tasks_for_user(ctx, world.intake.user_id or 0) == []
        if expected == "confirm_data":
            [task] = _open(ctx, instance)
            with pytest.raises(SeparationOfDutiesError):  # SD-1 inside the called process
                complete_task(ctx, task.id, {}, actor=world.reviewers[0])
        _step(world, instance, expected)
    ctx.session.expire_all()
    done = ctx.session.get(WorkflowInstance, instance.id)
    assert done is not None and done.status == InstanceStatus.COMPLETED
    _fresh_runtime(ctx)
    wf = load_workflow(ctx, done)
    assert wf.data["review_round"] == 1  # set by the called process's script, back in the caller
    assert [(s.process_id, s.bpmn_id) for s in wf.trace() if s.bpmn_id in ("check_data", "call_shared")] == [
        ("shared_review", "check_data"), ("call_caller", "call_shared")]
    assert verify_chain(ctx.session, f"instance:{instance.id}") == []
    assert verify_instance(ctx, instance.id) == []
    replay = replay_instance(ctx, instance.id)
    assert replay.consistent, replay.first_divergence
    assert replay.steps == 5


# --- version migration ---------------------------------------------------------------------------------------

#: where each case is parked: (a) before the call, (b) inside it at each user task, (c) after it
PARKED = {"a": (), "b_check": ("intake_check",), "b_confirm": ("intake_check", "check_data"),
          "c": ("intake_check", "check_data", "confirm_data")}


def _park(w: World) -> dict[str, WorkflowInstance]:
    cases = {}
    for name, steps in PARKED.items():
        cases[name] = _start(w, f"HD-CALL-{name}")
        for step in steps:
            _step(w, cases[name], step)
    _fresh_runtime(w.ctx)
    return cases


def _finish(w: World, instance: WorkflowInstance) -> list[str]:
    """Complete whatever is open until the case ends, restoring it from storage each time; the steps done."""
    done = []
    while tasks := _open(w.ctx, instance):
        _fresh_runtime(w.ctx)
        done.append(tasks[0].bpmn_id)
        _step(w, instance, tasks[0].bpmn_id)
    w.ctx.session.expire_all()
    assert w.ctx.session.get(WorkflowInstance, instance.id).status == InstanceStatus.COMPLETED  # type: ignore[union-attr]
    return done


def _migrate(w: World) -> Any:
    result = migrate_instances(w.ctx, "call_caller", 1, 2, actor=DESIGNER, reason=REASON)
    w.ctx.session.expire_all()
    return result


def test_a_step_added_to_the_called_process_moves_every_case(world: World) -> None:
    cases = _park(world)
    deployed = deploy_pair(world.ctx, CALLED_ADDED_STEP)
    assert (deployed["call_caller"].version, deployed["shared_review"].version) == (2, 2)
    plan = plan_migration(world.ctx, "call_caller", 1, 2)
    assert [(i.business_key, i.compatible) for i in plan.items] == [(f"HD-CALL-{n}", True) for n in PARKED]
    assert plan.items[2].current == ("共享审核程序（进行中）", "复核数据（待办）")
    added = [(c.process_id, c.bpmn_id) for c in plan.changes if c.change == "added"]
    assert added == [("shared_review", "archive_note")]
    result = _migrate(world)
    assert [i.business_key for i in result.migrated] == [f"HD-CALL-{n}" for n in PARKED]
    target = world.ctx.session.execute(select(ProcessDefinition.id).where(
        ProcessDefinition.process_id == "call_caller", ProcessDefinition.version == 2)).scalar_one()
    expected = {"a": ["intake_check", "check_data", "confirm_data", "archive_note", "final_check"],
                "b_check": ["check_data", "confirm_data", "archive_note", "final_check"],
                "b_confirm": ["confirm_data", "archive_note", "final_check"],
                "c": ["final_check"]}  # the called process had finished: nothing of it runs again
    for name, instance in cases.items():
        assert world.ctx.session.get(WorkflowInstance, instance.id).definition_id == target  # type: ignore[union-attr]
        assert _finish(world, instance) == expected[name], name
        _assert_audited(world.ctx, instance)


def test_a_removed_user_task_of_the_called_process_blocks_only_the_cases_at_it(world: World) -> None:
    cases = _park(world)
    deploy_pair(world.ctx, CALLED_REMOVED_CONFIRM)
    plan = {i.business_key: i for i in plan_migration(world.ctx, "call_caller", 1, 2).items}
    assert plan["HD-CALL-b_confirm"].reasons == ("当前所在步骤「复核数据」（confirm_data）在新版本中已删除",)
    assert [k for k, i in plan.items() if i.compatible] == ["HD-CALL-a", "HD-CALL-b_check", "HD-CALL-c"]
    result = _migrate(world)
    assert [i.business_key for i in result.migrated] == ["HD-CALL-a", "HD-CALL-b_check", "HD-CALL-c"]
    assert [i.business_key for i in result.skipped] == ["HD-CALL-b_confirm"] and result.failed == []
    expected = {"a": ["intake_check", "check_data", "final_check"], "b_check": ["check_data", "final_check"],
                "c": ["final_check"], "b_confirm": ["confirm_data", "final_check"]}  # b_confirm: still on v1
    for name, instance in cases.items():
        assert _finish(world, instance) == expected[name], name
        _assert_audited(world.ctx, instance, migrated=name != "b_confirm")


def test_a_finished_called_process_whose_step_was_removed_is_history_not_a_blocker(world: World) -> None:
    """Case (c): the called process's tree is dropped from the state; its data and event log stay."""
    cases = _park(world)
    deploy_pair(world.ctx, CALLED_REMOVED_CONFIRM)
    # the plan says so before anything moves; cases still inside the called process drop nothing
    notes = {i.business_key: i.notes for i in plan_migration(world.ctx, "call_caller", 1, 2).items}
    assert notes["HD-CALL-c"] == ("已办结的「共享审核程序」在新版本中有步骤被删除：迁移后其各步骤不再保存在流程状态中"
                                  "（办理结果仍在案件数据中，办理记录仍在事件日志中）",)
    assert notes["HD-CALL-a"] == notes["HD-CALL-b_check"] == ()
    _migrate(world)
    instance = cases["c"]
    [migrated] = _events(world.ctx, instance, "migrated")
    assert migrated.payload["dropped"] == ["共享审核程序"]
    wf = load_workflow(world.ctx, world.ctx.session.get(WorkflowInstance, instance.id))  # type: ignore[arg-type]
    assert wf.data.get("review_round") is None  # process data is set when the process ends; the task keeps it
    assert [t.bpmn_id for t in wf.ready_human_tasks()] == ["final_check"]
    assert wf.task_data(wf.ready_human_tasks()[0].task_id)["review_round"] == 1
    assert not {"check_data", "confirm_data"} & {s.bpmn_id for s in wf.trace()}
    assert [e.bpmn_id for e in _events(world.ctx, instance, "task_completed")] == [
        "intake_check", "check_data", "confirm_data"]


def _assert_audited(ctx: EngineContext, instance: WorkflowInstance, *, migrated: bool = True) -> None:
    assert len(_events(ctx, instance, "migrated")) == (1 if migrated else 0)
    assert verify_chain(ctx.session, f"instance:{instance.id}") == []
    assert verify_instance(ctx, instance.id) == []
    replay = replay_instance(ctx, instance.id)
    assert replay.consistent, (instance.business_key, replay.first_divergence)


def test_replay_of_a_migrated_case_still_catches_a_forged_step(world: World) -> None:
    """The replay of a migrated call-activity case is a real check: a recorded input changed afterwards diverges."""
    instance = _park(world)["b_confirm"]
    deploy_pair(world.ctx, CALLED_ADDED_STEP)
    _migrate(world)
    _finish(world, instance)
    [*_, confirm] = [e for e in _events(world.ctx, instance, "task_completed") if e.bpmn_id == "confirm_data"]
    _disable_guards(world.ctx)
    world.ctx.session.execute(update(Event).where(Event.id == confirm.id).values(  # around the ORM's refusal
        payload={**confirm.payload, "data": {"remark": "复核数据 已办", "verdict": "伪造"}}))
    world.ctx.session.expire_all()
    replay = replay_instance(world.ctx, instance.id)
    assert not replay.consistent and replay.first_divergence is not None
    assert (replay.first_divergence.aspect, replay.first_divergence.path) == ("data", "data/verdict")
