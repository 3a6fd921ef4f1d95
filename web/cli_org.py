"""``hedui users|units|regions|exchange ...``: administer people and the organisation from the shell."""

from __future__ import annotations

import sys
from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from engine.context import Actor
from engine.errors import HeduiError
from engine.models import Membership
from engine.models import Region
from engine.models import Unit
from engine.models import User
from engine.services import org
from engine.services import users as user_service
from web.state import HeduiState

CLI_ACTOR = Actor("cli", "admin")


def _state() -> HeduiState:
    return current_app.extensions["hedui"]  # type: ignore[no-any-return]


def _run(fn, ok: str) -> None:  # type: ignore[no-untyped-def]
    """Run ``fn(ctx)`` as one unit of work; print ``ok`` or the Chinese error."""
    try:
        with _state().unit_of_work() as ctx:
            fn(ctx)
    except HeduiError as exc:
        fields = exc.details.get("fields")
        click.secho(exc.message + (f" {fields}" if fields else ""), fg="red", err=True)
        sys.exit(1)
    click.secho(ok, fg="green")


users_cli = AppGroup("users", help="用户与角色")
units_cli = AppGroup("units", help="单位")
regions_cli = AppGroup("regions", help="行政区划")
exchange_cli = AppGroup("exchange", help="数据交换：交换人员备案、信息共享单位目录、批次发送与模拟单位")


@users_cli.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="姓名（显示名）")
@click.password_option(help="至少 8 位；不提供则交互输入")
def users_create(username: str, display_name: str, password: str) -> None:
    """Create a user (the password is asked for twice, never echoed or logged)."""
    _run(lambda ctx: user_service.create_user(ctx, username, display_name, password, actor=CLI_ACTOR),
         f"已创建用户 {username}")


@users_cli.command("grant")
@click.argument("username")
@click.argument("unit_code")
@click.argument("role_code")
def users_grant(username: str, unit_code: str, role_code: str) -> None:
    """Let USERNAME act as ROLE_CODE in UNIT_CODE."""
    _run(lambda ctx: org.grant_role(ctx, user_service.get_user(ctx, username), org.get_unit_by_code(ctx, unit_code),
                                    role_code, actor=CLI_ACTOR), f"已授予 {username} 在 {unit_code} 的 {role_code}")


@users_cli.command("revoke")
@click.argument("username")
@click.argument("unit_code")
@click.argument("role_code")
def users_revoke(username: str, unit_code: str, role_code: str) -> None:
    """Withdraw ROLE_CODE in UNIT_CODE from USERNAME."""
    _run(lambda ctx: org.revoke_role(ctx, user_service.get_user(ctx, username), org.get_unit_by_code(ctx, unit_code),
                                     role_code, actor=CLI_ACTOR), f"已收回 {username} 在 {unit_code} 的 {role_code}")


@users_cli.command("list")
def users_list() -> None:
    """Users with their units and roles."""
    with _state().unit_of_work() as ctx:
        rows = ctx.session.execute(
            select(User.username, User.display_name, Unit.code, Membership.role_code)
            .outerjoin(Membership, Membership.user_id == User.id).outerjoin(Unit, Unit.id == Membership.unit_id)
            .order_by(User.username, Unit.code, Membership.role_code)
        ).all()
    for username, name, unit, role in rows:
        click.echo(f"{username:<18} {name:<24} {unit or '-':<10} {role or '-'}")


@units_cli.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(["verification_agency", "entrusting_department",
                                                          "sharing_unit", "village_committee", "supervisor"]))
@click.option("--region", "region_code", required=True, help="所属区划代码")
@click.option("--category", "categories", multiple=True, help="共享单位提供的数据类别（可多次）")
@click.option("--phone", "contact_phone", default=None, help="联系电话（核对机构：印在其出具的上级委托书上）")
def units_create(code: str, name: str, kind: str, region_code: str, categories: tuple[str, ...],
                 contact_phone: str | None) -> None:
    """Create a unit in a region."""
    _run(lambda ctx: org.create_unit(ctx, code, name, kind, region_code, actor=CLI_ACTOR,
                                     categories=list(categories) or None, contact_phone=contact_phone),
         f"已创建单位 {code} {name}")


@units_cli.command("set-phone")
@click.argument("code")
@click.argument("phone", required=False)
def units_set_phone(code: str, phone: str | None) -> None:
    """Set a unit's contact phone (omit PHONE to clear it)."""
    _run(lambda ctx: org.set_unit_phone(ctx, org.get_unit_by_code(ctx, code), phone, actor=CLI_ACTOR),
         f"已设置单位 {code} 的联系电话")


@units_cli.command("list")
def units_list() -> None:
    with _state().unit_of_work() as ctx:
        for unit in ctx.session.execute(select(Unit).order_by(Unit.region_code, Unit.code)).scalars():
            click.echo(f"{unit.code:<10} {unit.region_code:<10} {unit.kind.value:<22} {unit.name}")


@regions_cli.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--level", required=True, type=click.Choice(["province", "city", "county", "town", "village"]))
@click.option("--parent", "parent_code", default=None, help="上级区划代码")
def regions_create(code: str, name: str, level: str, parent_code: str | None) -> None:
    """Create an administrative region (GB/T 2260-style code)."""
    _run(lambda ctx: org.create_region(ctx, code, name, level, parent_code, actor=CLI_ACTOR),
         f"已创建区划 {code} {name}")


@regions_cli.command("list")
def regions_list() -> None:
    with _state().unit_of_work() as ctx:
        for region in ctx.session.execute(select(Region).order_by(Region.path)).scalars():
            click.echo("  " * (region.path.count("/") - 1) + f"{region.code} {region.name}")


@exchange_cli.command("register")
@click.argument("username")
@click.argument("sharing_unit_code")
@click.option("--unit", "unit_code", required=True, help="交换人员所在单位（核对机构或该共享单位）")
@click.option("--from", "valid_from", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "valid_to", default=None, type=click.DateTime(["%Y-%m-%d"]))
def exchange_register(username: str, sharing_unit_code: str, unit_code: str, valid_from: object,
                      valid_to: object) -> None:
    """Register (备案) USERNAME as exchange officer for SHARING_UNIT_CODE (SD-3)."""
    start: date = valid_from.date()  # type: ignore[attr-defined]
    end: date | None = valid_to.date() if valid_to else None  # type: ignore[attr-defined]
    _run(lambda ctx: org.register_exchange_officer(
        ctx, user_service.get_user(ctx, username), org.get_unit_by_code(ctx, sharing_unit_code),
        org.get_unit_by_code(ctx, unit_code), valid_from=start, valid_to=end, actor=CLI_ACTOR),
        f"已备案 {username} 为 {sharing_unit_code} 的交换人员")


GROUPS = [users_cli, units_cli, regions_cli, exchange_cli]
