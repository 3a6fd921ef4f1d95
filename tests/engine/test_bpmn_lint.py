"""BPMN lint (process designer tools): deploy's refusals as errors, risky-but-deployable diagrams as warnings.

Every warning rule has a fixture that triggers it and one that does not (the clean sample
``tests/data/lint_sample.bpmn`` and rule-specific near misses); the shipped ``bpmn/`` must lint clean
(PR-5 / PS-10 deadlines, docs/process-design.md §1–§7).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.bpmn_lint import LintReport
from engine.bpmn_lint import lint_files
from engine.context import Actor
from engine.errors import DeploymentError
from engine.models import ProcessDefinition
from engine.services.deploy import deploy_files
from tests.conftest import BPMN_DIR
from tests.conftest import DATA

SAMPLE = (DATA / "lint_sample.bpmn").read_text(encoding="utf-8")
DESIGNER = Actor("designer", "process_designer")
TIMER = ('<bpmn:boundaryEvent id="check_overdue" name="期限届满" attachedToRef="check">'
         '<bpmn:outgoing>f_overdue</bpmn:outgoing><bpmn:timerEventDefinition>{timer}</bpmn:timerEventDefinition>'
         '</bpmn:boundaryEvent>'
         '<bpmn:sequenceFlow id="f_overdue" sourceRef="check_overdue" targetRef="end_returned" />'
         '<bpmn:endEvent id="end_done"')
TIMER_DI = ('<bpmndi:BPMNShape id="check_overdue_di" bpmnElement="check_overdue"><dc:Bounds x="282" y="162" '
            'width="36" height="36" /></bpmndi:BPMNShape><bpmndi:BPMNEdge id="f_overdue_di" bpmnElement="f_overdue">'
            '<di:waypoint x="300" y="198" /><di:waypoint x="642" y="250" /></bpmndi:BPMNEdge></bpmndi:BPMNPlane>')


def variant(*replacements: tuple[str, str], base: str = SAMPLE) -> str:
    text = base
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


def with_timer(timer: str, *more: tuple[str, str]) -> str:
    """The sample with a boundary timer on 受理初审 (drawn, leading to 已退回)."""
    return variant(('<bpmn:endEvent id="end_done"', TIMER.format(timer=timer)),
                   ("</bpmndi:BPMNPlane>", TIMER_DI), ("<bpmn:flowNodeRef>start</bpmn:flowNodeRef>",
                    "<bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>check_overdue</bpmn:flowNodeRef>"),
                   *more)


def lint(ctx, text: str, name: str = "lint_sample.bpmn") -> LintReport:  # type: ignore[no-untyped-def]
    return lint_files(ctx, {name: text.encode("utf-8")})


def warnings(report: LintReport) -> set[tuple[str, str | None]]:
    return {(f.code, f.element_id) for f in report.warnings}


def test_the_clean_sample_has_no_findings_and_deploys(ctx) -> None:  # type: ignore[no-untyped-def]
    report = lint(ctx, SAMPLE)
    assert report.findings == [] and report.ok and report.processes == ["lint_sample"]
    assert report.as_dict() == {"ok": True, "processes": ["lint_sample"], "errors": 0, "warnings": 0, "findings": []}
    deploy_files(ctx, {"lint_sample.bpmn": SAMPLE.encode()}, actor=DESIGNER)


def shapes(*ids: str) -> str:
    return "".join(f'<bpmndi:BPMNShape id="{i}_di" bpmnElement="{i}"><dc:Bounds x="1" y="1" width="1" height="1" />'
                   "</bpmndi:BPMNShape>" for i in ids)


def edges(*ids: str) -> str:
    return "".join(f'<bpmndi:BPMNEdge id="{i}_di" bpmnElement="{i}"><di:waypoint x="1" y="1" />'
                   '<di:waypoint x="2" y="2" /></bpmndi:BPMNEdge>' for i in ids)


PLANE_END = "</bpmndi:BPMNPlane>"
F_ACCEPT = '<bpmn:sequenceFlow id="f_accept" sourceRef="gw_check" targetRef="mark" />'
RETURN_CONDITION = '<bpmn:conditionExpression>decision == "return"</bpmn:conditionExpression>'
NO_DEFAULT = ((' default="f_accept"', ""),
              (F_ACCEPT, F_ACCEPT.replace(" />", ">") + RETURN_CONDITION.replace("==", "!=") + "</bpmn:sequenceFlow>"))
DEDUE = ('<spiffworkflow:property name="dueWorkingDays" value="2" />', "")
DOC = "<bpmn:documentation>核对委托材料是否齐全。</bpmn:documentation>"
END_DONE = '<bpmn:endEvent id="end_done" name="已受理"><bpmn:incoming>f_marked</bpmn:incoming></bpmn:endEvent>'
F_MARKED = '<bpmn:sequenceFlow id="f_marked" sourceRef="mark" targetRef="end_done" />'
LOOP = ("<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>units</bpmn:loopDataInputRef>"
        '<bpmn:inputDataItem id="unit" name="unit" /></bpmn:multiInstanceLoopCharacteristics>')
UNITS = ('<bpmn:laneSet id="lanes">', '<bpmn:property id="units" name="单位列表" /><bpmn:laneSet id="lanes">')
EVENT_SUBPROCESS = (
    '<bpmn:subProcess id="on_cancel" name="撤回" triggeredByEvent="true">'
    '<bpmn:startEvent id="cancel_start" name="收到撤回"><bpmn:outgoing>f_cancel</bpmn:outgoing>'
    "<bpmn:messageEventDefinition /></bpmn:startEvent>"
    '<bpmn:endEvent id="cancel_end" name="已撤回"><bpmn:incoming>f_cancel</bpmn:incoming></bpmn:endEvent>'
    '<bpmn:sequenceFlow id="f_cancel" sourceRef="cancel_start" targetRef="cancel_end" /></bpmn:subProcess>')

#: rule -> (replacements on the clean sample, the exact warnings expected)
TRIGGERS: dict[str, tuple[tuple[tuple[str, str], ...], set[tuple[str, str]]]] = {
    "gateway_without_default": (NO_DEFAULT, {("gateway_without_default", "gw_check")}),
    "unreachable": (((' targetRef="mark"', ' targetRef="end_done"'),), {("unreachable", "mark")}),
    "dead_end (no outgoing flow)": (((END_DONE, ""), (F_MARKED, ""),
                                     ("<bpmn:flowNodeRef>end_done</bpmn:flowNodeRef>", "")), {("dead_end", "mark")}),
    "dead_end (endless loop)": (((' targetRef="end_returned"', ' targetRef="check"'),
                                 ('sourceRef="mark" targetRef="end_done"', 'sourceRef="mark" targetRef="check"')),
                                {("dead_end", "start"), ("dead_end", "check"), ("dead_end", "gw_check"),
                                 ("dead_end", "mark"), ("unreachable", "end_done"), ("unreachable", "end_returned")}),
    "user_task_without_deadline": ((DEDUE,), {("user_task_without_deadline", "check")}),
    "user_task_without_documentation": (((DOC, ""),), {("user_task_without_documentation", "check")}),
    "documentation_not_for_staff": ((("核对委托材料", "核对 sharing_units 材料（#12）"),),
                                    {("documentation_not_for_staff", "check")}),
    "missing_name (user task)": (((' name="受理初审"', ""),), {("missing_name", "check")}),
    "missing_name (process)": (((' name="测试：检查样例"', ""),), {("missing_name", "lint_sample")}),
    "name_not_chinese (user task)": ((('name="受理初审"', 'name="Intake check"'),), {("name_not_chinese", "check")}),
    "name_not_chinese (pool)": ((('name="核对机构"', 'name="Agency"'),), {("name_not_chinese", "pool_lint_sample")}),
    "id_not_snake_case": ((('"mark"', '"markAccepted"'), (">mark<", ">markAccepted<")),
                          {("id_not_snake_case", "markAccepted")}),
    "id_not_snake_case (hand-written lane id)": ((('"lane_intake"', '"LaneIntake"'),),
                                                 {("id_not_snake_case", "LaneIntake")}),
    "id_not_snake_case (hand-written flow id)": ((('"f_marked"', '"FlowMarked"'), (">f_marked<", ">FlowMarked<")),
                                                 {("id_not_snake_case", "FlowMarked")}),
    "missing_diagram (shape)": ((('id="check_di" bpmnElement="check"', 'id="check_di"'),),
                                {("missing_diagram", "check")}),
    "missing_diagram (edge)": ((('bpmnElement="f_accept"', ""),), {("missing_diagram", "f_accept")}),
    "missing_diagram (no pool)": ((('processRef="lint_sample"', 'processRef="elsewhere"'),),
                                  {("missing_diagram", "lint_sample")}),
    "lane_role_without_candidates": ((('name="intake_officer"', 'name="supervisor"'),),
                                     {("lane_role_without_candidates", "lane_intake")}),
    "loop_data_not_declared": ((("<bpmn:script>", LOOP + "<bpmn:script>"),), {("loop_data_not_declared", "mark")}),
}
#: rule -> (the sample with a boundary timer on 受理初审 with this definition, the exact warnings expected)
TIMER_TRIGGERS = {
    "calendar_duration_timer (days)": ('<bpmn:timeDuration>"P15D"</bpmn:timeDuration>',
                                       {("calendar_duration_timer", "check_overdue")}),
    "calendar_duration_timer (48 hours)": ('<bpmn:timeDuration>"PT48H"</bpmn:timeDuration>',
                                           {("calendar_duration_timer", "check_overdue")}),
    "calendar_duration_timer (daily cycle)": ('<bpmn:timeCycle>"R3/P1D"</bpmn:timeCycle>',
                                              {("calendar_duration_timer", "check_overdue")}),
    "timer_without_timezone": ('<bpmn:timeDate>"2026-12-31T23:59:59"</bpmn:timeDate>',
                               {("timer_without_timezone", "check_overdue")}),
}


def _check_findings(report: LintReport) -> None:
    for finding in report.warnings:
        assert finding.filename == "lint_sample.bpmn" and finding.line and finding.line > 1
        assert any("\u4e00" <= ch <= "\u9fff" for ch in finding.message)


@pytest.mark.parametrize("rule", sorted(TRIGGERS))
def test_each_warning_rule_triggers_on_its_fixture(ctx, rule: str) -> None:  # type: ignore[no-untyped-def]
    replacements, expected = TRIGGERS[rule]
    report = lint(ctx, variant(*replacements))
    assert warnings(report) == expected
    _check_findings(report)


@pytest.mark.parametrize("rule", sorted(TIMER_TRIGGERS))
def test_each_timer_rule_triggers_on_its_fixture(ctx, rule: str) -> None:  # type: ignore[no-untyped-def]
    timer, expected = TIMER_TRIGGERS[rule]
    report = lint(ctx, with_timer(timer))
    assert warnings(report) == expected
    _check_findings(report)


def test_a_file_without_any_diagram_gets_one_finding(ctx) -> None:  # type: ignore[no-untyped-def]
    report = lint(ctx, SAMPLE[:SAMPLE.index("  <bpmndi:BPMNDiagram")] + "</bpmn:definitions>\n")
    assert warnings(report) == {("missing_diagram", "lint_sample")}


PARALLEL = (('<bpmn:exclusiveGateway id="gw_check" name="初审结论" default="f_accept">',
             '<bpmn:parallelGateway id="gw_check" name="初审结论">'),
            ("</bpmn:exclusiveGateway>", "</bpmn:parallelGateway>"), (RETURN_CONDITION, ""))
NEAR_MISSES = {
    "a boundary timer is a deadline": with_timer("<bpmn:timeDate>check_due</bpmn:timeDate>", DEDUE),
    "durations under a day are not legal limits": with_timer('<bpmn:timeDuration>"PT2H"</bpmn:timeDuration>'),
    "a time zone on a date literal": with_timer('<bpmn:timeDate>"2026-12-31T23:59:59+08:00"</bpmn:timeDate>'),
    "a parallel split needs no default": variant(*PARALLEL),
    "generated flow ids are exempt": variant(('"f_marked"', '"Flow_0ab12cd"'), (">f_marked<", ">Flow_0ab12cd<")),
    "generated lane ids are exempt": variant(('"lane_intake"', '"Lane_1x2y3z4"')),
    "a declared loop input": variant(UNITS, ("<bpmn:script>", LOOP + "<bpmn:script>")),
    "a non-executable process only documents": variant(
        ("</bpmn:process>", '</bpmn:process><bpmn:process id="Outside" isExecutable="false">'
                            '<bpmn:task id="LooseTask" /></bpmn:process>')),
    "an event subprocess starts itself": variant(
        ('<bpmn:endEvent id="end_done"', EVENT_SUBPROCESS + '<bpmn:endEvent id="end_done"'),
        (PLANE_END, shapes("on_cancel", "cancel_start", "cancel_end") + edges("f_cancel") + PLANE_END)),
}


@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
def test_near_misses_do_not_trigger(ctx, case: str) -> None:  # type: ignore[no-untyped-def]
    assert warnings(lint(ctx, NEAR_MISSES[case])) == set()


def test_message_waits_in_a_loop_need_their_own_key_that_compiles(ctx) -> None:  # type: ignore[no-untyped-def]
    """docs §5: inside a per-unit multi-instance the reply is matched by its own correlation key; the key is an
    expression deploy does not compile (§7), so the lint does."""
    loop = ('<bpmn:subProcess id="mark" name="逐个等待"><bpmn:incoming>f_accept</bpmn:incoming>'
            "<bpmn:outgoing>f_marked</bpmn:outgoing>" + LOOP +
            '<bpmn:startEvent id="wait_start" name="开始"><bpmn:outgoing>f_w1</bpmn:outgoing></bpmn:startEvent>'
            '<bpmn:intermediateCatchEvent id="reply" name="收到反馈">{key}<bpmn:incoming>f_w1</bpmn:incoming>'
            "<bpmn:outgoing>f_w2</bpmn:outgoing><bpmn:messageEventDefinition /></bpmn:intermediateCatchEvent>"
            '<bpmn:endEvent id="wait_end" name="结束"><bpmn:incoming>f_w2</bpmn:incoming></bpmn:endEvent>'
            '<bpmn:sequenceFlow id="f_w1" sourceRef="wait_start" targetRef="reply" />'
            '<bpmn:sequenceFlow id="f_w2" sourceRef="reply" targetRef="wait_end" /></bpmn:subProcess>')
    key = ('<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="correlationKey" '
           'value="{value}" /></spiffworkflow:properties></bpmn:extensionElements>')
    script_task = SAMPLE[SAMPLE.index('<bpmn:scriptTask id="mark"'):SAMPLE.index("</bpmn:scriptTask>") + 18]
    base = variant(UNITS, (PLANE_END, shapes("wait_start", "reply", "wait_end") + edges("f_w1", "f_w2") + PLANE_END))

    def report(key_xml: str) -> set[tuple[str, str | None]]:
        return warnings(lint(ctx, variant((script_task, loop.format(key=key_xml)), base=base)))

    assert report("") == {("loop_message_without_key", "reply")}
    assert report(key.format(value="case_no + &quot;:&quot; + unit")) == set()
    assert report(key.format(value="case_no +")) == {("runtime_expression_invalid", "reply")}


def test_flow_without_condition_is_reported_once_as_deploys_error(ctx) -> None:  # type: ignore[no-untyped-def]
    """SpiffWorkflow refuses a non-default, unconditioned gateway exit; the lint reports it once, as the error
    carrying the rule's code (a gateway deploy never parses, e.g. an unreachable one, gets the warning)."""
    report = lint(ctx, variant(('<bpmn:conditionExpression>decision == "return"</bpmn:conditionExpression>', "")))
    assert [(f.severity, f.code, f.element_id) for f in report.findings] == [
        ("error", "flow_without_condition", "f_return")]
    unreachable = variant(('<bpmn:conditionExpression>decision == "return"</bpmn:conditionExpression>', ""),
                          ('<bpmn:sequenceFlow id="f_checked" sourceRef="check" targetRef="gw_check" />',
                           '<bpmn:sequenceFlow id="f_checked" sourceRef="check" targetRef="end_returned" />'))
    report = lint(ctx, unreachable)
    assert ("flow_without_condition", "f_return") in {(f.code, f.element_id) for f in report.findings}


