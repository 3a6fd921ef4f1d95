"""Versions of ``tests/data/linear_review.bpmn`` and ``timer_boundary.bpmn`` a designer might deploy as fixes.

Each version is the v1 text with a few edits, so what changed is visible here:

* :data:`ADDED_STEP` (v2) — a new user task 法规审查 (``legal_check``) between 受理初审 and 审核复审;
  受理初审 renamed and its ``dueWorkingDays`` 3 → 4; 审核复审 gets ``dueWorkingDays`` 5.
* :data:`REMOVED_REVIEW` — 审核复审 (``review``) removed: 受理初审 leads straight to the gateway.
* :data:`RELANED` — 受理初审 moves to the review officers' lane (a current task changing its role).
"""

from __future__ import annotations

from pathlib import Path

from engine.context import Actor
from engine.context import EngineContext
from engine.services.deploy import deploy_files

DATA = Path(__file__).parents[1] / "data"
V1 = (DATA / "linear_review.bpmn").read_text(encoding="utf-8")
TIMER_V1 = (DATA / "timer_boundary.bpmn").read_text(encoding="utf-8")
DESIGNER = Actor("designer", "process_designer")

_LEGAL_CHECK = """<bpmn:userTask id="legal_check" name="法规审查">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formKey" value="acknowledge" />
          <spiffworkflow:property name="dueWorkingDays" value="2" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f2b</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="review\""""


def _edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text


ADDED_STEP = _edit(
    V1,
    ("<bpmn:flowNodeRef>review</bpmn:flowNodeRef>",
     "<bpmn:flowNodeRef>legal_check</bpmn:flowNodeRef>\n        <bpmn:flowNodeRef>review</bpmn:flowNodeRef>"),
    ('name="受理初审"', 'name="受理初审（核对材料）"'),
    ('<spiffworkflow:property name="dueWorkingDays" value="3" />',
     '<spiffworkflow:property name="dueWorkingDays" value="4" />'),
    ('<bpmn:userTask id="review"', _LEGAL_CHECK),
    ("<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>",
     "<bpmn:incoming>f2b</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>"),
    ('<spiffworkflow:property name="sodRule" value="SD-1" />',
     '<spiffworkflow:property name="sodRule" value="SD-1" />\n'
     '          <spiffworkflow:property name="dueWorkingDays" value="5" />'),
    ('<bpmn:sequenceFlow id="f2" sourceRef="intake_check" targetRef="review" />',
     '<bpmn:sequenceFlow id="f2" sourceRef="intake_check" targetRef="legal_check" />\n'
     '    <bpmn:sequenceFlow id="f2b" sourceRef="legal_check" targetRef="review" />'),
)

REMOVED_REVIEW = _edit(
    V1,
    ("<bpmn:flowNodeRef>review</bpmn:flowNodeRef>", ""),
    (V1[V1.index('<bpmn:userTask id="review"'):V1.index('<bpmn:exclusiveGateway')], ""),
    ("<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f_accept</bpmn:outgoing>",
     "<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f_accept</bpmn:outgoing>"),
    ('<bpmn:sequenceFlow id="f2" sourceRef="intake_check" targetRef="review" />',
     '<bpmn:sequenceFlow id="f2" sourceRef="intake_check" targetRef="gw_review" />'),
    ('<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="gw_review" />', ""),
)

RELANED = _edit(
    V1,
    ("<bpmn:flowNodeRef>intake_check</bpmn:flowNodeRef>", ""),
    ("<bpmn:flowNodeRef>review</bpmn:flowNodeRef>",
     "<bpmn:flowNodeRef>intake_check</bpmn:flowNodeRef><bpmn:flowNodeRef>review</bpmn:flowNodeRef>"),
)

#: the boundary-timer diagram with its user task renamed and a step added after it
TIMER_ADDED_STEP = _edit(
    TIMER_V1,
    ('name="补正材料"', 'name="补正材料（含说明）"'),
    ("<bpmn:flowNodeRef>end_done</bpmn:flowNodeRef>",
     "<bpmn:flowNodeRef>check_materials</bpmn:flowNodeRef><bpmn:flowNodeRef>end_done</bpmn:flowNodeRef>"),
    ('<bpmn:endEvent id="end_done"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>',
     '<bpmn:userTask id="check_materials" name="核对补正材料">'
     '<bpmn:extensionElements><spiffworkflow:properties>'
     '<spiffworkflow:property name="formKey" value="acknowledge" />'
     '</spiffworkflow:properties></bpmn:extensionElements>'
     '<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f2c</bpmn:outgoing></bpmn:userTask>\n'
     '    <bpmn:endEvent id="end_done"><bpmn:incoming>f2c</bpmn:incoming></bpmn:endEvent>\n'
     '    <bpmn:sequenceFlow id="f2c" sourceRef="check_materials" targetRef="end_done" />'),
    ('<bpmn:sequenceFlow id="f2" sourceRef="complete_materials" targetRef="end_done" />',
     '<bpmn:sequenceFlow id="f2" sourceRef="complete_materials" targetRef="check_materials" />'),
)


#: 审核复审 turned from a user task into a manual task (a current task changing its kind)
MANUAL_REVIEW = V1.replace('<bpmn:userTask id="review"', '<bpmn:manualTask id="review"', 1).replace(
    '</bpmn:userTask>\n    <bpmn:exclusiveGateway', '</bpmn:manualTask>\n    <bpmn:exclusiveGateway', 1)
#: the boundary timer removed: the task it watched stays, the waiting timer is gone
TIMER_REMOVED = _edit(
    TIMER_V1,
    ("<bpmn:flowNodeRef>materials_overdue</bpmn:flowNodeRef>", ""),
    ("<bpmn:flowNodeRef>end_withdrawn</bpmn:flowNodeRef>", ""),
    (TIMER_V1[TIMER_V1.index("<bpmn:boundaryEvent"):TIMER_V1.index('<bpmn:endEvent id="end_done"')], ""),
    ('<bpmn:endEvent id="end_withdrawn" name="视为撤回"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>', ""),
    ('<bpmn:sequenceFlow id="f3" sourceRef="materials_overdue" targetRef="end_withdrawn" />', ""),
)

_DATE = "<bpmn:timeDate>materials_due</bpmn:timeDate>"
#: the same two versions with a relative timer (3 days from when the task opened): a reset would move it
TIMER_DURATION_V1 = _edit(TIMER_V1, (_DATE, '<bpmn:timeDuration>"P3D"</bpmn:timeDuration>'))
TIMER_DURATION_V2 = _edit(TIMER_ADDED_STEP, (_DATE, '<bpmn:timeDuration>"P3D"</bpmn:timeDuration>'))
#: v2 with the timer itself changed (5 days): its due time is computed anew at the migration
TIMER_RETIMED_V2 = _edit(TIMER_ADDED_STEP, (_DATE, '<bpmn:timeDuration>"P5D"</bpmn:timeDuration>'))


def deploy_text(ctx: EngineContext, text: str, name: str = "linear_review.bpmn") -> int:
    """Deploy one version of a diagram; returns its version number."""
    [deployed] = deploy_files(ctx, {name: text.encode("utf-8")}, actor=DESIGNER)
    return deployed.version
