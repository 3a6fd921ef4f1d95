"""The call graph at deploy, and separation of duties across the call boundary (diagrams: call_activity_factory).

A process calling itself, directly or through others, is refused at the call activity (``call_cycle``), even
behind a gateway; a diamond of calls is no cycle. A ``sodNotSameAs`` rule may name any user task of the
case — the caller's or a called process's — and the runtime enforces it across the boundary (SD-1).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.assignment import reassign_candidates
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import DeploymentError
from engine.errors import SeparationOfDutiesError
from engine.models import Event
from engine.models import HumanTask
from engine.models import ProcessDefinition
from engine.models import Unit
from engine.models import User
from engine.services.deploy import deploy_files
from engine.services.instances import claim_task
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from engine.services.org import grant_role
from engine.services.users import create_user
from tests.engine.call_activity_factory import _HEAD
from tests.engine.call_activity_factory import ADMIN
from tests.engine.call_activity_factory import CALLED
from tests.engine.call_activity_factory import CALLED_FILE
from tests.engine.call_activity_factory import CALLER
from tests.engine.call_activity_factory import CALLER_FILE
from tests.engine.call_activity_factory import DESIGNER
from tests.engine.call_activity_factory import _edit
from tests.engine.call_activity_factory import _user_task
from tests.engine.call_activity_factory import files
from tests.engine.call_activity_factory import seed_agency
from web.errors import status_for
from web.inbox.queries import Viewer
from web.inbox.queries import count_tabs

NOT_REPETITION = "；流程不能直接或间接调用自身（有网关条件也不行），重复办理请在流程内用回连的顺序流表达"


def _calls_back(target: str) -> str:
    """``shared_review`` calling ``target`` again when ``review_round > 1`` (a guarded call: still a cycle)."""
    return _edit(
        CALLED,
        ("<bpmn:incoming>s1</bpmn:incoming><bpmn:outgoing>s2</bpmn:outgoing>",
         "<bpmn:incoming>s1</bpmn:incoming><bpmn:outgoing>g_in</bpmn:outgoing>"),
        ('<bpmn:sequenceFlow id="s2" sourceRef="prepare" targetRef="check_data" />',
         f"""<bpmn:exclusiveGateway id="again_gw" default="s2"><bpmn:incoming>g_in</bpmn:incoming>
    <bpmn:outgoing>s2</bpmn:outgoing><bpmn:outgoing>g_again</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:callActivity id="call_again" name="再次审核" calledElement="{target}">
      <bpmn:incoming>g_again</bpmn:incoming><bpmn:outgoing>g_back</bpmn:outgoing></bpmn:callActivity>
    <bpmn:sequenceFlow id="g_in" sourceRef="prepare" targetRef="again_gw" />
    <bpmn:sequenceFlow id="s2" sourceRef="again_gw" targetRef="check_data" />
    <bpmn:sequenceFlow id="g_again" sourceRef="again_gw" targetRef="call_again">
      <bpmn:conditionExpression>review_round &gt; 1</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="g_back" sourceRef="call_again" targetRef="check_data" />"""),
    )


def _line(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if marker in line)


def _refused(ctx: EngineContext, bundle: dict[str, bytes]) -> list[dict[str, object]]:
    with pytest.raises(DeploymentError) as refused:
        deploy_files(ctx, bundle, actor=DESIGNER)
    return list(refused.value.details["problems"])


# --- cycles --------------------------------------------------------------------------------------------------


def test_a_process_calling_itself_behind_a_gateway_is_refused_at_the_call(ctx: EngineContext) -> None:
    recursive = _calls_back("shared_review")
    assert _refused(ctx, files(recursive)) == [{
        "file": CALLED_FILE, "element_id": "call_again", "line": _line(recursive, 'id="call_again"'),
        "code": "call_cycle",
        "message": "调用活动「再次审核」形成循环调用：shared_review → shared_review" + NOT_REPETITION}]
    assert ctx.session.execute(select(ProcessDefinition)).first() is None


def test_a_cycle_through_another_process_is_refused_at_the_first_uploaded_process(ctx: EngineContext) -> None:
    assert _refused(ctx, files(_calls_back("call_caller"))) == [{
        "file": CALLER_FILE, "element_id": "call_shared", "line": _line(CALLER, 'id="call_shared"'),
        "code": "call_cycle",
        "message": "调用活动「共享审核程序」形成循环调用：call_caller → shared_review → call_caller" + NOT_REPETITION}]
    assert ctx.session.execute(select(ProcessDefinition)).first() is None


def test_a_cycle_closed_through_a_deployed_caller_is_refused(ctx: EngineContext) -> None:
    """Only the called process is uploaded: deploy adds the deployed caller it now calls, and sees the cycle."""
    deploy_files(ctx, files(), actor=DESIGNER)
    back = _calls_back("call_caller")
    assert _refused(ctx, {CALLED_FILE: back.encode()}) == [{
        "file": CALLED_FILE, "element_id": "call_again", "line": _line(back, 'id="call_again"'),
        "code": "call_cycle",
        "message": "调用活动「再次审核」形成循环调用：shared_review → call_caller → shared_review" + NOT_REPETITION}]
    versions = ctx.session.execute(select(ProcessDefinition.process_id, ProcessDefinition.version)).all()
    assert sorted(versions) == [("call_caller", 1), ("shared_review", 1)]


def _sequence(pid: str, called: tuple[str, ...] = (), task: str | None = None, extra: str = "") -> str:
    """``pid``: start → a call activity per ``called`` → the user task ``task`` (review_officer) → end."""
    ids = [f"{pid}_start", *(f"{pid}_calls_{c}" for c in called), *([task] if task else []), f"{pid}_end"]
    flows = [f"{pid}_f{i}" for i in range(len(ids) - 1)]
    body = [f'<bpmn:startEvent id="{ids[0]}"><bpmn:outgoing>{flows[0]}</bpmn:outgoing></bpmn:startEvent>']
    body += [f'<bpmn:callActivity id="{ids[i]}" name="调用 {c}" calledElement="{c}"><bpmn:incoming>{flows[i - 1]}'
             f'</bpmn:incoming><bpmn:outgoing>{flows[i]}</bpmn:outgoing></bpmn:callActivity>'
             for i, c in enumerate(called, 1)]
    lanes = ""
    if task:
        body.append(_user_task(task, "核对", flows[-2], flows[-1], extra))
        lanes = (f'<bpmn:laneSet id="{pid}_lanes"><bpmn:lane id="{pid}_lane" name="review_officer">'
                 f'<bpmn:flowNodeRef>{task}</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>')
    body.append(f'<bpmn:endEvent id="{ids[-1]}"><bpmn:incoming>{flows[-1]}</bpmn:incoming></bpmn:endEvent>')
    body += [f'<bpmn:sequenceFlow id="{f}" sourceRef="{a}" targetRef="{b}" />'
             for f, a, b in zip(flows, ids, ids[1:], strict=False)]
    return (_HEAD.format(pid=pid) + f'<bpmn:process id="{pid}" name="测试：{pid}" isExecutable="true">{lanes}\n'
            + "\n".join(body) + "\n</bpmn:process>\n</bpmn:definitions>\n")


def test_a_diamond_of_calls_is_no_cycle(ctx: EngineContext) -> None:
    """A calls B and C, B calls C: C runs twice in one case, nothing calls itself."""
    bundle = {"diamond_a.bpmn": _sequence("diamond_a", ("diamond_b", "diamond_c")),
              "diamond_b.bpmn": _sequence("diamond_b", ("diamond_c",)),
              "diamond_c.bpmn": _sequence("diamond_c", task="diamond_check")}
    deployed = deploy_files(ctx, {n: t.encode() for n, t in bundle.items()}, actor=DESIGNER)
    assert sorted((d.process_id, d.version) for d in deployed) == [("diamond_a", 1), ("diamond_b", 1),
                                                                   ("diamond_c", 1)]
    top = ctx.session.execute(select(ProcessDefinition).where(ProcessDefinition.process_id == "diamond_a")).scalar_one()
    assert sorted(f.filename for f in top.files) == sorted(bundle)


def test_a_caller_reaches_every_process_at_its_current_version(ctx: EngineContext) -> None:
    """A deployed middle process bundled an older copy of the process it calls: a caller deployed now takes the
    callee's current version, not that copy (and the same one whatever order the database returns rows in)."""
    leaf_v1 = _sequence("chain_leaf", task="leaf_check")
    leaf_v2 = _sequence("chain_leaf", task="leaf_check_v2")
    for name, text in (("chain_leaf.bpmn", leaf_v1), ("chain_mid.bpmn", _sequence("chain_mid", ("chain_leaf",))),
                       ("chain_leaf.bpmn", leaf_v2)):
        deploy_files(ctx, {name: text.encode()}, actor=DESIGNER)
    # the top calls the middle one (which bundled leaf v1) and the leaf directly
    [top] = deploy_files(ctx, {"chain_top.bpmn": _sequence("chain_top", ("chain_mid", "chain_leaf")).encode()},
                         actor=DESIGNER)
    stored = ctx.session.execute(select(ProcessDefinition).where(ProcessDefinition.content_hash == top.content_hash)
                                 ).scalar_one()
    files = {f.filename: f.content for f in stored.files}
    assert sorted(files) == ["chain_leaf.bpmn", "chain_mid.bpmn", "chain_top.bpmn"]
    assert files["chain_leaf.bpmn"] == leaf_v2
    assert {t["bpmn_id"] for t in stored.task_catalogue["user_tasks"]} == {"leaf_check_v2"}
    # through the middle one alone as well
    [mid_only] = deploy_files(ctx, {"chain_top2.bpmn": _sequence("chain_top2", ("chain_mid",)).encode()},
                              actor=DESIGNER)
    stored = ctx.session.execute(select(ProcessDefinition).where(
        ProcessDefinition.content_hash == mid_only.content_hash)).scalar_one()
    assert {f.filename: f.content for f in stored.files}["chain_leaf.bpmn"] == leaf_v2