def test_file_name_mismatch_is_deploys_error_with_its_code(ctx) -> None:  # type: ignore[no-untyped-def]
    """docs §1: the file is named after its process. Deploy refuses a mismatch (check 4), so the lint reports it
    as an error with the stable code ``file_name_mismatch`` rather than repeating it as a warning."""
    report = lint(ctx, SAMPLE, name="sample_copy.bpmn")
    assert not report.ok
    assert [(f.severity, f.code, f.filename) for f in report.errors] == [
        ("error", "file_name_mismatch", "sample_copy.bpmn")]
    assert "file_name_mismatch" not in {f.code for f in lint(ctx, SAMPLE).findings}


BAD = {
    "unknown form": ('value="acknowledge"', 'value="no_such_form"'),
    "unknown role": ('name="intake_officer"', 'name="intake_typo"'),
    "bad due": ('name="dueWorkingDays" value="2"', 'name="dueWorkingDays" value="zwei"'),
    "bad condition": ('decision == "return"', "decision =="),
    "nameless property (deploy used to crash)": ('<spiffworkflow:property name="dueWorkingDays" value="2" />',
                                                 '<spiffworkflow:property value="2" />'),
    "empty script": ("<bpmn:script>accepted = True</bpmn:script>", "<bpmn:script></bpmn:script>"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_errors_are_exactly_what_deploy_refuses(ctx, case: str) -> None:  # type: ignore[no-untyped-def]
    text = variant(BAD[case])
    report = lint(ctx, text)
    with pytest.raises(DeploymentError) as refused:
        deploy_files(ctx, {"lint_sample.bpmn": text.encode()}, actor=DESIGNER)
    problems = refused.value.details["problems"]
    assert sorted((f.code, f.message, f.element_id, f.line) for f in report.errors) == sorted(
        (p["code"], p["message"], p["element_id"], p["line"]) for p in problems)
    assert report.errors and not report.ok
    assert ctx.session.execute(select(func.count()).select_from(ProcessDefinition)).scalar() == 0


def test_malformed_xml_is_an_error_finding_not_an_exception(ctx) -> None:  # type: ignore[no-untyped-def]
    report = lint_files(ctx, {"lint_sample.bpmn": b"<?xml version='1.0'?>\n<bpmn:definitions>\n<oops>",
                              "street_intake.bpmn": (BPMN_DIR / "street_intake.bpmn").read_bytes()})
    [error] = report.errors
    assert (error.code, error.filename) == ("xml_malformed", "lint_sample.bpmn")
    assert error.line and error.line >= 2 and "XML" in error.message
    assert report.processes == ["street_intake"]


def test_a_process_without_id_is_an_error_not_an_exception(ctx) -> None:  # type: ignore[no-untyped-def]
    report = lint(ctx, variant(('<bpmn:process id="lint_sample"', "<bpmn:process")))
    assert report.errors and not report.ok


def test_no_files_is_an_error(ctx) -> None:  # type: ignore[no-untyped-def]
    report = lint_files(ctx, {})
    assert [(f.code, f.message) for f in report.errors] == [("no_files", "没有可部署的文件")]


def test_lint_writes_nothing(ctx) -> None:  # type: ignore[no-untyped-def]
    lint(ctx, SAMPLE)
    assert not ctx.session.new and not ctx.session.dirty
    assert ctx.session.execute(select(func.count()).select_from(ProcessDefinition)).scalar() == 0


def test_shipped_diagrams_lint_clean(ctx) -> None:  # type: ignore[no-untyped-def]
    """The exact set of findings on bpmn/: none. A diagram change that adds a warning fails here first."""
    files = {p.name: p.read_bytes() for p in sorted(BPMN_DIR.glob("*.bpmn"))}
    report = lint_files(ctx, files)
    assert [(f.severity, f.filename, f.element_id, f.code) for f in report.findings] == []
    assert report.processes == ["cross_city_batch", "decision_feedback", "individual_recheck",
                                "standard_verification", "street_intake"]
