"""``hedui bpmn migrate`` (版本迁移 from the command line): the plan, the dry run, the migration, a failing case."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from engine.context import Actor
from engine.models import Event
from engine.models import WorkflowInstance
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from tests.engine.migration_factory import ADDED_STEP
from tests.engine.migration_factory import REMOVED_REVIEW
from tests.engine.migration_factory import V1

INTAKE = Actor("li_intake", "intake_officer")


def _deploy(runner: Any, tmp_path: Path, text: str) -> None:
    path = tmp_path / "linear_review.bpmn"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(args=["bpmn", "deploy", str(path)])
    assert result.exit_code == 0, result.output


def _cases(app: Any, *, past_intake: str) -> None:
    """HD-C-1 waits at 受理初审; ``past_intake`` waits at 审核复审."""
    with app.extensions["hedui"].unit_of_work() as ctx:
        start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-C-1")
        later = start_instance(ctx, "linear_review", actor=INTAKE, business_key=past_intake)
        [task] = list_open_tasks(ctx, instance_id=later.id)
        complete_task(ctx, task.id, {}, actor=INTAKE)


def _state(app: Any) -> tuple[list[tuple[str | None, int, int]], int]:
    session = app.extensions["hedui"].new_context().session
    rows = session.execute(select(WorkflowInstance.business_key, WorkflowInstance.definition_id,
                                  WorkflowInstance.version).order_by(WorkflowInstance.id)).all()
    events = session.execute(select(func.count(Event.id)).where(Event.kind == "migrated")).scalar_one()
    return [tuple(r) for r in rows], events


def test_dry_run_prints_the_plan_and_changes_nothing(runner, app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _deploy(runner, tmp_path, V1)
    _cases(app, past_intake="HD-C-2")
    _deploy(runner, tmp_path, REMOVED_REVIEW)
    before = _state(app)
    result = runner.invoke(args=["bpmn", "migrate", "linear_review", "--from", "1", "--to", "2", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "HD-C-1  可迁移  当前：受理初审（待办）" in result.output
    assert "HD-C-2  不可迁移" in result.output and "「审核复审」（review）在新版本中已删除" in result.output
    assert "删除步骤 review「审核复审」" in result.output and "试运行" in result.output
    assert _state(app) == before


def test_migrate_moves_the_compatible_cases_in_one_command(runner, app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _deploy(runner, tmp_path, V1)
    _cases(app, past_intake="HD-C-3")
    _deploy(runner, tmp_path, ADDED_STEP)
    result = runner.invoke(args=["bpmn", "migrate", "linear_review", "--from", "1", "--to", "2",
                                 "--reason", "增加法规审查"])
    assert result.exit_code == 0, result.output
    assert "新增步骤 legal_check「法规审查」" in result.output and "已迁移 2 件，跳过 0 件" in result.output
    (rows, events) = _state(app)
    assert len({definition for _, definition, _ in rows}) == 1 and events == 2
    session = app.extensions["hedui"].new_context().session
    actors = session.execute(select(Event.actor).where(Event.kind == "migrated")).scalars().all()
    assert actors == ["cli", "cli"]


def test_migrate_only_the_named_instance_and_refusals(runner, app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _deploy(runner, tmp_path, V1)
    _cases(app, past_intake="HD-C-4")
    _deploy(runner, tmp_path, ADDED_STEP)
    session = app.extensions["hedui"].new_context().session
    first = session.execute(select(WorkflowInstance.id).where(WorkflowInstance.business_key == "HD-C-1")).scalar_one()
    missing = runner.invoke(args=["bpmn", "migrate", "linear_review", "--from", "1", "--to", "2"])
    assert missing.exit_code != 0 and "--reason" in missing.output
    same = runner.invoke(args=["bpmn", "migrate", "linear_review", "--from", "2", "--to", "2", "--reason", "x"])
    assert same.exit_code == 1 and "原版本与目标版本相同" in same.output
    unknown = runner.invoke(args=["bpmn", "migrate", "linear_review", "--from", "1", "--to", "9", "--reason", "x"])
    assert unknown.exit_code == 1 and "没有第 9 版" in unknown.output
    result = runner.invoke(args=["bpmn", "migrate", "linear_review", "--from", "1", "--to", "2",
                                 "--instance", str(first), "--reason", "先迁移一件"])
    assert result.exit_code == 0 and "已迁移 1 件" in result.output and "HD-C-4" not in result.output
    assert _state(app)[1] == 1


def test_a_failing_case_is_listed_the_others_are_committed_and_the_exit_status_is_1(runner, app, tmp_path,
                                                                                    monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An unreadable case: 不可迁移 in the plan (``--plan``), 失败 in the migration; the other case is committed."""
    from sqlalchemy import text

    from engine.services import instance_migration

    monkeypatch.setattr(instance_migration, "CHUNK", 1)  # one case per chunk: the plan streams across chunks
    _deploy(runner, tmp_path, V1)
    _cases(app, past_intake="HD-C-5")
    _deploy(runner, tmp_path, ADDED_STEP)
    with app.extensions["hedui"].unit_of_work() as ctx:
        ctx.session.execute(text("UPDATE workflow_instances SET state = '[', version = version + 1 "
                                 "WHERE business_key = 'HD-C-1'"))
    plan = runner.invoke(args=["bpmn", "migrate", "linear_review", "--from", "1", "--to", "2", "--plan"])
    assert plan.exit_code == 0, plan.output
    assert "运行中的案件 2 件" in plan.output and "HD-C-1  不可迁移" in plan.output and "HD-C-5  可迁移" in plan.output
    assert "可迁移 1 件，不可迁移 1 件" in plan.output and "试运行" in plan.output
    result = runner.invoke(args=["bpmn", "migrate", "linear_review", "--from", "1", "--to", "2",
                                 "--reason", "增加法规审查"])
    assert result.exit_code == 1
    assert "已迁移 1 件，跳过 0 件，失败 1 件" in result.output and "失败 HD-C-1：迁移时发生内部错误" in result.output
    assert "JSONDecodeError" not in result.output
    (rows, events) = _state(app)
    assert events == 1 and len({definition for _, definition, _ in rows}) == 2


