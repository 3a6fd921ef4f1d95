"""Regions, units, role grants and exchange-officer registrations; every change is an event."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal
from typing import overload

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.models import ExchangeRegistration
from engine.models import ExchangeSide
from engine.models import Membership
from engine.models import Region
from engine.models import RegionLevel
from engine.models import Role
from engine.models import Unit
from engine.models import UnitKind
from engine.models import User
from engine.models.org import REGION_LEVEL_NAMES
from forms.household import PHONE_PATTERN

#: the system administrator's role code
ADMIN_ROLE = "admin"

_CODE_LENGTH = {RegionLevel.PROVINCE: 6, RegionLevel.CITY: 6, RegionLevel.COUNTY: 6, RegionLevel.TOWN: 9,
                RegionLevel.VILLAGE: 12}
_PARENT_LEVEL = {RegionLevel.CITY: RegionLevel.PROVINCE, RegionLevel.COUNTY: RegionLevel.CITY,
                 RegionLevel.TOWN: RegionLevel.COUNTY, RegionLevel.VILLAGE: RegionLevel.TOWN}
#: how many leading digits a region shares with its parent (GB/T 2260: 22 → 2201 → 220104 → 220104001 → …)
_PARENT_PREFIX = {RegionLevel.CITY: 2, RegionLevel.COUNTY: 4, RegionLevel.TOWN: 6, RegionLevel.VILLAGE: 9}
#: which unit kinds may exist at which region levels (OR-1, OR-2)
_UNIT_LEVELS = {
    UnitKind.VERIFICATION_AGENCY: {RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY},
    UnitKind.ENTRUSTING_DEPARTMENT: {RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY, RegionLevel.TOWN},
    UnitKind.SHARING_UNIT: {RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY},
    UnitKind.VILLAGE_COMMITTEE: {RegionLevel.VILLAGE},
    UnitKind.SUPERVISOR: {RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY},
}


def _log(ctx: EngineContext, event_kind: str, actor: Actor, **payload: object) -> None:
    append_event(ctx, stream=SYSTEM_STREAM, kind=event_kind, actor=actor, payload=payload)


def create_region(ctx: EngineContext, code: str, name: str, level: RegionLevel | str, parent_code: str | None,
                  *, actor: Actor) -> Region:
    """Add a region; its code has the length of its level and starts like its parent's (GB/T 2260 style)."""
    level = RegionLevel(level)
    if not re.fullmatch(r"\d+", code) or len(code) != _CODE_LENGTH[level]:
        message = f"{REGION_LEVEL_NAMES[level.value]}级区划代码应为 {_CODE_LENGTH[level]} 位数字"
        raise ValidationError(message, fields={"code": ["区划代码格式不正确"]})
    if ctx.session.get(Region, code) is not None:
        raise ValidationError("区划代码已存在", fields={"code": ["区划代码已存在"]})
    parent = ctx.session.get(Region, parent_code) if parent_code else None
    if level is RegionLevel.PROVINCE:
        if parent_code:
            raise ValidationError("省级区划没有上级", fields={"parent_code": ["省级区划没有上级"]})
    elif parent is None or parent.level != _PARENT_LEVEL[level]:
        raise ValidationError("上级区划不存在或层级不符", fields={"parent_code": ["上级区划不存在或层级不符"]})
    elif code[:_PARENT_PREFIX[level]] != parent.code[:_PARENT_PREFIX[level]]:
        message = f"区划代码前 {_PARENT_PREFIX[level]} 位应与上级区划 {parent.code} 相同"
        raise ValidationError(message, fields={"code": [message]})
    region = Region(code=code, name=name, level=level, parent_code=parent_code,
                    path=(parent.path if parent else "") + code + "/")
    ctx.session.add(region)
    ctx.session.flush()
    _log(ctx, "region_created", actor, code=code, name=name, level=level.value, parent_code=parent_code)
    return region


def create_unit(ctx: EngineContext, code: str, name: str, kind: UnitKind | str, region_code: str, *,
                actor: Actor, categories: list[str] | None = None, contact_phone: str | None = None) -> Unit:
    kind = UnitKind(kind)
    contact_phone = _phone(contact_phone)
    region = ctx.session.get(Region, region_code)
    if region is None:
        raise ValidationError("所属区划不存在", fields={"region_code": ["所属区划不存在"]})
    if region.level not in _UNIT_LEVELS[kind]:
        raise ValidationError("该类单位不能设在此级区划", fields={"kind": ["该类单位不能设在此级区划"]})
    if get_unit_by_code(ctx, code, required=False) is not None:
        raise ValidationError("单位代码已存在", fields={"code": ["单位代码已存在"]})
    unit = Unit(code=code, name=name, kind=kind, region_code=region_code, created_at=ctx.now(),
                categories=",".join(categories) if categories else None, contact_phone=contact_phone)
    ctx.session.add(unit)
    ctx.session.flush()
    _log(ctx, "unit_created", actor, code=code, name=name, kind=kind.value, region_code=region_code,
         **({"contact_phone": contact_phone} if contact_phone else {}))
    return unit


def set_unit_phone(ctx: EngineContext, unit: Unit, contact_phone: str | None, *, actor: Actor) -> Unit:
    """Set (or clear, with ``None``) the unit's contact phone, printed on the letters written for it (DO-5)."""
    unit.contact_phone = _phone(contact_phone)
    ctx.session.flush()
    _log(ctx, "unit_phone_set", actor, code=unit.code, contact_phone=unit.contact_phone)
    return unit


