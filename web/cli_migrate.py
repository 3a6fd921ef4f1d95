"""``hedui bpmn migrate``: move running cases of a process to another deployed version (版本迁移).

Prints the plan (what changed between the versions, then per case: 可迁移 / 不可迁移 with the reasons,
line by line as the cases are checked, a chunk at a time), then migrates the compatible cases in one
commit unless ``--dry-run`` (alias ``--plan``). A case that fails unexpectedly is rolled back alone
and listed as 失败; the others are still committed, and the exit status is 1. The actor is the CLI
actor that deploys (``web.cli.CLI_ACTOR``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import click

from engine.errors import HeduiError
from engine.services.instance_migration import MigrationPlan
from engine.services.instance_migration import MigrationResult
from engine.services.instance_migration import PlanItem
from engine.services.instance_migration import iter_plan_items
from engine.services.instance_migration import migrate_instances
from engine.services.instance_migration import plan_migration
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
def bpmn_migrate(process_id: str, from_version: int, to_version: int, instance_ids: tuple[int, ...],
                 dry_run: bool, reason: str) -> None:
    """Migrate running cases of PROCESS_ID from version --from to version --to (compatible ones only)."""
    if not dry_run and not reason.strip():
        raise click.UsageError("请用 --reason 填写迁移原因")
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
