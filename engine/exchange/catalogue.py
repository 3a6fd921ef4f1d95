"""The exchange catalogue: what each sharing unit provides (DX-8), how it exchanges (DX-1), its keys
and its agreement on record (DX-6).

Secrets are generated here and read only by the signing and package code; every event about a
key carries its ``key_id``, never the secret.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from engine.clock import within
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.exchange.categories import CATEGORIES as REGISTRY_CATEGORIES
from engine.exchange.registry import DEMO_UNIT_OFFICERS
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.models import Unit
from engine.models import UnitKind
from engine.models import User
from engine.models.exchange import ExchangeKey
from engine.models.exchange import ExchangeMode
from engine.models.exchange import ExchangeProfile

#: DX-8 as data: category code -> (Chinese name, providing department); one list for catalogue and simulator
CATEGORIES: dict[str, tuple[str, str]] = REGISTRY_CATEGORIES

MODE_NAMES = {"system": "系统交换", "media": "介质交换", "both": "系统与介质并行"}
SIGNING_ALGORITHMS = ("hmac-sha256", "hmac-sm3")


@dataclass(frozen=True)
class UnitCatalogueEntry:
    """What a screen or the CLI may show about a unit: never a secret."""

    code: str
    name: str
    categories: list[str]
    mode: str | None
    endpoint: str | None
    signing_algorithm: str | None
    agreement_no: str | None
    agreement_valid_to: date | None
    key_ids: list[str]


def _log(ctx: EngineContext, kind: str, actor: Actor, **payload: object) -> None:
    append_event(ctx, stream=SYSTEM_STREAM, kind=kind, actor=actor, payload=payload)


def sharing_unit(ctx: EngineContext, code: str) -> Unit:
    unit = ctx.session.execute(select(Unit).where(Unit.code == code)).scalar_one_or_none()
    if unit is None or unit.kind != UnitKind.SHARING_UNIT:
        raise NotFoundError(f"信息共享单位「{code}」不存在", code="unknown_sharing_unit", unit=code)
    return unit


def unit_categories(unit: Unit) -> list[str]:
    return [c for c in (unit.categories or "").split(",") if c]


def get_profile(ctx: EngineContext, unit: Unit) -> ExchangeProfile | None:
    return ctx.session.execute(select(ExchangeProfile).where(ExchangeProfile.unit_id == unit.id)).scalar_one_or_none()


def require_profile(ctx: EngineContext, unit: Unit) -> ExchangeProfile:
    profile = get_profile(ctx, unit)
    if profile is None:
        raise ValidationError(f"「{unit.name}」尚未登记交换方式", code="exchange_profile_missing", unit=unit.code)
    return profile


def set_profile(ctx: EngineContext, unit_code: str, *, mode: str, actor: Actor, endpoint: str | None = None,
                signing_algorithm: str = "hmac-sha256", categories: list[str] | None = None) -> ExchangeProfile:
    """Create or change a unit's exchange mode, endpoint, algorithm and categories (DX-1, DX-8)."""
    unit = sharing_unit(ctx, unit_code)
    try:
        exchange_mode = ExchangeMode(mode)
    except ValueError:
        raise ValidationError("交换方式应为 system、media 或 both", fields={"mode": ["交换方式无效"]}) from None
    if signing_algorithm not in SIGNING_ALGORITHMS:
        raise ValidationError("签名算法应为 hmac-sha256 或 hmac-sm3", fields={"signing_algorithm": ["签名算法无效"]})
    if exchange_mode is not ExchangeMode.MEDIA and not endpoint:
        raise ValidationError("系统交换须登记对方接口地址", fields={"endpoint": ["请填写接口地址"]})
    if categories is not None:
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown or not categories:
            raise ValidationError("数据类别有误", fields={"categories": [f"未知类别：{'、'.join(unknown) or '空'}"]})
        unit.categories = ",".join(categories)
    profile = get_profile(ctx, unit)
    if profile is None:
        profile = ExchangeProfile(unit_id=unit.id)
        ctx.session.add(profile)
    profile.mode, profile.endpoint, profile.signing_algorithm = exchange_mode, endpoint, signing_algorithm
    profile.updated_at, profile.updated_by = ctx.now(), actor.username
    ctx.session.flush()
    _log(ctx, "exchange_profile_set", actor, unit=unit.code, mode=exchange_mode.value, endpoint=endpoint,
         signing_algorithm=signing_algorithm, categories=unit_categories(unit))
    return profile


def record_agreement(ctx: EngineContext, unit_code: str, *, agreement_no: str, title: str, document: bytes,
                     valid_from: date, valid_to: date | None, actor: Actor) -> ExchangeProfile:
    """Put the data-exchange and confidentiality agreement on record (DX-6): number, digest, validity."""
    unit = sharing_unit(ctx, unit_code)
    profile = require_profile(ctx, unit)
    if valid_to is not None and valid_to < valid_from:
        raise ValidationError("协议截止日不能早于起始日", fields={"valid_to": ["不能早于起始日"]})
    if not document:
        raise ValidationError("请上传协议文本", fields={"document": ["请上传协议文本"]})
    profile.agreement_no, profile.agreement_title = agreement_no, title
    profile.agreement_sha256 = hashlib.sha256(document).hexdigest()
    profile.agreement_document = document
    profile.agreement_valid_from, profile.agreement_valid_to = valid_from, valid_to
    profile.updated_at, profile.updated_by = ctx.now(), actor.username
    ctx.session.flush()
    _log(ctx, "exchange_agreement_recorded", actor, unit=unit.code, agreement_no=agreement_no, title=title,
         sha256=profile.agreement_sha256, valid_from=valid_from.isoformat(),
         valid_to=valid_to.isoformat() if valid_to else None)
    return profile


