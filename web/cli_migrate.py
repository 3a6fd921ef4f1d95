"""``hedui bpmn migrate``: move running cases of a process to another deployed version (版本迁移).

Prints the plan (what changed between the versions, then per case: 可迁移 / 不可迁移 with the reasons,
line by line as the cases are checked, a chunk at a time), then migrates the compatible cases in one
commit unless ``--dry-run`` (alias ``--plan``). A case that fails unexpectedly is rolled back alone
and listed as 失败; the others are still committed, and the exit status is 1. The actor is the CLI
actor that deploys (``web.cli.CLI_ACTOR``).

``--background`` instead queues a run of every compatible case (``engine.services.migration_runs``:
chunks of 200, one commit each, resumable) and prints its id without checking the cases first;
``hedui bpmn migrate-status RUN_ID`` shows its progress and the cases it did not move.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import click

from engine.errors import HeduiError
from engine.models.migration_run import RUN_STATUS_NAMES
from engine.services.instance_migration import MigrationPlan
from engine.services.instance_migration import MigrationResult
from engine.services.instance_migration import PlanItem
from engine.services.instance_migration import iter_plan_items
from engine.services.instance_migration import migrate_instances
from engine.services.instance_migration import plan_migration
from engine.services.migration_runs import create_run
from engine.services.migration_runs import get_run
from engine.services.migration_runs import is_interrupted
from engine.services.migration_runs import list_run_cases
from web.cli import CLI_ACTOR
from web.cli import _fail
from web.cli import _state
from web.cli import bpmn_cli

_CHANGE_NAMES = {"added": "新增", "removed": "删除", "changed": "修改"}


def _case(item: PlanItem) -> str:
    return item.business_key or f"（无业务编号，实例 {item.instance_id}）"


def _echo_plan(plan: MigrationPlan, items: Iterable[PlanItem]) -> None:
    """The header and the diff, then each case as soon as it is checked (``items`` is a stream)."""
    click.echo(f"{plan.process_id}（{plan.process_name}）第 {plan.from_version} 版 → 第 {plan.to_version} 版")
    for change in plan.changes:
        click.echo(f"  {_CHANGE_NAMES[change.change]}步骤 {change.bpmn_id}「{change.name}」")
    if not plan.total:
        click.echo("该版本没有运行中的案件")
        return
    click.echo(f"运行中的案件 {plan.total} 件，逐件检查：")
    compatible = 0
    for item in items:
        compatible += item.compatible
        verdict = click.style("可迁移", fg="green") if item.compatible else click.style("不可迁移", fg="red")
        click.echo(f"{_case(item)}  {verdict}  当前：{'、'.join(item.current) or '无'}")
        for reason in item.reasons:
            click.echo(f"    原因：{reason}")
        for note in item.notes:
            click.echo(f"    注意：{note}")
    click.echo(f"可迁移 {compatible} 件，不可迁移 {plan.total - compatible} 件")


def _echo_result(result: MigrationResult) -> None:
    colour = "red" if result.failed else "green"
    click.secho(f"已迁移 {len(result.migrated)} 件，跳过 {len(result.skipped)} 件，失败 {len(result.failed)} 件",
                fg=colour)
    for item in result.skipped:
        click.echo(f"  跳过 {_case(item)}：{'；'.join(item.reasons)}")
    for item in result.failed:
        click.secho(f"  失败 {_case(item)}：{'；'.join(item.reasons)}", fg="red", err=True)


@bpmn_cli.command("migrate")
@click.argument("process_id")
@click.option("--from", "from_version", type=int, required=True, help="the version the cases run on now")
@click.option("--to", "to_version", type=int, required=True, help="the version to move them to")
@click.option("--instance", "instance_ids", type=int, multiple=True, help="only these instances (repeatable)")
@click.option("--dry-run", "--plan", "dry_run", is_flag=True, help="print the plan only; change nothing")
@click.option("--reason", default="", help="why the cases are moved (recorded with each case; required)")
@click.option("--background", is_flag=True, help="queue a background run of every compatible case (chunked commits)")
def bpmn_migrate(process_id: str, from_version: int, to_version: int, instance_ids: tuple[int, ...],
                 dry_run: bool, reason: str, background: bool) -> None:
    """Migrate running cases of PROCESS_ID from version --from to version --to (compatible ones only)."""
    if not dry_run and not reason.strip():
        raise click.UsageError("请用 --reason 填写迁移原因")
    if background and (dry_run or instance_ids):
        raise click.UsageError("--background 迁移全部可迁移案件，不能与 --dry-run 或 --instance 同用")
    if background:
        _queue_run(process_id, from_version, to_version, reason)
        return
    chosen = list(instance_ids) or None
    try:
        with _state().unit_of_work() as ctx:
            plan = plan_migration(ctx, process_id, from_version, to_version, instance_ids=chosen, limit=0)
            _echo_plan(plan, iter_plan_items(ctx, plan, instance_ids=chosen))
            if dry_run:
                ctx.session.rollback()
                click.echo("试运行：未迁移任何案件")
                return
            result = migrate_instances(ctx, process_id, from_version, to_version, actor=CLI_ACTOR,
                                       reason=reason, instance_ids=chosen)
    except HeduiError as exc:
        _fail(exc)
    _echo_result(result)  # after the commit: the cases that moved stay moved
    if result.failed:
        sys.exit(1)


def _queue_run(process_id: str, from_version: int, to_version: int, reason: str) -> None:
    state = _state()
    try:
        with state.unit_of_work() as ctx:
            run = create_run(ctx, process_id, from_version, to_version, actor=CLI_ACTOR, reason=reason)
            run_id, total = run.id, run.total
    except HeduiError as exc:
        _fail(exc)
    click.secho(f"已排队后台迁移 {run_id}：{process_id} 第 {from_version} 版 → 第 {to_version} 版，"
                f"运行中的案件 {total} 件", fg="green")
    click.echo(f"查看进度：hedui bpmn migrate-status {run_id}（或页面 /designer/migrate/{process_id}/runs/{run_id}）")
    if state.config["JOBS"] != "celery":
        # the in-process queue runs it in this process's thread pool, which the interpreter joins at exit
        click.echo("后台任务在本进程内执行（HEDUI_JOBS=inprocess）：迁移完成后命令才会退出")


@bpmn_cli.command("migrate-status")
@click.argument("run_id", type=int)
@click.option("--limit", default=50, show_default=True, help="cases not moved to list")
def bpmn_migrate_status(run_id: int, limit: int) -> None:
    """Show a background migration run: state, counts and the cases it did not move."""
    state = _state()
    try:
        with state.unit_of_work() as ctx:
            run = get_run(ctx, run_id)
            stale = is_interrupted(ctx, run, stale_minutes=int(state.config["MIGRATION_RUN_STALE_MINUTES"]))
            click.echo(f"后台迁移 {run.id}：{run.process_id} 第 {run.from_definition.version} 版 → "
                       f"第 {run.to_definition.version} 版（发起人 {run.created_by}，原因：{run.reason}）")
            click.echo(f"状态：{'已中断' if stale else RUN_STATUS_NAMES[run.status.value]}，进度 {run.progress}%")
            click.echo(f"共 {run.total} 件：已迁移 {run.migrated} 件，未迁移 {run.blocked} 件，失败 {run.failed} 件")
            for case in list_run_cases(ctx, run, limit=limit):
                verb = "失败" if case.outcome.value == "failed" else "未迁移"
                click.echo(f"  {verb} {case.business_key or f'（无业务编号，实例 {case.instance_id}）'}：{case.reason}")
    except HeduiError as exc:
        _fail(exc)
