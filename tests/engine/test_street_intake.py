"""Every path of ``bpmn/street_intake.bpmn`` through the engine services (PS-4, BJ 第十六条).

受理申请 → 材料初审 → 出具委托书 (报送县级核对机构), or: 材料不全 → 告知限期补齐 (working-day
deadline from the policy profile) → 期限内补齐 → 重新初审, or 逾期未补齐 → 视为撤回. Every
command reloads what was saved; the next command reads only what was saved.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import FormValidationError
from engine.errors import HeduiError
from engine.errors import InvalidStateError
from engine.history import verify_chain
from engine.models import Event
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import InstanceStatus
from engine.models import OutboxMessage
from engine.models import Timer
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.policy import effective_policy
from engine.policy import set_override
from engine.services.deploy import deploy_files
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from engine.services.timers import fire_due_timers

BPMN_DIR = Path(__file__).parents[2] / "bpmn"
BPMN = BPMN_DIR / "street_intake.bpmn"
PROCESS = "street_intake"
APPLICATION = "HQ-SQ-2026-0007"
SHANGHAI = ZoneInfo("Asia/Shanghai")

DESIGNER = Actor("designer", "process_designer")
CLERK = Actor("zhou_clerk", "street_clerk")
ADMIN = Actor("admin", "admin")

APPLICATION_FORM = {"business_type": "dibao", "submitted_by": "applicant", "household_id": 17,
                    "authorisation_guided": True}
COMPLETE = {"decision": "complete", "authorisation_complete": True, "originals_captured": True}
INCOMPLETE = {"decision": "incomplete", "missing_items": ["户口本原件", "赡养义务人签字"]}
ENTRUSTMENT = {"entrustment_no": "红民委〔2026〕12号", "person_count": 3}
HEAD = ["start", "apply_defaults", "record_application", "check_materials", "gw_materials"]
ENTRUSTED = ["issue_entrustment", "send_entrustment", "end_entrusted"]


def _eod(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 23, 59, 59, 999999, tzinfo=SHANGHAI)


def _at(year: int, month: int, day: int, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


@pytest.fixture
def deployed(ctx: EngineContext) -> EngineContext:
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    deploy_files(ctx, {BPMN.name: BPMN.read_bytes()}, actor=DESIGNER)
    return ctx


# --- helpers: every command is followed by expire_all(), so the next one reads what was saved ------


def _start(ctx: EngineContext, profile: str = "baoji", **data: Any) -> WorkflowInstance:
    payload = {"application_no": APPLICATION, **effective_policy(ctx, profile).street_intake_data(), **data}
    instance = start_instance(ctx, PROCESS, actor=CLERK, business_key=APPLICATION, data=payload)
    ctx.session.expire_all()
    return instance


def _open(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    return sorted(t.bpmn_id for t in list_open_tasks(ctx, instance_id=instance.id))


def _task(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str) -> HumanTask:
    [task] = [t for t in list_open_tasks(ctx, instance_id=instance.id) if t.bpmn_id == bpmn_id]
    return task


def _do(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str, data: dict[str, Any]) -> None:
    complete_task(ctx, _task(ctx, instance, bpmn_id).id, data, actor=CLERK)
    ctx.session.expire_all()


def _fire(ctx: EngineContext) -> int:
    fired = fire_due_timers(ctx)
    ctx.session.expire_all()
    return fired


def _outbox(ctx: EngineContext, instance: WorkflowInstance) -> list[tuple[str, Any]]:
    rows = ctx.session.execute(
        select(OutboxMessage).where(OutboxMessage.instance_id == instance.id).order_by(OutboxMessage.id)
    ).scalars()
    return [(r.message_name, r.payload) for r in rows]


def _timers(ctx: EngineContext, instance: WorkflowInstance) -> list[tuple[str, datetime, str]]:
    rows = ctx.session.execute(select(Timer).where(Timer.instance_id == instance.id)).scalars()
    return sorted((r.bpmn_id, r.due_at, r.status.value) for r in rows)


def _path(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    """The steps completed, in order (cancelled ones — a boundary timer, an interrupted task — left out)."""
    return [s.bpmn_id for s in load_workflow(ctx, instance).trace() if s.state == "COMPLETED"]


def _cancelled(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    return sorted(s.bpmn_id for s in load_workflow(ctx, instance).trace() if s.state == "CANCELLED")


def _kinds(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    return list(ctx.session.execute(
        select(Event.kind).where(Event.instance_id == instance.id).order_by(Event.seq)).scalars())


def _to_check(ctx: EngineContext, profile: str = "baoji", **data: Any) -> WorkflowInstance:
    instance = _start(ctx, profile, **data)
    _do(ctx, instance, "record_application", APPLICATION_FORM)
    return instance


def _notice(instance_due: datetime, round_: int = 1) -> tuple[str, dict[str, Any]]:
    return ("material_notice", {"application_no": APPLICATION, "missing_items": INCOMPLETE["missing_items"],
                                "material_due": instance_due.isoformat(), "round": round_})


# --- complete at once --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["jilin", "baoji"])
def test_complete_materials_issue_the_entrustment(deployed: EngineContext, clock: Any, profile: str) -> None:
    ctx = deployed
    instance = _start(ctx, profile)
    assert _open(ctx, instance) == ["record_application"]
    task = _task(ctx, instance, "record_application")
    assert (task.role_code, task.form_key, task.due_at) == ("street_clerk", "street_application", _eod(2026, 11, 24))
    assert load_workflow(ctx, instance).task_data(task.id)["material_days"] == 5

    clock.advance(hours=1)
    _do(ctx, instance, "record_application", APPLICATION_FORM)
    check = _task(ctx, instance, "check_materials")
    assert (check.form_key, check.due_at) == ("street_material_check", _eod(2026, 11, 26))
    _do(ctx, instance, "check_materials", COMPLETE)
    assert _open(ctx, instance) == ["issue_entrustment"]
    assert _outbox(ctx, instance) == []  # nothing goes to the county before the letter exists
    _do(ctx, instance, "issue_entrustment", ENTRUSTMENT)

    assert instance.status == InstanceStatus.COMPLETED and _open(ctx, instance) == []
    assert _outbox(ctx, instance) == [("entrustment", {
        "application_no": APPLICATION, "entrustment_no": "红民委〔2026〕12号", "household_id": 17,
        "business_type": "dibao", "person_count": 3})]
    assert _path(ctx, instance) == HEAD + ENTRUSTED
    assert _timers(ctx, instance) == []
    assert _kinds(ctx, instance) == ["started"] + ["task_completed"] * 3
    assert verify_chain(ctx.session) == []


def test_forms_refuse_what_the_rules_forbid(deployed: EngineContext) -> None:
    ctx = deployed
    instance = _start(ctx)
    task_id = _task(ctx, instance, "record_application").id
    with pytest.raises(FormValidationError) as info:  # PR-1: 先授权，后核对
        complete_task(ctx, task_id, {**APPLICATION_FORM, "authorisation_guided": False}, actor=CLERK)
    assert set(info.value.details["fields"]) == {"authorisation_guided"}
    with pytest.raises(FormValidationError) as info:
        complete_task(ctx, task_id, {**APPLICATION_FORM, "business_type": "eligibility"}, actor=CLERK)
    assert set(info.value.details["fields"]) == {"business_type"}
    ctx.session.expire_all()
    _do(ctx, instance, "record_application", APPLICATION_FORM)

    task_id = _task(ctx, instance, "check_materials").id
    with pytest.raises(FormValidationError) as info:  # a 委托书 needs a complete authorisation and the originals
        complete_task(ctx, task_id, {"decision": "complete"}, actor=CLERK)
    assert set(info.value.details["fields"]) == {"authorisation_complete", "originals_captured"}
    with pytest.raises(FormValidationError) as info:  # incomplete: say what is missing, once
        complete_task(ctx, task_id, {"decision": "incomplete", "missing_items": ["  "]}, actor=CLERK)
    assert set(info.value.details["fields"]) == {"missing_items"}
    ctx.session.expire_all()
    assert _open(ctx, instance) == ["check_materials"]


def test_a_village_committee_may_submit_on_the_applicants_behalf(deployed: EngineContext) -> None:
    """OR-4 (BJ 第八条、第十六条): the application records who submitted it; only the two ways exist."""
    ctx = deployed
    instance = _start(ctx)
    task_id = _task(ctx, instance, "record_application").id
    with pytest.raises(FormValidationError) as info:
        complete_task(ctx, task_id, {**APPLICATION_FORM, "submitted_by": "neighbour"}, actor=CLERK)
    assert info.value.details["fields"] == {"submitted_by": ["请选择申请提交方式"]}
    ctx.session.expire_all()
    _do(ctx, instance, "record_application", {**APPLICATION_FORM, "submitted_by": "village_committee"})
    [payload] = ctx.session.execute(select(Event.payload).where(
        Event.instance_id == instance.id, Event.kind == "task_completed")).scalars().all()
    assert payload["data"]["submitted_by"] == "village_committee"
    assert load_workflow(ctx, instance).variable("submitted_by") == "village_committee"


# --- incomplete materials ----------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["jilin", "baoji"])
def test_completed_in_time_goes_back_to_the_check(deployed: EngineContext, clock: Any, profile: str) -> None:
    ctx = deployed
    instance = _to_check(ctx, profile)
    _do(ctx, instance, "check_materials", INCOMPLETE)
    # 5 working days after Mon 23 Nov: 24, 25, 26, 27, 30
    assert _outbox(ctx, instance) == [_notice(_eod(2026, 11, 30))]
    assert _open(ctx, instance) == ["receive_supplement"]
    assert _timers(ctx, instance) == [("materials_overdue", _eod(2026, 11, 30), "pending")]
    assert _task(ctx, instance, "receive_supplement").due_at is None  # the timer is the deadline

    clock.set(_at(2026, 11, 30, 23, 59))  # the last evening: not yet
    assert _fire(ctx) == 0
    _do(ctx, instance, "receive_supplement", {"supplemented_items": ["户口本原件", "赡养义务人签字"]})
    assert _timers(ctx, instance) == [("materials_overdue", _eod(2026, 11, 30), "cancelled")]
    assert _open(ctx, instance) == ["check_materials"]
    _do(ctx, instance, "check_materials", COMPLETE)
    _do(ctx, instance, "issue_entrustment", ENTRUSTMENT)

    assert instance.status == InstanceStatus.COMPLETED
    assert _path(ctx, instance) == HEAD + ["set_material_due", "notify_applicant", "receive_supplement",
                                           "check_materials", "gw_materials"] + ENTRUSTED
    assert _cancelled(ctx, instance) == ["materials_overdue"]
    assert [name for name, _ in _outbox(ctx, instance)] == ["material_notice", "entrustment"]


def test_not_completed_in_time_counts_as_withdrawal(deployed: EngineContext, clock: Any) -> None:
    ctx = deployed
    instance = _to_check(ctx)
    _do(ctx, instance, "check_materials", INCOMPLETE)
    late_task = _task(ctx, instance, "receive_supplement").id

    clock.set(_at(2026, 12, 1, 0, 0, 1))
    assert _fire(ctx) == 1
    assert instance.status == InstanceStatus.COMPLETED and _open(ctx, instance) == []
    assert _path(ctx, instance) == HEAD + ["set_material_due", "notify_applicant", "materials_overdue",
                                           "end_withdrawn"]
    assert _cancelled(ctx, instance) == ["receive_supplement"]
    assert _timers(ctx, instance) == [("materials_overdue", _eod(2026, 11, 30), "fired")]
    assert ctx.session.get(HumanTask, late_task).status == HumanTaskStatus.CANCELLED
    with pytest.raises(InvalidStateError):  # too late: the application counts as withdrawn
        complete_task(ctx, late_task, {"supplemented_items": ["户口本原件"]}, actor=CLERK)
    assert [name for name, _ in _outbox(ctx, instance)] == ["material_notice"]  # no 委托书
    [event] = ctx.session.execute(
        select(Event).where(Event.instance_id == instance.id, Event.kind == "timer_fired")).scalars()
    assert (event.bpmn_id, event.actor) == ("materials_overdue", "job:timers")


def test_every_round_gets_its_own_deadline(deployed: EngineContext, clock: Any) -> None:
    ctx = deployed
    instance = _to_check(ctx)
    _do(ctx, instance, "check_materials", INCOMPLETE)
    clock.set(_at(2026, 11, 27, 10))
    _do(ctx, instance, "receive_supplement", {"supplemented_items": ["户口本原件"]})
    _do(ctx, instance, "check_materials", INCOMPLETE)  # still missing a signature
    # the second notice counts from Fri 27 Nov: 30 Nov, 1, 2, 3, 4 Dec
    assert _outbox(ctx, instance) == [_notice(_eod(2026, 11, 30)), _notice(_eod(2026, 12, 4), 2)]
    assert _timers(ctx, instance) == [("materials_overdue", _eod(2026, 11, 30), "cancelled"),
                                      ("materials_overdue", _eod(2026, 12, 4), "pending")]
    clock.set(_at(2026, 12, 1, 9))  # past the first deadline, within the second
    assert _fire(ctx) == 0
    clock.set(_at(2026, 12, 5, 9))
    assert _fire(ctx) == 1
    assert _path(ctx, instance)[-2:] == ["materials_overdue", "end_withdrawn"]


def test_deadline_across_national_day_counts_the_makeup_saturday(deployed: EngineContext, clock: Any) -> None:
    ctx = deployed
    clock.set(_at(2026, 9, 28, 9))
    instance = _to_check(ctx)
    _do(ctx, instance, "check_materials", INCOMPLETE)
    # Sep 29, 30, (Oct 1–7 国庆), Oct 8, 9, 10 (Sat, 调休上班)
    assert _timers(ctx, instance) == [("materials_overdue", _eod(2026, 10, 10), "pending")]


def test_an_administrator_override_changes_the_deadline(deployed: EngineContext) -> None:
    ctx = deployed
    set_override(ctx, "material_completion_days", 3, actor=ADMIN)
    instance = _to_check(ctx, "jilin")
    _do(ctx, instance, "check_materials", INCOMPLETE)
    assert _timers(ctx, instance) == [("materials_overdue", _eod(2026, 11, 26), "pending")]


def test_without_policy_data_the_diagram_defaults_to_five_working_days(deployed: EngineContext) -> None:
    ctx = deployed
    instance = start_instance(ctx, PROCESS, actor=CLERK, business_key=APPLICATION,
                              data={"application_no": APPLICATION})
    ctx.session.expire_all()
    _do(ctx, instance, "record_application", APPLICATION_FORM)
    _do(ctx, instance, "check_materials", INCOMPLETE)
    assert _timers(ctx, instance) == [("materials_overdue", _eod(2026, 11, 30), "pending")]


@pytest.mark.parametrize(("data", "message"), [
    ({"application_no": ""}, "application_no"),
    ({"material_days": 0}, "material_days"),
    ({"material_days": "5"}, "material_days"),
    ({"material_days": True}, "material_days"),
])
def test_invalid_start_data_is_refused(deployed: EngineContext, data: dict[str, Any], message: str) -> None:
    with pytest.raises(HeduiError) as info:
        _start(deployed, **data)
    assert info.value.details["bpmn_id"] == "apply_defaults" and message in info.value.message


# --- the diagram itself ----------------------------------------------------------------------------


_NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
       "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
       "dc": "http://www.omg.org/spec/DD/20100524/DC",
       "di": "http://www.omg.org/spec/DD/20100524/DI"}
_NOT_NODES = {"laneSet", "lane", "sequenceFlow", "documentation", "extensionElements", "incoming", "outgoing",
              "flowNodeRef", "property"}
Box = tuple[float, float, float, float]


def _box(shape: Any) -> Box:
    b = shape.find("dc:Bounds", _NS)
    x, y, w, h = (float(b.get(k)) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def _inside(inner: Box, outer: Box) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _on_border(point: tuple[float, float], box: Box) -> bool:
    x, y = point
    x0, y0, x1, y1 = box
    return (x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1
            and not (x0 + 1 < x < x1 - 1 and y0 + 1 < y < y1 - 1))


def check_diagram_interchange(path: Path, main_path: list[str]) -> None:
    """Pool, lanes, a shape for every node inside its lane, an edge for every flow, laid out left to right."""
    tree = etree.parse(str(path))
    shapes = {s.get("bpmnElement"): _box(s) for s in tree.iterfind(".//bpmndi:BPMNShape", _NS)}
    edges = {e.get("bpmnElement"): [(float(p.get("x")), float(p.get("y"))) for p in e.iterfind("di:waypoint", _NS)]
             for e in tree.iterfind(".//bpmndi:BPMNEdge", _NS)}
    process = tree.find("bpmn:process", _NS)
    [participant] = tree.iterfind(".//bpmn:participant", _NS)
    assert participant.get("processRef") == process.get("id") == path.stem
    pool = shapes[participant.get("id")]
    lanes = {lane.get("id"): lane for lane in process.iterfind(".//bpmn:lane", _NS)}
    lane_of = {ref.text: lane_id for lane_id, lane in lanes.items() for ref in lane.iterfind("bpmn:flowNodeRef", _NS)}
    for lane_id in lanes:
        assert _inside(shapes[lane_id], pool), lane_id
    nodes = [el for el in process if isinstance(el.tag, str) and etree.QName(el).localname not in _NOT_NODES]
    hosts = {n.get("id"): n.get("attachedToRef") for n in nodes if etree.QName(n).localname == "boundaryEvent"}
    for node in nodes:
        node_id = node.get("id")
        assert node_id in shapes, f"no BPMNShape for {node_id}"
        assert node_id in lane_of, f"{node_id} is in no lane"
        assert _inside(shapes[node_id], shapes[lane_of[node_id]]), node_id
    for boundary, host in hosts.items():
        x0, y0, x1, y1 = shapes[boundary]
        assert _on_border(((x0 + x1) / 2, (y0 + y1) / 2), shapes[host]), boundary
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            ids = {a.get("id"), b.get("id")}
            if any(hosts.get(n) in ids for n in ids):
                continue  # a boundary event sits on its task's border
            assert not _overlap(shapes[a.get("id")], shapes[b.get("id")]), ids
    for flow in process.iterfind("bpmn:sequenceFlow", _NS):
        points = edges[flow.get("id")]
        assert len(points) >= 2, flow.get("id")
        for end, ref in ((points[0], "sourceRef"), (points[-1], "targetRef")):
            assert _on_border(end, shapes[flow.get(ref)]), (flow.get("id"), ref, end)
    centres = [(shapes[n][0] + shapes[n][2]) / 2 for n in main_path]
    assert centres == sorted(centres)


def test_diagram_interchange_is_complete() -> None:
    check_diagram_interchange(BPMN, HEAD + ENTRUSTED)


def test_every_user_task_is_a_street_clerk_task_with_a_registered_form(deployed: EngineContext) -> None:
    from engine.services.deploy import get_current_definition

    definition = get_current_definition(deployed, PROCESS)
    tasks = {t["bpmn_id"]: (t["lane"], t["properties"]["formKey"]) for t in definition.task_catalogue["user_tasks"]}
    assert tasks == {
        "record_application": ("street_clerk", "street_application"),
        "check_materials": ("street_clerk", "street_material_check"),
        "receive_supplement": ("street_clerk", "materials_supplemented"),
        "issue_entrustment": ("street_clerk", "issue_entrustment"),
    }
