"""``hedui bpmn migrate``: move running cases of a process to another deployed version (版本迁移).

Prints the plan (per case: 可迁移 / 不可迁移 with the reasons, and what changed between the versions),
then migrates the compatible cases in one commit unless ``--dry-run``. The actor is the CLI actor
that deploys (``web.cli.CLI_ACTOR``).
"""

from __future__ import annotations

import click

from engine.errors import HeduiError
from engine.services.instance_migration import MigrationPlan
from engine.services.instance_migration import PlanItem
from engine.services.instance_migration import migrate_instances
from engine.services.instance_migration import plan_migration
from web.cli import CLI_ACTOR
from web.cli import _fail
from web.cli import _state
from web.cli import bpmn_cli

_CHANGE_NAMES = {"added": "新增", "removed": "删除", "changed": "修改"}


def _case(item: PlanItem) -> str:
    return item.business_key or f"（无业务编号，实例 {item.instance_id}）"


def _echo_plan(plan: MigrationPlan) -> None:
    click.echo(f"{plan.process_id}（{plan.process_name}）第 {plan.from_version} 版 → 第 {plan.to_version} 版")
    for change in plan.changes:
        click.echo(f"  {_CHANGE_NAMES[change.change]}步骤 {change.bpmn_id}「{change.name}」")
    if not plan.items:
        click.echo("该版本没有运行中的案件")
    for item in plan.items:
        verdict = click.style("可迁移", fg="green") if item.compatible else click.style("不可迁移", fg="red")
        click.echo(f"{_case(item)}  {verdict}  当前：{'、'.join(item.current) or '无'}")
        for reason in item.reasons:
            click.echo(f"    原因：{reason}")


@bpmn_cli.command("migrate")
@click.argument("process_id")
@click.option("--from", "from_version", type=int, required=True, help="the version the cases run on now")
@click.option("--to", "to_version", type=int, required=True, help="the version to move them to")
@click.option("--instance", "instance_ids", type=int, multiple=True, help="only these instances (repeatable)")
@click.option("--dry-run", is_flag=True, help="print the plan only; change nothing")
@click.option("--reason", default="", help="why the cases are moved (recorded with each case; required)")
def bpmn_migrate(process_id: str, from_version: int, to_version: int, instance_ids: tuple[int, ...],
                 dry_run: bool, reason: str) -> None:
    """Migrate running cases of PROCESS_ID from version --from to version --to (compatible ones only)."""
    if not dry_run and not reason.strip():
        raise click.UsageError("请用 --reason 填写迁移原因")
    chosen = list(instance_ids) or None
    try:
        with _state().unit_of_work() as ctx:
            plan = plan_migration(ctx, process_id, from_version, to_version, instance_ids=chosen)
            _echo_plan(plan)
            if dry_run:
                ctx.session.rollback()
                click.echo("试运行：未迁移任何案件")
                return
            result = migrate_instances(ctx, process_id, from_version, to_version, actor=CLI_ACTOR,
                                       reason=reason, instance_ids=chosen)
    except HeduiError as exc:
        _fail(exc)
    click.secho(f"已迁移 {len(result.migrated)} 件，跳过 {len(result.skipped)} 件", fg="green")
    for item in result.skipped:
        click.echo(f"  跳过 {_case(item)}：{'；'.join(item.reasons)}")