# --- separation of duties across the call boundary -----------------------------------------------------------


def _sod(ref: str) -> str:
    return (f'<spiffworkflow:property name="sodNotSameAs" value="{ref}" />'
            '<spiffworkflow:property name="sodRule" value="SD-1" />')


def _called_naming(ref: str) -> str:
    """``shared_review`` whose 核对数据 may not be done by whoever did ``ref``."""
    return _edit(CALLED, (_user_task("check_data", "核对数据", "s2", "s3"),
                          _user_task("check_data", "核对数据", "s2", "s3", _sod(ref))))


CALLED_NAMING_INTAKE = _called_naming("intake_check")
CALLER_NAMING_CHECK = _edit(CALLER, (_user_task("final_check", "最终确认", "c3", "c4"),
                                     _user_task("final_check", "最终确认", "c3", "c4", _sod("check_data"))))
UNKNOWN = "不相容规则引用的任务「{}」在本流程中不存在"


@pytest.mark.parametrize("bundle", [files(CALLED_NAMING_INTAKE), files(caller=CALLER_NAMING_CHECK)],
                         ids=["called_names_caller", "caller_names_called"])
def test_a_rule_may_name_a_user_task_on_the_other_side_of_the_call(ctx: EngineContext,
                                                                   bundle: dict[str, bytes]) -> None:
    assert {d.process_id for d in deploy_files(ctx, bundle, actor=DESIGNER)} == {"call_caller", "shared_review"}


