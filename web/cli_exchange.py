"""``hedui exchange unit|run|simulate``: the exchange catalogue, the sweep and the simulated units.

Keys are generated here and never printed: only their key ids are shown (DX-6, SD-3).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from flask.cli import AppGroup

from engine.exchange import catalogue
from engine.exchange.jobs import run as run_sweep
from engine.exchange.simulate import simulate_pending
from web.cli_org import CLI_ACTOR
from web.cli_org import _run
from web.cli_org import _state
from web.cli_org import exchange_cli

unit_cli = AppGroup("unit", help="信息共享单位的交换方式、密钥与协议")
exchange_cli.add_command(unit_cli)


@unit_cli.command("list")
def unit_list() -> None:
    """Show every sharing unit: categories, mode, endpoint, current key ids, agreement."""
    with _state().unit_of_work() as ctx:
        for entry in catalogue.catalogue(ctx):
            mode = catalogue.MODE_NAMES.get(entry.mode or "", "未登记")
            click.echo(f"{entry.code}\t{entry.name}\t{mode}\t{entry.endpoint or '-'}\t"
                       f"密钥 {','.join(entry.key_ids) or '无'}\t协议 {entry.agreement_no or '未登记'}\t"
                       f"类别 {','.join(entry.categories)}")


@unit_cli.command("set")
@click.argument("unit_code")
@click.option("--mode", type=click.Choice(["system", "media", "both"]), required=True, help="交换方式")
@click.option("--endpoint", default=None, help="系统交换接口地址")
@click.option("--algorithm", default="hmac-sha256", type=click.Choice(catalogue.SIGNING_ALGORITHMS))
@click.option("--categories", default=None, help="数据类别代码，逗号分隔（DX-8）")
def unit_set(unit_code: str, mode: str, endpoint: str | None, algorithm: str, categories: str | None) -> None:
    """Set a unit's exchange mode, endpoint, signing algorithm and categories."""
    cats = [c.strip() for c in categories.split(",") if c.strip()] if categories else None
    _run(lambda ctx: catalogue.set_profile(ctx, unit_code, mode=mode, endpoint=endpoint, signing_algorithm=algorithm,
                                           categories=cats, actor=CLI_ACTOR), f"已登记 {unit_code} 的交换方式")


@unit_cli.command("rotate-key")
@click.argument("unit_code")
def unit_rotate_key(unit_code: str) -> None:
    """Issue a new key (the old one is retired, still accepted for 30 days). The secret is never printed."""
    ids: list[str] = []
    _run(lambda ctx: ids.append(catalogue.rotate_key(ctx, unit_code, actor=CLI_ACTOR).key_id), "已更换密钥")
    click.echo(f"新密钥编号：{ids[0]}（密钥本身须经安全渠道交给对方，不在此显示）")


@unit_cli.command("agreement")
@click.argument("unit_code")
@click.option("--number", required=True, help="协议编号")
@click.option("--title", required=True, help="协议名称")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--from", "valid_from", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "valid_to", default=None, type=click.DateTime(["%Y-%m-%d"]))
def unit_agreement(unit_code: str, number: str, title: str, path: Path, valid_from: datetime,
                   valid_to: datetime | None) -> None:
    """Record the data-exchange and confidentiality agreement (DX-6)."""
    _run(lambda ctx: catalogue.record_agreement(
        ctx, unit_code, agreement_no=number, title=title, document=path.read_bytes(), valid_from=valid_from.date(),
        valid_to=valid_to.date() if valid_to else None, actor=CLI_ACTOR), f"已登记 {unit_code} 的协议 {number}")


@exchange_cli.command("run")
def exchange_run() -> None:
    """Collect new requests, send due system batches, mark overdue requests (what the ticker does)."""
    with _state().unit_of_work() as ctx:
        result = run_sweep(ctx)
    click.echo(f"新请求 {result['collected']}，已发送批次 {result['sent']}，新超期 {result['overdue']}")


@exchange_cli.command("simulate")
@click.option("--packages", "package_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="介质交换反馈包写入的目录")
@click.option("--unit", "units", multiple=True, help="只模拟这些单位")
def exchange_simulate(package_dir: Path | None, units: tuple[str, ...]) -> None:
    """Simulated sharing units answer what is due (demo and tests only: synthetic data)."""
    with _state().unit_of_work() as ctx:
        report = simulate_pending(ctx, package_dir=package_dir, units=list(units) or None)
    click.echo(f"系统交换反馈 {report.system_answers} 批，延期说明 {report.delay_notices} 份，"
               f"介质反馈包 {len(report.packages)} 个")
    for path in report.packages:
        click.echo(f"  {path}")