def _phone(value: str | None) -> str | None:
    value = (value or "").strip() or None
    if value is not None and not re.fullmatch(PHONE_PATTERN, value):
        raise ValidationError("联系电话格式不正确", fields={"contact_phone": ["联系电话格式不正确"]})
    return value


@overload
def get_unit_by_code(ctx: EngineContext, code: str, *, required: Literal[True] = ...) -> Unit: ...
@overload
def get_unit_by_code(ctx: EngineContext, code: str, *, required: bool) -> Unit | None: ...
def get_unit_by_code(ctx: EngineContext, code: str, *, required: bool = True) -> Unit | None:
    unit = ctx.session.execute(select(Unit).where(Unit.code == code)).scalar_one_or_none()
    if unit is None and required:
        raise NotFoundError(f"单位「{code}」不存在", unit=code)
    return unit


def grant_role(ctx: EngineContext, user: User, unit: Unit, role_code: str, *, actor: Actor) -> Membership:
    """Let ``user`` act as ``role_code`` in ``unit`` (idempotent)."""
    if ctx.session.get(Role, role_code) is None:
        raise NotFoundError(f"角色「{role_code}」不存在", role=role_code)
    existing = ctx.session.execute(select(Membership).where(
        Membership.user_id == user.id, Membership.unit_id == unit.id, Membership.role_code == role_code)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    membership = Membership(user_id=user.id, unit_id=unit.id, role_code=role_code, granted_at=ctx.now(),
                            granted_by=actor.username)
    ctx.session.add(membership)
    ctx.session.flush()
    _log(ctx, "role_granted", actor, user=user.username, unit=unit.code, role=role_code)
    return membership


def revoke_role(ctx: EngineContext, user: User, unit: Unit, role_code: str, *, actor: Actor) -> None:
    """Take ``role_code`` in ``unit`` from ``user``; an administrator cannot take their own admin role.

    :raises PermissionDeniedError: ``self_revoke_admin`` (one click would lock them out of the admin pages).
    """
    if role_code == ADMIN_ROLE and actor.username == user.username:
        raise PermissionDeniedError("不能撤销自己的系统管理员角色，请由另一名系统管理员操作", code="self_revoke_admin")
    membership = ctx.session.execute(select(Membership).where(
        Membership.user_id == user.id, Membership.unit_id == unit.id, Membership.role_code == role_code)
    ).scalar_one_or_none()
    if membership is None:
        raise NotFoundError("该用户在此单位没有该角色")
    ctx.session.delete(membership)
    ctx.session.flush()
    _log(ctx, "role_revoked", actor, user=user.username, unit=unit.code, role=role_code)


def memberships_of(ctx: EngineContext, user_id: int) -> list[Membership]:
    return list(ctx.session.execute(
        select(Membership).where(Membership.user_id == user_id).order_by(Membership.unit_id, Membership.role_code)
    ).scalars())


def register_exchange_officer(
    ctx: EngineContext, user: User, sharing_unit: Unit, unit: Unit, *, valid_from: date, valid_to: date | None,
    actor: Actor,
) -> ExchangeRegistration:
    """Record a registration (备案) of ``user`` as exchange officer for ``sharing_unit`` (SD-3)."""
    if sharing_unit.kind != UnitKind.SHARING_UNIT:
        raise ValidationError("只能为信息共享单位备案交换人员", fields={"sharing_unit": ["不是信息共享单位"]})
    if valid_to is not None and valid_to < valid_from:
        raise ValidationError("有效期截止日不能早于起始日", fields={"valid_to": ["不能早于起始日"]})
    side = ExchangeSide.SHARING_UNIT if unit.id == sharing_unit.id else ExchangeSide.AGENCY
    if side is ExchangeSide.AGENCY and unit.kind != UnitKind.VERIFICATION_AGENCY:
        raise ValidationError("交换人员须属于核对机构或该共享单位", fields={"unit": ["单位类型不符"]})
    registration = ExchangeRegistration(
        user_id=user.id, sharing_unit_id=sharing_unit.id, unit_id=unit.id, side=side, valid_from=valid_from,
        valid_to=valid_to, registered_at=ctx.now(), registered_by=actor.username)
    ctx.session.add(registration)
    ctx.session.flush()
    _log(ctx, "exchange_officer_registered", actor, user=user.username, sharing_unit=sharing_unit.code,
         unit=unit.code, side=side.value, valid_from=valid_from.isoformat(),
         valid_to=valid_to.isoformat() if valid_to else None)
    return registration


def end_registration(ctx: EngineContext, registration: ExchangeRegistration, *, last_day: date,
                     actor: Actor) -> None:
    """End a registration after ``last_day`` (the past stays as it was)."""
    if registration.valid_to is not None and registration.valid_to <= last_day:
        return
    registration.valid_to, registration.ended_at, registration.ended_by = last_day, ctx.now(), actor.username
    ctx.session.flush()
    _log(ctx, "exchange_officer_registration_ended", actor, registration_id=registration.id,
         last_day=last_day.isoformat())


def is_registered(ctx: EngineContext, user_id: int, sharing_unit_code: str, on: date,
                  side: ExchangeSide | None = None) -> bool:
    """Whether ``user_id`` is a registered exchange officer for the sharing unit on ``on`` (on ``side``, if given)."""
    query = (select(ExchangeRegistration.id)
             .join(Unit, Unit.id == ExchangeRegistration.sharing_unit_id)
             .where(Unit.code == sharing_unit_code, ExchangeRegistration.user_id == user_id,
                    ExchangeRegistration.is_valid_on(on)))
    if side is not None:
        query = query.where(ExchangeRegistration.side == side)
    return ctx.session.execute(query.limit(1)).first() is not None