def test_a_rule_naming_a_task_outside_the_case_is_refused(ctx: EngineContext) -> None:
    """A process of the bundle that neither calls nor is called by the caller is not part of its cases."""
    lone = _sequence("lone_review", task="lone_check", extra=_sod("intake_check"))
    bundle = {**files(_called_naming("no_such_task")), "lone_review.bpmn": lone.encode()}
    problems = _refused(ctx, bundle)
    assert [(p["file"], p["element_id"], p["code"], p["message"]) for p in problems] == [
        (CALLED_FILE, "check_data", "sod_reference_unknown", UNKNOWN.format("no_such_task")),
        ("lone_review.bpmn", "lone_check", "sod_reference_unknown", UNKNOWN.format("intake_check"))]


def test_a_called_process_deployed_alone_may_name_its_deployed_callers_tasks(ctx: EngineContext) -> None:
    deploy_files(ctx, files(), actor=DESIGNER)
    [alone] = deploy_files(ctx, {CALLED_FILE: CALLED_NAMING_INTAKE.encode()}, actor=DESIGNER)
    assert (alone.process_id, alone.version) == ("shared_review", 2)
    [problem] = _refused(ctx, {CALLED_FILE: _called_naming("final_chek").encode()})
    assert (problem["element_id"], problem["code"]) == ("check_data", "sod_reference_unknown")


