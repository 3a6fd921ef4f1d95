"""``hedui audit verify|replay``: tamper detection over the whole log, and replay of cases.

Both only read: they run in a session that is rolled back, and exit 1 when they find a problem,
so they can run from cron or CI.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from engine import audit
from engine.context import EngineContext
from engine.models import WorkflowInstance
from web.state import HeduiState

audit_cli = AppGroup("audit", help="审计：事件日志与流程状态的防篡改核验、案件重放")


@contextmanager
def _reading() -> Iterator[EngineContext]:
    state: HeduiState = current_app.extensions["hedui"]
    ctx = state.new_context()
    try:
        yield ctx
    finally:
        ctx.session.rollback()
        ctx.session.close()


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check the hash chain of every event stream and every stored workflow state."""
    with _reading() as ctx:
        report = audit.verify_all(ctx)
    if report.ok:
        click.secho(f"核验通过：{report.events_checked} 个事件、{report.instances_checked} 个案件，未发现篡改",
                    fg="green")
        return
    click.secho(f"发现 {len(report.problems)} 处问题（共核验 {report.events_checked} 个事件、"
                f"{report.instances_checked} 个案件）：", fg="red", err=True)
    for problem in report.problems:
        click.secho(f"  {problem}", fg="red", err=True)
    sys.exit(1)


@audit_cli.command("replay")
@click.argument("instance_ids", nargs=-1, type=int)
@click.option("--all", "all_", is_flag=True, help="回放全部案件")
@click.option("--quiet", is_flag=True, help="只列出不一致的案件")
def audit_replay(instance_ids: tuple[int, ...], all_: bool, quiet: bool) -> None:
    """Replay cases from their event log and compare with the stored state (INSTANCE_ID ... or --all)."""
    if not instance_ids and not all_:
        raise click.UsageError("请指定案件编号，或使用 --all 回放全部案件")
    failed = 0
    with _reading() as ctx:
        ids = None if all_ else list(instance_ids)
        if ids is not None:
            known = set(ctx.session.execute(
                select(WorkflowInstance.id).where(WorkflowInstance.id.in_(ids))).scalars())
            for missing in [i for i in ids if i not in known]:
                click.secho(f"案件 {missing}：不存在", fg="red", err=True)
                failed += 1
            ids = [i for i in ids if i in known]
        count, started = 0, time.perf_counter()
        for result in audit.iter_replays(ctx, ids):
            count += 1
            name = f"案件 {result.instance_id}（{result.business_key or '无业务编号'}）"
            if result.consistent:
                if not quiet:
                    click.secho(f"{name}：一致（{result.steps} 步）", fg="green")
                continue
            failed += 1
            where = result.first_divergence.message if result.first_divergence else ""
            click.secho(f"{name}：不一致（{result.steps} 步）—— {where}", fg="red")
        elapsed = time.perf_counter() - started
    rate = count / elapsed if elapsed > 0 else 0.0
    click.echo(f"共回放 {count} 个案件，{failed} 个有问题，用时 {elapsed:.2f} 秒（{rate:.1f} 件/秒）")
    if failed:
        sys.exit(1)