def agreement_valid(profile: ExchangeProfile, on: date) -> bool:
    if profile.agreement_valid_from is None:
        return False
    return within(on, profile.agreement_valid_from, profile.agreement_valid_to)


def rotate_key(ctx: EngineContext, unit_code: str, *, actor: Actor, secret: bytes | None = None) -> ExchangeKey:
    """Add a new current key for the unit; older keys are retired (still accepted for verifying answers)."""
    unit = sharing_unit(ctx, unit_code)
    now = ctx.now()
    for old in ctx.session.execute(select(ExchangeKey).where(ExchangeKey.unit_id == unit.id,
                                                             ExchangeKey.retired_at.is_(None))).scalars():
        old.retired_at = now
    count = ctx.session.execute(select(ExchangeKey.id).where(ExchangeKey.unit_id == unit.id)).all()
    key = ExchangeKey(unit_id=unit.id, key_id=f"{unit.code}-k{len(count) + 1}-{secrets.token_hex(3)}",
                      secret=secret or secrets.token_bytes(32), created_at=now, created_by=actor.username)
    ctx.session.add(key)
    ctx.session.flush()
    _log(ctx, "exchange_key_rotated", actor, unit=unit.code, key_id=key.key_id)
    return key


def current_key(ctx: EngineContext, unit: Unit) -> ExchangeKey:
    key = ctx.session.execute(select(ExchangeKey).where(ExchangeKey.unit_id == unit.id,
                                                        ExchangeKey.retired_at.is_(None))
                              .order_by(ExchangeKey.id.desc()).limit(1)).scalar_one_or_none()
    if key is None:
        raise ValidationError(f"「{unit.name}」尚无交换密钥", code="exchange_key_missing", unit=unit.code)
    return key




def key_owner(ctx: EngineContext, key_id: str) -> tuple[Unit, bytes] | None:
    row = ctx.session.execute(select(ExchangeKey).where(ExchangeKey.key_id == key_id)).scalar_one_or_none()
    if row is None:
        return None
    return ctx.session.get(Unit, row.unit_id), bytes(row.secret)  # type: ignore[return-value]


def catalogue(ctx: EngineContext) -> list[UnitCatalogueEntry]:
    units = ctx.session.execute(select(Unit).where(Unit.kind == UnitKind.SHARING_UNIT).order_by(Unit.code)).scalars()
    out = []
    for unit in units:
        profile = get_profile(ctx, unit)
        keys = ctx.session.execute(select(ExchangeKey.key_id).where(ExchangeKey.unit_id == unit.id,
                                                                    ExchangeKey.retired_at.is_(None))).scalars()
        out.append(UnitCatalogueEntry(
            unit.code, unit.name, unit_categories(unit), profile.mode.value if profile else None,
            profile.endpoint if profile else None, profile.signing_algorithm if profile else None,
            profile.agreement_no if profile else None, profile.agreement_valid_to if profile else None, list(keys)))
    return out


#: demo units: code -> (mode, endpoint); ``sim:`` endpoints are answered by the in-process simulator
DEMO_PROFILES = {
    "CC-GA": ("system", "sim:CC-GA"),
    "CC-BDC": ("media", None),
    "CC-GJJ": ("system", "sim:CC-GJJ"),
    "CC-SW": ("system", "sim:CC-SW"),
    "CC-SCJG": ("media", None),
    "CC-BANK": ("both", "sim:CC-BANK"),
    "CY-CLH": ("system", "sim:CY-CLH"),
    "JL-SBJ": ("system", "sim:JL-SBJ"),
    "JLS-BDC": ("system", "sim:JLS-BDC"),
}


def seed_demo_catalogue(ctx: EngineContext, *, actor: Actor, valid_from: date) -> int:
    """Give every demo sharing unit a mode, a key, an agreement on record and its filed unit-side
    officer (SD-3: the account ``seed_demo`` created; filed here too for databases seeded before);
    idempotent. Returns how many profiles were created."""
    done = 0
    for code, (mode, endpoint) in DEMO_PROFILES.items():
        unit = ctx.session.execute(select(Unit).where(Unit.code == code)).scalar_one_or_none()
        if unit is None:
            continue
        _file_demo_officer(ctx, unit, actor=actor, valid_from=valid_from)
        if get_profile(ctx, unit) is not None:
            continue
        set_profile(ctx, code, mode=mode, endpoint=endpoint, actor=actor,
                    signing_algorithm="hmac-sm3" if code == "CC-BANK" else "hmac-sha256")
        rotate_key(ctx, code, actor=actor)
        record_agreement(ctx, code, agreement_no=f"数据交换与保密协议〔2025〕{done + 1}号",
                         title=f"与{unit.name}的数据交换与保密协议",
                         document=f"demo agreement {code}".encode(), valid_from=valid_from, valid_to=None, actor=actor)
        done += 1
    return done


def _file_demo_officer(ctx: EngineContext, unit: Unit, *, actor: Actor, valid_from: date) -> None:
    from engine.exchange.officers import file_unit_officer

    username = DEMO_UNIT_OFFICERS.get(unit.code, ("", ""))[0]
    user = ctx.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is not None:
        file_unit_officer(ctx, unit, user, valid_from=valid_from, valid_to=None, actor=actor)
