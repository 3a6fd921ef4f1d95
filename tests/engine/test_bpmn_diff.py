"""Designer tools, comparing versions: the semantic BPMN diff (engine/bpmn_diff.py), one kind of change per test.

The fixture is tests/data/bpmn_diff/base.bpmn; each test edits its text the way a modeler would and
checks what the diff names: element kind in Chinese, name, and the facet that changed.
"""

from __future__ import annotations

import re

import pytest

from engine.bpmn_diff import FORMAT_ONLY
from engine.bpmn_diff import LAYOUT_ONLY
from engine.bpmn_diff import Change
from engine.bpmn_diff import ElementDiff
from engine.bpmn_diff import diff_files
from tests.conftest import DATA

BASE = (DATA / "bpmn_diff" / "base.bpmn").read_text(encoding="utf-8")
NAME = "diff_demo.bpmn"


def _edit(*replacements: tuple[str, str], text: str = BASE) -> str:
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def _elements(new: str) -> dict[str, ElementDiff]:
    [file] = diff_files({NAME: BASE}, {NAME: new}).files
    return {e.element_id: e for e in file.elements}


def _only(new: str) -> ElementDiff:
    [element] = _elements(new).values()
    return element


def _change(element: ElementDiff, key: str) -> Change:
    [change] = [c for c in element.changes if c.key == key]
    return change


def test_identical_files_have_no_changes() -> None:
    diff = diff_files({NAME: BASE}, {NAME: BASE})
    assert diff.identical and diff.summary == "两个版本的文件完全相同" and diff.files[0].text_diff == ""


def test_renamed_user_task() -> None:
    element = _only(_edit(('name="受理初审"', 'name="受理与初审"')))
    assert (element.status, element.status_name, element.kind_name, element.name) == (
        "changed", "修改", "用户任务", "受理与初审")
    assert element.changes == (Change("name", "名称", "受理初审", "受理与初审"),)


def test_spiffworkflow_properties_form_key_due_days_and_sod() -> None:
    element = _only(_edit(('value="3"', 'value="5"'),
                          ('name="formKey" value="acknowledge"', 'name="formKey" value="intake"'),
                          ('<spiffworkflow:property name="dueWorkingDays" value="5" />',
                           '<spiffworkflow:property name="dueWorkingDays" value="5" />'
                           '<spiffworkflow:property name="sodRule" value="SD-1" />')))
    assert element.element_id == "intake"
    assert _change(element, "property:dueWorkingDays") == Change("property:dueWorkingDays", "属性 dueWorkingDays",
                                                                 "3", "5")
    assert _change(element, "property:formKey").after == "intake"
    assert _change(element, "property:sodRule") == Change("property:sodRule", "属性 sodRule", None, "SD-1")


def test_removed_sod_property() -> None:
    element = _only(_edit(('<spiffworkflow:property name="sodNotSameAs" value="intake" />', '')))
    assert element.element_id == "review"
    assert _change(element, "property:sodNotSameAs") == Change("property:sodNotSameAs", "属性 sodNotSameAs",
                                                               "intake", None)


def test_task_moved_to_another_lane() -> None:
    moved = _edit(('<bpmn:flowNodeRef>review</bpmn:flowNodeRef>\n', ''),
                  ('<bpmn:flowNodeRef>wait</bpmn:flowNodeRef>', '<bpmn:flowNodeRef>wait</bpmn:flowNodeRef>'
                                                             '<bpmn:flowNodeRef>review</bpmn:flowNodeRef>'))
    elements = _elements(moved)
    assert _change(elements["review"], "lane") == Change("lane", "泳道", "review_officer", "intake_officer")
    assert elements["lane_intake"].kind_name == "泳道" and "flow_node_refs" in {
        c.key for c in elements["lane_intake"].changes}


def test_lane_role_renamed() -> None:
    elements = _elements(_edit(('name="review_officer"', 'name="report_officer"')))
    assert _change(elements["lane_review"], "name") == Change("name", "名称", "review_officer", "report_officer")
    assert _change(elements["gw"], "lane").after == "report_officer"


def test_rerouted_flow_changes_its_target_and_the_nodes_incoming_outgoing() -> None:
    elements = _elements(_edit(('id="f_back" sourceRef="gw" targetRef="end_back"',
                                'id="f_back" sourceRef="gw" targetRef="intake"')))
    flow = elements["f_back"]
    assert (flow.kind_name, _change(flow, "targetRef")) == ("顺序流", Change("targetRef", "终点", "end_back", "intake"))
    assert _change(elements["intake"], "incoming") == Change("incoming", "流入", "f1", "f1, f_back")
    assert _change(elements["end_back"], "incoming") == Change("incoming", "流入", "f_back", None)


def test_condition_expression() -> None:
    element = _only(_edit(('decision == "accept"', 'decision in ("accept", "ok")')))
    assert (element.kind_name, element.element_id) == ("顺序流", "f_ok")
    assert element.changes == (
        Change("condition", "条件表达式", 'decision == "accept"', 'decision in ("accept", "ok")'),)


def test_default_flow_of_an_exclusive_gateway() -> None:
    element = _only(_edit(('default="f_back"', 'default="f_ok"')))
    assert (element.kind_name, element.name) == ("排他网关", "审核结论")
    assert element.changes == (Change("default", "默认流", "f_back", "f_ok"),)


