"""The ``hedui`` command: a FlaskGroup over ``create_app``; commands are ``hedui <noun> <verb>``.

Commands stay thin: parse options, call one service inside a unit of work (which commits),
echo one line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask
from flask import current_app
from flask.cli import AppGroup
from flask.cli import FlaskGroup
from flask.cli import with_appcontext
from sqlalchemy import select

from engine import migrate
from engine.context import Actor
from engine.errors import HeduiError
from web.state import HeduiState

if TYPE_CHECKING:
    from engine.bpmn_lint import LintReport

CLI_ACTOR = Actor("cli", "admin")


def _state() -> HeduiState:
    return current_app.extensions["hedui"]  # type: ignore[no-any-return]


def _fail(exc: HeduiError) -> None:
    click.secho(exc.message, fg="red", err=True)
    sys.exit(1)


db_cli = AppGroup("db", help="数据库结构迁移（Alembic）")


@db_cli.command("upgrade")
@click.argument("revision", default="heads")
def db_upgrade(revision: str) -> None:
    """Upgrade the database schema to REVISION (default: head)."""
    url = current_app.config["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(url, revision)
    click.secho(f"数据库已升级到 {revision}", fg="green")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the database schema to REVISION."""
    migrate.downgrade(current_app.config["DATABASE_URL"], revision)
    click.secho(f"数据库已降级到 {revision}", fg="green")


@db_cli.command("current")
def db_current() -> None:
    """Show the current revision."""
    from alembic import command

    command.current(migrate.alembic_config(current_app.config["DATABASE_URL"]))


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="what the revision does, e.g. add_task_assignment_source")
def db_revision(message: str) -> None:
    """Autogenerate a new dated, named revision from the models (review it by hand)."""
    from alembic import command

    command.revision(migrate.alembic_config(current_app.config["DATABASE_URL"]), message=message, autogenerate=True)


bpmn_cli = AppGroup("bpmn", help="流程定义的校验、部署与查看")


def _collect(paths: tuple[str, ...]) -> dict[str, bytes]:
    targets = [Path(p) for p in paths] or [Path(current_app.config["BPMN_DIR"])]
    files: dict[str, bytes] = {}
    for target in targets:
        found = sorted(target.glob("*.bpmn")) + sorted(target.glob("*.dmn")) if target.is_dir() else [target]
        for path in found:
            if path.name in files:
                raise click.UsageError(f"文件名重复: {path.name}")
            files[path.name] = path.read_bytes()
    if not files:
        raise click.UsageError("没有找到 .bpmn 或 .dmn 文件")
    return files


@bpmn_cli.command("deploy")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=True))
def bpmn_deploy(paths: tuple[str, ...]) -> None:
    """Validate and deploy BPMN/DMN files (default: the bpmn/ directory). Identical files are a no-op."""
    from engine.services.deploy import deploy_files

    try:
        with _state().unit_of_work() as ctx:
            results = deploy_files(ctx, _collect(paths), actor=CLI_ACTOR)
    except HeduiError as exc:
        _fail(exc)
    for r in results:
        what = "新版本" if r.created else "未变化"
        click.secho(f"{r.process_id} v{r.version} {r.content_hash[:12]} {what}", fg="green" if r.created else None)


@bpmn_cli.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=True))
def bpmn_validate(paths: tuple[str, ...]) -> None:
    """Validate BPMN/DMN files without deploying anything."""
    from engine.services.deploy import deploy_files

    state = _state()
    ctx = state.new_context()
    try:
        results = deploy_files(ctx, _collect(paths), actor=CLI_ACTOR)
    except HeduiError as exc:
        _fail(exc)
    finally:
        ctx.session.rollback()
        ctx.session.close()
    click.secho(f"校验通过: {', '.join(r.process_id for r in results)}", fg="green")


