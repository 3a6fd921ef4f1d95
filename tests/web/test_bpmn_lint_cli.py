"""``hedui bpmn lint`` (process designer tools): findings per file, a summary, exit codes, JSON; writes nothing."""

from __future__ import annotations

import json

from sqlalchemy import func
from sqlalchemy import select

from engine.models import Event
from engine.models import ProcessDefinition
from tests.conftest import BPMN_DIR
from tests.conftest import DATA

SAMPLE = (DATA / "lint_sample.bpmn").read_text(encoding="utf-8")


def _write(tmp_path, text: str, name: str = "lint_sample.bpmn"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _nothing_written(app) -> bool:  # type: ignore[no-untyped-def]
    session = app.extensions["hedui"].new_context().session
    try:
        return (session.execute(select(func.count()).select_from(ProcessDefinition)).scalar() == 0
                and session.execute(select(func.count()).select_from(Event)).scalar() == 0)
    finally:
        session.close()


def test_default_paths_are_the_shipped_diagrams_and_they_lint_clean(runner, app) -> None:  # type: ignore[no-untyped-def]
    app.config["BPMN_DIR"] = str(BPMN_DIR)
    result = runner.invoke(args=["bpmn", "lint", "--strict"])
    assert result.exit_code == 0, result.output
    count = len(list(BPMN_DIR.glob("*.bpmn"))) + len(list(BPMN_DIR.glob("*.dmn")))
    assert result.output.strip() == f"检查 {count} 个文件：0 个错误，0 个警告"
    assert _nothing_written(app)


def test_warnings_are_listed_and_fail_only_with_strict(runner, app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, SAMPLE.replace("<bpmn:documentation>核对委托材料是否齐全。</bpmn:documentation>", ""))
    result = runner.invoke(args=["bpmn", "lint", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    line_no = SAMPLE.splitlines().index('    <bpmn:userTask id="check" name="受理初审">') + 1
    assert lines[0].startswith(f"lint_sample.bpmn:{line_no} check [警告] user_task_without_documentation "
                               "用户任务「受理初审」")
    assert lines[-1] == "检查 1 个文件：0 个错误，1 个警告"
    assert runner.invoke(args=["bpmn", "lint", "--strict", str(path)]).exit_code == 1
    assert _nothing_written(app)


def test_errors_exit_1_and_are_grouped_by_file(runner, app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = _write(tmp_path, SAMPLE.replace('value="acknowledge"', 'value="no_such_form"'))
    other = tmp_path / "other"
    other.mkdir()
    warned = _write(other, SAMPLE.replace("lint_sample", "lint_second").replace('name="受理初审"', 'name="Check"'),
                    name="lint_second.bpmn")
    result = runner.invoke(args=["bpmn", "lint", str(warned), str(bad)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["lint_sample.bpmn", "lint_second.bpmn"]
    assert "[错误] form_unknown 表单「no_such_form」不存在于 forms/" in lines[0]
    assert "[警告] name_not_chinese" in lines[1]
    assert lines[-1] == "检查 2 个文件：1 个错误，1 个警告"
    assert _nothing_written(app)


def test_json_prints_the_report(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, SAMPLE.replace('default="f_accept"', 'default="f_return"'))
    result = runner.invoke(args=["bpmn", "lint", "--json", str(path)])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert (report["ok"], report["processes"], report["errors"], report["warnings"]) == (False, ["lint_sample"], 1, 0)
    assert [(f["severity"], f["code"], f["element_id"]) for f in report["findings"]] == [
        ("error", "flow_without_condition", "f_accept")]
    assert set(report["findings"][0]) == {"severity", "code", "message", "filename", "element_id", "line"}


def test_malformed_xml_is_reported_not_raised(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, "<?xml version='1.0'?>\n<bpmn:definitions>\n<oops>")
    result = runner.invoke(args=["bpmn", "lint", str(path)])
    assert result.exit_code == 1
    assert "[错误] xml_malformed XML 格式错误" in result.output
