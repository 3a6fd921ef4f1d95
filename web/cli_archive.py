"""``hedui archive seal|verify|export|import``: sealing sweep, digest check, signed backups (AR-1, AR-3, AR-4).

``verify`` checks every archive and every issued report's snapshot digest (DO-7, DO-8).

``verify`` only reads (a rolled-back session) and exits 1 on any mismatch, so it can run from
cron; the others are one unit of work each.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from engine.archives.backup import export_bundle
from engine.archives.backup import import_bundle
from engine.archives.seal import seal_closed
from engine.archives.verify import verify_archives
from engine.context import Actor
from engine.errors import ConfigurationError
from engine.errors import HeduiError
from web.state import HeduiState

archive_cli = AppGroup("archive", help="档案：归档封存、摘要核验、备份导出与导入")
CLI_ACTOR = Actor("cli", "archivist")
_KEY_LABEL = b"hedui:archive-bundle:v1"


def _state() -> HeduiState:
    return current_app.extensions["hedui"]  # type: ignore[no-any-return]


def archive_key() -> bytes:
    """HEDUI_ARCHIVE_KEY; outside production a key derived from SECRET_KEY (so a dev pair of instances agrees)."""
    config = current_app.config
    if config.get("ARCHIVE_KEY"):
        return str(config["ARCHIVE_KEY"]).encode("utf-8")
    if config["ENV"] == "production":
        raise ConfigurationError("生产环境必须设置 HEDUI_ARCHIVE_KEY（县、市平台使用同一密钥）")
    return hmac.new(str(config["SECRET_KEY"]).encode("utf-8"), _KEY_LABEL, hashlib.sha256).hexdigest().encode()


def _fail(exc: HeduiError) -> None:
    click.secho(exc.message, fg="red", err=True)
    for problem in exc.details.get("problems", []):
        click.secho(f"  {problem}", fg="red", err=True)
    if exc.details.get("case_nos"):
        click.secho(f"  {'、'.join(exc.details['case_nos'])}", fg="red", err=True)
    sys.exit(1)


@archive_cli.command("seal")
@click.option("--limit", default=500, show_default=True, help="本次最多封存的案件数")
def archive_seal(limit: int) -> None:
    """Seal the archive of every closed case that has none (what the background sweep does)."""
    try:
        with _state().unit_of_work() as ctx:
            count = seal_closed(ctx, limit=limit)
    except HeduiError as exc:
        _fail(exc)
    click.secho(f"已封存 {count} 份档案", fg="green")


@archive_cli.command("verify")
def archive_verify() -> None:
    """Re-check every archive's manifest and item digests and every report's snapshot digest; exit 1 and list each
    mismatch."""
    ctx = _state().new_context()
    try:
        report = verify_archives(ctx.session)
    finally:
        ctx.session.rollback()
        ctx.session.close()
    checked = f"{report.archives_checked} 份档案、{report.items_checked} 个项目、{report.reports_checked} 份报告"
    if report.ok:
        click.secho(f"核验通过：{checked}，摘要全部一致", fg="green")
        return
    problems = report.all_problems
    click.secho(f"发现 {len(problems)} 处不一致（共核验 {checked}）：", fg="red", err=True)
    for problem in problems:
        click.secho(f"  {problem}", fg="red", err=True)
    sys.exit(1)


@archive_cli.command("export")
@click.option("--since", "since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="导出该日（含）以后封存的档案")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def archive_export(since: object, out: Path) -> None:
    """Write a signed backup bundle of the archives sealed since DATE to OUT (for the city platform)."""
    try:
        key = archive_key()
        with _state().unit_of_work() as ctx:
            data, count = export_bundle(ctx, since=since.date(), key=key, actor=CLI_ACTOR)  # type: ignore[attr-defined]
            out.write_bytes(data)
    except HeduiError as exc:
        _fail(exc)
    click.secho(f"已导出 {count} 份档案到 {out}（{len(data)} 字节，已签名）", fg="green")


@archive_cli.command("import")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def archive_import(bundle: Path) -> None:
    """Verify a backup bundle's signature and every digest, then add the archives not yet here."""
    try:
        key = archive_key()
        with _state().unit_of_work() as ctx:
            result = import_bundle(ctx, bundle.read_bytes(), key=key, actor=CLI_ACTOR)
    except HeduiError as exc:
        _fail(exc)
    click.secho(f"导入 {len(result.imported)} 份档案，跳过已有的 {len(result.skipped)} 份", fg="green")


def register(app: object) -> None:
    app.cli.add_command(archive_cli)  # type: ignore[attr-defined]