@bpmn_cli.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=True))
@click.option("--strict", is_flag=True, help="warnings fail too (exit 1)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def bpmn_lint(paths: tuple[str, ...], strict: bool, as_json: bool) -> None:
    """Lint BPMN/DMN files (default: the bpmn/ directory): deploy's errors plus warnings; writes nothing.

    Exit 1 when deploy would refuse the files (or, with --strict, when there are warnings).
    """
    import json

    from engine.bpmn_lint import lint_files

    files = _collect(paths)
    ctx = _state().new_context()
    try:
        report = lint_files(ctx, files)
    finally:
        ctx.session.rollback()
        ctx.session.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print_lint(report, len(files))
    if not report.ok or (strict and report.warnings):
        sys.exit(1)


def _print_lint(report: LintReport, file_count: int) -> None:
    """``file:line element_id [警告|错误] code 消息`` per finding, grouped by file, then a summary line."""
    labels = {"error": ("错误", "red"), "warning": ("警告", "yellow")}
    for finding in sorted(report.findings, key=lambda f: (f.filename or "", f.line or 0, f.severity)):
        where = f"{finding.filename or '-'}:{finding.line}" if finding.line else (finding.filename or "-")
        label, colour = labels[finding.severity]
        click.secho(f"{where} {finding.element_id or '-'} [{label}] {finding.code} {finding.message}", fg=colour)
    summary = f"检查 {file_count} 个文件：{len(report.errors)} 个错误，{len(report.warnings)} 个警告"
    click.secho(summary, fg="green" if not report.findings else ("red" if report.errors else "yellow"))


@bpmn_cli.command("list")
def bpmn_list() -> None:
    """List deployed definitions; * marks the current version."""
    from engine.models import CurrentDefinition
    from engine.models import ProcessDefinition

    with _state().unit_of_work() as ctx:
        current = set(ctx.session.execute(select(CurrentDefinition.definition_id)).scalars())
        rows = ctx.session.execute(
            select(ProcessDefinition).order_by(ProcessDefinition.process_id, ProcessDefinition.version)
        ).scalars().all()
        for d in rows:
            mark = "*" if d.id in current else " "
            click.echo(f"{mark} {d.process_id} v{d.version} {d.content_hash[:12]} "
                       f"{d.deployed_at:%Y-%m-%d %H:%M} {d.name}")


timers_cli = AppGroup("timers", help="定时器")


@timers_cli.command("run-due")
@click.option("--limit", default=200, show_default=True)
def timers_run_due(limit: int) -> None:
    """Fire the timers that are due now (safe to run from several workers at once)."""
    from engine.services.timers import fire_due_timers

    with _state().unit_of_work() as ctx:
        fired = fire_due_timers(ctx, limit=limit)
    click.echo(f"已触发 {fired} 个定时器")


calendar_cli = AppGroup("calendar", help="工作日历（节假日与调休）")


@calendar_cli.command("seed")
@click.argument("years", nargs=-1, type=int)
@click.option("--provisional", is_flag=True,
              help="For years without official data, load a provisional calendar from the statutory holidays "
                   "(no 调休; replaced when the official schedule is seeded).")
def calendar_seed(years: tuple[int, ...], provisional: bool) -> None:
    """Load holidays and make-up working days for YEARS (default: last, this and next year, where available)."""
    from engine.calendar import seed_calendar
    from engine.calendar_provisional import seed_provisional

    state = _state()
    this_year = state.clock.now().year
    requested = list(years) or [this_year - 1, this_year, this_year + 1]
    official = [y for y in requested if _seedable(y)]
    missing = sorted(set(requested) - set(official))
    if years and missing and not provisional:
        official = requested  # let the engine refuse with its message naming the year
        missing = []
    try:
        with state.unit_of_work() as ctx:
            changed = seed_calendar(ctx.session, official, clock=state.clock)
            if provisional and missing:
                seed_provisional(ctx.session, missing, clock=state.clock)
    except HeduiError as exc:
        _fail(exc)
    state.calendar.invalidate()
    if official:
        click.secho(f"工作日历已导入 {', '.join(map(str, official))} 年（更新 {changed} 天）", fg="green")
    for year in missing:
        if provisional:
            click.secho(f"警告: {year} 年尚无国务院办公厅公布的调休安排，已按法定节假日载入临时日历（不含调休上班日）；"
                        f"正式安排公布后请升级日历数据包并运行 hedui calendar seed {year}", fg="yellow", err=True)
        else:
            click.secho(f"警告: {year} 年的节假日安排尚无数据，涉及该年的期限将无法计算"
                        f"（可用 --provisional 载入按法定节假日推算的临时日历）", fg="yellow", err=True)


def _seedable(year: int) -> bool:
    from engine.calendar import is_year_supported

    return is_year_supported(year)


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Seed the demo region's users (idempotent; refused in production)."""
    from engine.services.demo import DEMO_PASSWORD
    from engine.services.demo import seed_demo

    if current_app.config["ENV"] == "production":
        click.secho("生产环境不允许写入演示数据", fg="red", err=True)
        sys.exit(1)
    from engine.exchange.catalogue import seed_demo_catalogue
    from engine.services.demo import REGISTERED_FROM
    from engine.services.demo_cases import seed_demo_cases
    from engine.services.demo_cross_city import seed_cross_city_demo

    with _state().unit_of_work() as ctx:
        created = seed_demo(ctx, actor=CLI_ACTOR)
        seed_demo_catalogue(ctx, actor=CLI_ACTOR, valid_from=REGISTERED_FROM)
        cases = seed_demo_cases(ctx, actor=CLI_ACTOR)
        batch_no = seed_cross_city_demo(ctx)
    batch = f"；跨地市核对批次 {batch_no} 待市级审核" if batch_no else ""
    click.secho(f"演示数据就绪（新建 {created} 个用户，密码均为 {DEMO_PASSWORD}；新建 {cases} 个演示案件{batch}）",
                fg="green")


def register_commands(app: Flask) -> None:
    from web import cli_exchange  # noqa: F401  (adds its commands to the exchange group)
    from web import cli_migrate  # noqa: F401  (adds ``bpmn migrate`` to the bpmn group)
    from web.cli_org import GROUPS

    for group in (db_cli, bpmn_cli, timers_cli, calendar_cli, demo, *GROUPS):
        app.cli.add_command(group)
    from web.cli_audit import audit_cli

    app.cli.add_command(audit_cli)
    from web.cli_archive import register as register_archive

    register_archive(app)
    from web import worker

    worker.register_commands(app)


def main() -> None:
    """Entry point of the ``hedui`` console script."""
    from web import create_app

    cli = FlaskGroup(create_app=lambda: create_app(), help="Hedui 核对系统命令行")
    cli.main(prog_name="hedui")
