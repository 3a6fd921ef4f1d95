"""A caller diagram whose call activity runs a second deployed process, and versions of the called one.

* ``call_caller`` (intake_officer lane): 受理初审 (``intake_check``) → call activity 共享审核程序
  (``call_shared``, calls ``shared_review``) → 最终确认 (``final_check``) → end.
* ``shared_review`` (review_officer lane): script 准备数据 (``prepare``, sets ``review_round``) →
  核对数据 (``check_data``) → 复核数据 (``confirm_data``, ``sodNotSameAs=check_data``) → end.

Versions of the called process a designer might deploy (the caller file unchanged, deployed with it):

* :data:`CALLED_ADDED_STEP` — 归档说明 (``archive_note``) added after 复核数据;
* :data:`CALLED_REMOVED_CONFIRM` — 复核数据 removed: 核对数据 leads straight to the end.
"""

from __future__ import annotations

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.models import Unit
from engine.services.deploy import DeployedProcess
from engine.services.deploy import deploy_files
from engine.services.org import create_region
from engine.services.org import create_unit
from tests.engine.migration_factory import _edit

DESIGNER = Actor("designer", "process_designer")
CALLER_FILE, CALLED_FILE = "call_caller.bpmn", "shared_review.bpmn"

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs_{pid}" targetNamespace="http://hedui.example/bpmn/test">
"""


def _user_task(task_id: str, name: str, incoming: str, outgoing: str, extra: str = "") -> str:
    return (f'<bpmn:userTask id="{task_id}" name="{name}"><bpmn:extensionElements><spiffworkflow:properties>'
            '<spiffworkflow:property name="formKey" value="acknowledge" />'
            '<spiffworkflow:property name="dueWorkingDays" value="2" />'
            f'{extra}</spiffworkflow:properties></bpmn:extensionElements>'
            f'<bpmn:incoming>{incoming}</bpmn:incoming><bpmn:outgoing>{outgoing}</bpmn:outgoing></bpmn:userTask>\n')


CALLER = _HEAD.format(pid="call_caller") + f"""\
  <bpmn:process id="call_caller" name="测试：调用共享审核" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_intake" name="intake_officer">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>intake_check</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>call_shared</bpmn:flowNodeRef><bpmn:flowNodeRef>final_check</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>c1</bpmn:outgoing></bpmn:startEvent>
    {_user_task("intake_check", "受理初审", "c1", "c2")}
    <bpmn:callActivity id="call_shared" name="共享审核程序" calledElement="shared_review">
      <bpmn:incoming>c2</bpmn:incoming><bpmn:outgoing>c3</bpmn:outgoing>
    </bpmn:callActivity>
    {_user_task("final_check", "最终确认", "c3", "c4")}
    <bpmn:endEvent id="end"><bpmn:incoming>c4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="c1" sourceRef="start" targetRef="intake_check" />
    <bpmn:sequenceFlow id="c2" sourceRef="intake_check" targetRef="call_shared" />
    <bpmn:sequenceFlow id="c3" sourceRef="call_shared" targetRef="final_check" />
    <bpmn:sequenceFlow id="c4" sourceRef="final_check" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""

_SOD = ('<spiffworkflow:property name="sodNotSameAs" value="check_data" />'
        '<spiffworkflow:property name="sodRule" value="SD-1" />')

CALLED = _HEAD.format(pid="shared_review") + f"""\
  <bpmn:process id="shared_review" name="测试：共享审核程序" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_review" name="review_officer">
        <bpmn:flowNodeRef>s_start</bpmn:flowNodeRef><bpmn:flowNodeRef>prepare</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>check_data</bpmn:flowNodeRef><bpmn:flowNodeRef>confirm_data</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>s_end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="s_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="prepare" name="准备数据">
      <bpmn:incoming>s1</bpmn:incoming><bpmn:outgoing>s2</bpmn:outgoing>
      <bpmn:script>review_round = 1</bpmn:script>
    </bpmn:scriptTask>
    {_user_task("check_data", "核对数据", "s2", "s3")}
    {_user_task("confirm_data", "复核数据", "s3", "s4", _SOD)}
    <bpmn:endEvent id="s_end"><bpmn:incoming>s4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="s1" sourceRef="s_start" targetRef="prepare" />
    <bpmn:sequenceFlow id="s2" sourceRef="prepare" targetRef="check_data" />
    <bpmn:sequenceFlow id="s3" sourceRef="check_data" targetRef="confirm_data" />
    <bpmn:sequenceFlow id="s4" sourceRef="confirm_data" targetRef="s_end" />
  </bpmn:process>
</bpmn:definitions>
"""


CALLED_ADDED_STEP = _edit(
    CALLED,
    ("<bpmn:flowNodeRef>s_end</bpmn:flowNodeRef>",
     "<bpmn:flowNodeRef>archive_note</bpmn:flowNodeRef><bpmn:flowNodeRef>s_end</bpmn:flowNodeRef>"),
    ('<bpmn:endEvent id="s_end"><bpmn:incoming>s4</bpmn:incoming>',
     _user_task("archive_note", "归档说明", "s4", "s5")
     + '<bpmn:endEvent id="s_end"><bpmn:incoming>s5</bpmn:incoming>'),
    ('<bpmn:sequenceFlow id="s4" sourceRef="confirm_data" targetRef="s_end" />',
     '<bpmn:sequenceFlow id="s4" sourceRef="confirm_data" targetRef="archive_note" />'
     '<bpmn:sequenceFlow id="s5" sourceRef="archive_note" targetRef="s_end" />'),
)

CALLED_REMOVED_CONFIRM = _edit(
    CALLED,
    ("<bpmn:flowNodeRef>confirm_data</bpmn:flowNodeRef>", ""),
    (_user_task("confirm_data", "复核数据", "s3", "s4", _SOD), ""),
    ('<bpmn:endEvent id="s_end"><bpmn:incoming>s4</bpmn:incoming>',
     '<bpmn:endEvent id="s_end"><bpmn:incoming>s3</bpmn:incoming>'),
    ('<bpmn:sequenceFlow id="s3" sourceRef="check_data" targetRef="confirm_data" />',
     '<bpmn:sequenceFlow id="s3" sourceRef="check_data" targetRef="s_end" />'),
    ('<bpmn:sequenceFlow id="s4" sourceRef="confirm_data" targetRef="s_end" />', ""),
)


def files(called: str = CALLED, caller: str = CALLER) -> dict[str, bytes]:
    return {CALLER_FILE: caller.encode("utf-8"), CALLED_FILE: called.encode("utf-8")}


def deploy_pair(ctx: EngineContext, called: str = CALLED) -> dict[str, DeployedProcess]:
    """Deploy the caller with a version of the called process; returns the deployments by process id."""
    return {d.process_id: d for d in deploy_files(ctx, files(called), actor=DESIGNER)}


ADMIN = Actor("admin", "admin")


def seed_agency(ctx: EngineContext) -> Unit:
    """The calendar deadline and one county verification agency (朝阳区) with its region chain."""
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    for code, name, level, parent in (("220000", "吉林省", "province", None), ("220100", "长春市", "city", "220000"),
                                      ("220104", "朝阳区", "county", "220100")):
        create_region(ctx, code, name, level, parent, actor=ADMIN)
    return create_unit(ctx, "CY-HDZX-T", "朝阳区核对中心（测试）", "verification_agency", "220104", actor=ADMIN)