def test_background_queues_a_run_and_migrate_status_follows_it(runner, app, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``--background`` records a run and queues the job (nothing migrates in the command itself);
    ``migrate-status`` shows its state, counts and the cases not moved."""
    from tests.web.test_cases_pages import RecordingQueue

    queue = RecordingQueue(app.extensions["hedui"])
    monkeypatch.setattr(app.extensions["hedui"], "jobs", queue)
    _deploy(runner, tmp_path, V1)
    _cases(app, past_intake="HD-C-6")
    _deploy(runner, tmp_path, REMOVED_REVIEW)
    mixed = runner.invoke(args=["bpmn", "migrate", "linear_review", "--from", "1", "--to", "2", "--background",
                                "--instance", "1", "--reason", "x"])
    assert mixed.exit_code != 0 and "不能与 --dry-run 或 --instance 同用" in mixed.output
    result = runner.invoke(args=["bpmn", "migrate", "linear_review", "--from", "1", "--to", "2", "--background",
                                 "--reason", "删除复审步骤"])
    assert result.exit_code == 0, result.output
    found = re.search(r"已排队后台迁移 (\d+)：linear_review 第 1 版 → 第 2 版，运行中的案件 2 件", result.output)
    assert found is not None, result.output
    run_id = found.group(1)  # PostgreSQL sequences do not roll back with the test: not always 1
    assert f"hedui bpmn migrate-status {run_id}" in result.output and "HD-C-1" not in result.output
    assert [name for name, _ in queue.jobs] == ["migrations.run"] and _state(app)[1] == 0
    twice = runner.invoke(args=["bpmn", "migrate", "linear_review", "--from", "1", "--to", "2", "--background",
                                "--reason", "再来一次"])
    assert twice.exit_code == 1 and f"已有一次未结束的后台迁移（编号 {run_id}）" in twice.output
    queued = runner.invoke(args=["bpmn", "migrate-status", run_id])
    assert queued.exit_code == 0 and "状态：等待执行" in queued.output
    assert queue.run_all() == ["done"]
    done = runner.invoke(args=["bpmn", "migrate-status", run_id])
    assert done.exit_code == 0, done.output
    assert "状态：已完成，进度 100%" in done.output and "已迁移 1 件，未迁移 1 件，失败 0 件" in done.output
    assert "未迁移 HD-C-6：当前所在步骤「审核复审」（review）在新版本中已删除" in done.output
    assert _state(app)[1] == 1
    missing = runner.invoke(args=["bpmn", "migrate-status", "999999"])
    assert missing.exit_code == 1 and "该迁移记录不存在" in missing.output