def _person(ctx: EngineContext, username: str, unit: Unit, *roles: str) -> User:
    user = create_user(ctx, username, f"{username}（测试）", "hedui-demo", actor=ADMIN)
    for role in roles:
        grant_role(ctx, user, unit, role, actor=ADMIN)
    return user


def test_whoever_did_the_callers_task_may_not_do_the_called_task_naming_it(ctx: EngineContext) -> None:
    """SD-1 across the boundary: X did 受理初审 in the caller and holds the review role too."""
    unit = seed_agency(ctx)
    x = _person(ctx, "sun_both_t", unit, "intake_officer", "review_officer")
    other = _person(ctx, "zhou_review_t", unit, "review_officer")
    deploy_files(ctx, files(CALLED_NAMING_INTAKE), actor=DESIGNER)
    instance = start_instance(ctx, "call_caller", actor=Actor(x.username, "intake_officer", x.id),
                              business_key="HD-CALL-SOD", agency_unit_id=unit.id, region_code="220104")
    [intake] = list_open_tasks(ctx, instance_id=instance.id)
    complete_task(ctx, intake.id, {}, actor=Actor(x.username, "intake_officer", x.id))
    [check] = list_open_tasks(ctx, instance_id=instance.id)
    assert (check.bpmn_id, check.role_code) == ("check_data", "review_officer")
    x_reviewing = Actor(x.username, "review_officer", x.id)
    for run in (lambda: claim_task(ctx, check.id, actor=x_reviewing),
                lambda: complete_task(ctx, check.id, {}, actor=x_reviewing)):
        with pytest.raises(SeparationOfDutiesError) as refused:
            run()
        assert status_for(refused.value) == 403
        assert refused.value.details == {"rule": "SD-1", "conflicting_task": "intake_check"}
        assert "您已办理本案的「受理初审」" in refused.value.message
    refusals = ctx.session.execute(select(Event).where(Event.kind == "refused")).scalars().all()
    assert [(e.actor, e.payload["action"], e.payload["rule"]) for e in refusals] == [
        (x.username, "claim", "SD-1"), (x.username, "complete", "SD-1")]
    assert [u.username for u in reassign_candidates(ctx, check)] == [other.username]
    claimable = {u.username: count_tabs(ctx, Viewer(u.id, u.username, ctx.now()))["claimable"] for u in (x, other)}
    assert claimable == {x.username: 0, other.username: 1}
    complete_task(ctx, check.id, {}, actor=Actor(other.username, "review_officer", other.id))
    assert ctx.session.get(HumanTask, check.id).completed_by == other.username  # type: ignore[union-attr]
    assert [t.bpmn_id for t in list_open_tasks(ctx, instance_id=instance.id)] == ["confirm_data"]