def test_script_text_and_reindenting_is_no_change() -> None:
    element = _only(_edit(('outcome = "accepted"', 'outcome = "accepted"\nrounds = 1')))
    assert (element.kind_name, _change(element, "script").after) == ("脚本任务", 'outcome = "accepted"\nrounds = 1')
    reindented = _edit(('<bpmn:script>outcome = "accepted"</bpmn:script>',
                        '<bpmn:script>\n        outcome = "accepted"\n      </bpmn:script>'))
    [file] = diff_files({NAME: BASE}, {NAME: reindented}).files
    assert file.elements == () and file.summary == FORMAT_ONLY


def test_timer_expression_of_a_timer_event() -> None:
    element = _only(_edit(('"P1D"', '"P2D"')))
    assert (element.kind_name, element.name) == ("定时事件", "等待一天")
    assert element.changes == (Change("timer", "定时表达式", 'timeDuration: "P1D"', 'timeDuration: "P2D"'),)


def test_documentation() -> None:
    element = _only(_edit(("核对材料是否齐全。", "核对材料是否齐全，缺件一次性告知。")))
    assert _change(element, "documentation").label == "文档说明"


def test_added_and_removed_elements() -> None:
    added = _edit(('<bpmn:endEvent id="end_back"', '<bpmn:manualTask id="notify" name="电话告知" />\n'
                                                   '    <bpmn:endEvent id="end_back"'))
    assert _only(added) == ElementDiff("added", "notify", "manualTask", "人工任务", "电话告知")
    removed = diff_files({NAME: added}, {NAME: BASE})
    assert [(e.status, e.status_name, e.element_id) for e in removed.files[0].elements] == [
        ("removed", "删除", "notify")]
    assert removed.counts == {"added": 0, "removed": 1, "changed": 0}


def test_boundary_timer_kind_name() -> None:
    boundary = _edit(('<bpmn:endEvent id="end_back"',
                      '<bpmn:boundaryEvent id="late" name="超时" attachedToRef="review">'
                      '<bpmn:timerEventDefinition><bpmn:timeDate>due</bpmn:timeDate></bpmn:timerEventDefinition>'
                      '</bpmn:boundaryEvent>\n    <bpmn:endEvent id="end_back"'))
    assert _only(boundary).kind_name == "定时边界事件"


def test_layout_only_changes_are_reported_as_such() -> None:
    moved = re.sub(r'x="(\d+)"', lambda m: f'x="{int(m.group(1)) + 40}"', BASE)
    diff = diff_files({NAME: BASE}, {NAME: moved})
    [file] = diff.files
    assert file.elements == () and file.layout_changed and file.summary == LAYOUT_ONLY
    assert diff.summary == LAYOUT_ONLY and diff.semantic_changes == 0
    assert "dc:Bounds" in file.text_diff  # the text view still shows the lines


def test_layout_change_next_to_a_semantic_one_is_not_layout_only() -> None:
    both = re.sub(r'x="100"', 'x="120"', _edit(('name="开始"', 'name="启动"')))
    diff = diff_files({NAME: BASE}, {NAME: both})
    assert diff.summary is None and diff.files[0].summary is None and diff.files[0].layout_changed
    assert [e.element_id for e in diff.files[0].elements] == ["start"]
    assert diff.files[0].elements[0].kind_name == "开始事件"


def test_modeler_export_attributes_are_ignored() -> None:
    [file] = diff_files({NAME: BASE}, {NAME: _edit(('exporterVersion="1"', 'exporterVersion="2"'))}).files
    assert file.elements == ()


def test_unified_text_diff_names_versions() -> None:
    diff = diff_files({NAME: BASE}, {NAME: _edit(('name="受理初审"', 'name="受理与初审"'))},
                      old_label="第 1 版", new_label="第 2 版")
    text = diff.files[0].text_diff
    assert text.startswith(f"--- {NAME}（第 1 版）\n+++ {NAME}（第 2 版）\n@@")
    assert '-    <bpmn:userTask id="intake" name="受理初审">' in text
    assert '+    <bpmn:userTask id="intake" name="受理与初审">' in text


@pytest.mark.parametrize(("old", "new", "status"), [({NAME: BASE}, {}, "removed"), ({}, {NAME: BASE}, "added")])
def test_files_added_or_removed_between_versions(old, new, status) -> None:  # type: ignore[no-untyped-def]
    diff = diff_files(old, new)
    [file] = diff.files
    assert file.status == status and diff.semantic_changes == 1 and diff.summary is None


def test_dmn_rules_are_compared_by_id() -> None:
    dmn = ('<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="x">'
           '<decision id="dec" name="分档"><decisionTable id="t"><input id="in1"><inputExpression id="ie">'
           '<text>income</text></inputExpression></input><output id="out1" name="tier"/>'
           '<rule id="r1"><inputEntry id="e1"><text>&lt; 1000</text></inputEntry>'
           '<outputEntry id="o1"><text>"A"</text></outputEntry></rule></decisionTable></decision></definitions>')
    [file] = diff_files({"t.dmn": dmn}, {"t.dmn": dmn.replace("&lt; 1000", "&lt; 1200")}).files
    [element] = file.elements
    assert (element.element_id, element.kind_name) == ("e1", "输入条件")
    assert element.changes[0].before == "< 1000" and element.changes[0].after == "< 1200"
