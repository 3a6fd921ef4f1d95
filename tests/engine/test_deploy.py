"""Deployment: validation errors name file, element and line; identical files are a no-op."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.context import Actor
from engine.errors import DeploymentError
from engine.models import CurrentDefinition
from engine.models import Event
from engine.models import ProcessDefinition
from engine.services.deploy import deploy_files
from tests.conftest import read_files

DESIGNER = Actor("designer", "process_designer")


def _variant(content: bytes, old: str, new: str) -> bytes:
    text = content.decode()
    assert old in text, old
    return text.replace(old, new, 1).encode()


def _problems(ctx, files):  # type: ignore[no-untyped-def]
    with pytest.raises(DeploymentError) as info:
        deploy_files(ctx, files, actor=DESIGNER)
    return info.value


def test_deploy_stores_definition_and_makes_it_current(ctx) -> None:  # type: ignore[no-untyped-def]
    [result] = deploy_files(ctx, read_files("linear_review.bpmn"), actor=DESIGNER)
    assert (result.process_id, result.version, result.created) == ("linear_review", 1, True)
    definition = ctx.session.get(CurrentDefinition, "linear_review").definition
    assert definition.content_hash == result.content_hash
    assert [f.filename for f in definition.files] == ["linear_review.bpmn"]
    tasks = {t["bpmn_id"]: t for t in definition.task_catalogue["user_tasks"]}
    assert tasks["review"]["lane"] == "review_officer"
    assert tasks["review"]["properties"]["formKey"] == "review"


def test_identical_files_are_a_noop(ctx) -> None:  # type: ignore[no-untyped-def]
    first = deploy_files(ctx, read_files("linear_review.bpmn"), actor=DESIGNER)
    second = deploy_files(ctx, read_files("linear_review.bpmn"), actor=DESIGNER)
    assert second[0].created is False and second[0].content_hash == first[0].content_hash
    count = ctx.session.execute(select(func.count()).select_from(ProcessDefinition)).scalar()
    assert count == 1
    kinds = ctx.session.execute(select(Event.kind).where(Event.stream == "system")).scalars().all()
    assert kinds == ["deployed"]


def test_changed_file_is_a_new_version_and_old_one_can_be_reactivated(ctx) -> None:  # type: ignore[no-untyped-def]
    original = read_files("linear_review.bpmn")
    changed = {"linear_review.bpmn": _variant(original["linear_review.bpmn"], 'name="审核复审"',
                                              'name="审核复审（新）"')}
    v1 = deploy_files(ctx, original, actor=DESIGNER)[0]
    v2 = deploy_files(ctx, changed, actor=DESIGNER)[0]
    assert (v1.version, v2.version) == (1, 2)
    assert ctx.session.get(CurrentDefinition, "linear_review").definition.version == 2
    again = deploy_files(ctx, original, actor=DESIGNER)[0]
    assert again.created is False and again.version == 1
    assert ctx.session.get(CurrentDefinition, "linear_review").definition.version == 1


@pytest.mark.parametrize(
    ("old", "new", "element", "fragment"),
    [
        ('name="review_officer"', 'name="reviewer_typo"', "lane_review", "不是已登记的角色代码"),
        ('value="acknowledge"', 'value="no_such_form"', "intake_check", "表单「no_such_form」不存在"),
        ('<spiffworkflow:property name="formKey" value="review" />', "", "review", "缺少 formKey"),
        ('value="3"', 'value="three"', "intake_check", "dueWorkingDays"),
        ('name="sodNotSameAs" value="intake_check"', 'name="sodNotSameAs" value="ghost_task"', "review",
         "引用的任务「ghost_task」在本流程中不存在"),
        ('name="allowedDecisions"', 'name="allowedDecision"', "review", "未知的任务属性 allowedDecision"),
        ('decision == "accept"', "decision ==", "f_accept", "表达式无法在受限环境中编译"),
        ('decision == "terminate"', "__import__('os').system('true')", "f_terminate", "表达式无法在受限环境中编译"),
        ("<bpmn:flowNodeRef>review</bpmn:flowNodeRef>", "", "review", "必须位于某个泳道"),
    ],
)
def test_convention_violations_name_file_element_and_line(ctx, old, new, element, fragment) -> None:  # type: ignore[no-untyped-def]
    files = read_files("linear_review.bpmn")
    files["linear_review.bpmn"] = _variant(files["linear_review.bpmn"], old, new)
    error = _problems(ctx, files)
    matching = [p for p in error.details["problems"] if fragment in p["message"]]
    assert matching, error.message
    assert matching[0]["file"] == "linear_review.bpmn"
    assert matching[0]["element_id"] == element
    assert matching[0]["line"] and matching[0]["line"] > 1
    assert "linear_review.bpmn:" in error.message
    assert ctx.session.execute(select(func.count()).select_from(ProcessDefinition)).scalar() == 0


def test_xml_syntax_error_reports_line(ctx) -> None:  # type: ignore[no-untyped-def]
    error = _problems(ctx, {"linear_review.bpmn": b"<?xml version='1.0'?>\n<bpmn:definitions>\n<oops>"})
    [problem] = error.details["problems"]
    assert problem["file"] == "linear_review.bpmn" and problem["line"] >= 2
    assert "XML" in problem["message"]


def test_xsd_violation_is_refused(ctx) -> None:  # type: ignore[no-untyped-def]
    files = read_files("linear_review.bpmn")
    files["linear_review.bpmn"] = _variant(files["linear_review.bpmn"], "<bpmn:endEvent id=\"end_terminated\"",
                                           "<bpmn:notAnElement id=\"x\" /><bpmn:endEvent id=\"end_terminated\"")
    error = _problems(ctx, files)
    assert error.details["problems"][0]["line"]


def test_file_name_must_match_process_id(ctx) -> None:  # type: ignore[no-untyped-def]
    files = {"other_name.bpmn": read_files("linear_review.bpmn")["linear_review.bpmn"]}
    error = _problems(ctx, files)
    assert any("与文件名同名" in p["message"] for p in error.details["problems"])


def test_bare_iso_duration_in_timer_is_refused(ctx) -> None:  # type: ignore[no-untyped-def]
    files = read_files("timer_boundary.bpmn")
    files["timer_boundary.bpmn"] = _variant(files["timer_boundary.bpmn"],
                                            "<bpmn:timeDate>materials_due</bpmn:timeDate>",
                                            "<bpmn:timeDuration>P3D</bpmn:timeDuration>")
    error = _problems(ctx, files)
    assert any("须加引号" in p["message"] and p["element_id"] == "materials_overdue" for p in error.details["problems"])


def test_one_bad_file_deploys_nothing(ctx) -> None:  # type: ignore[no-untyped-def]
    files = read_files("linear_review.bpmn", "timer_boundary.bpmn")
    files["timer_boundary.bpmn"] = _variant(files["timer_boundary.bpmn"], 'value="acknowledge"', 'value="nope"')
    _problems(ctx, files)
    assert ctx.session.execute(select(func.count()).select_from(ProcessDefinition)).scalar() == 0
