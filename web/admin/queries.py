"""Read-only queries behind the administration pages (changes go through engine.services.org)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import selectinload

from engine.exchange.categories import CATEGORIES
from engine.models import ExchangeRegistration
from engine.models import Membership
from engine.models import Region
from engine.models import Role
from engine.models import Unit
from engine.models import UnitKind
from engine.models import User
from engine.models.org import REGION_LEVEL_NAMES
from engine.models.org import UNIT_KIND_NAMES


@dataclass
class RegionNode:
    region: Region
    children: list[RegionNode] = field(default_factory=list)

    @property
    def level_name(self) -> str:
        return REGION_LEVEL_NAMES[self.region.level.value]


def region_tree(session: Session) -> list[RegionNode]:
    """All regions as a forest, each level ordered by code."""
    nodes = {r.code: RegionNode(r) for r in session.execute(select(Region).order_by(Region.path)).scalars()}
    roots: list[RegionNode] = []
    for node in nodes.values():
        parent = nodes.get(node.region.parent_code or "")
        (parent.children if parent is not None else roots).append(node)
    return roots


def region_choices(session: Session) -> list[tuple[str, str]]:
    """``(code, label)`` for a select, indented by depth."""
    regions = session.execute(select(Region).order_by(Region.path)).scalars()
    return [(r.code, f"{'— ' * (r.path.count('/') - 1)}{r.name}（{r.code}）") for r in regions]


def level_choices() -> list[tuple[str, str]]:
    return list(REGION_LEVEL_NAMES.items())


def kind_choices() -> list[tuple[str, str]]:
    return list(UNIT_KIND_NAMES.items())


def kind_name(kind: UnitKind | str) -> str:
    return UNIT_KIND_NAMES[UnitKind(kind).value]


def category_names(codes: str | None) -> str:
    """A sharing unit's data categories in Chinese (DX-8), the code kept for those the catalogue lacks."""
    names = [CATEGORIES[c][0] if c in CATEGORIES else c for c in (codes or "").split(",") if c.strip()]
    return "、".join(names) or "—"


def list_units(session: Session) -> list[Unit]:
    return list(session.execute(
        select(Unit).join(Region, Region.code == Unit.region_code).options(selectinload(Unit.region))
        .order_by(Region.path, Unit.code)
    ).scalars())


def unit_choices(session: Session, *kinds: UnitKind, value: str = "id") -> list[tuple[str, str]]:
    """``(id or code, "name（code）")`` of the active units, optionally of some kinds only."""
    query = select(Unit).where(Unit.is_active.is_(True)).order_by(Unit.code)
    if kinds:
        query = query.where(Unit.kind.in_(kinds))
    return [(str(getattr(u, value)), f"{u.name}（{u.code}）") for u in session.execute(query).scalars()]


def role_names(session: Session) -> dict[str, str]:
    return {code: name for code, name in session.execute(select(Role.code, Role.name).order_by(Role.code))}


def list_users(session: Session) -> list[tuple[User, list[Membership]]]:
    """Every user with the roles they hold."""
    held: dict[int, list[Membership]] = defaultdict(list)
    memberships = select(Membership).options(selectinload(Membership.unit)).order_by(Membership.unit_id,
                                                                                    Membership.role_code)
    for membership in session.execute(memberships).scalars():
        held[membership.user_id].append(membership)
    users = session.execute(select(User).order_by(User.username)).scalars()
    return [(user, held[user.id]) for user in users]


@dataclass(frozen=True)
class RegistrationRow:
    registration: ExchangeRegistration
    user: User
    status: str


def registration_groups(session: Session, today: date) -> list[tuple[Unit, list[RegistrationRow]]]:
    """Registrations per sharing unit (sharing units without any are listed too), newest first."""
    rows: dict[int, list[RegistrationRow]] = defaultdict(list)
    query = (select(ExchangeRegistration, User).join(User, User.id == ExchangeRegistration.user_id)
             .options(selectinload(ExchangeRegistration.unit))
             .order_by(ExchangeRegistration.valid_from.desc(), ExchangeRegistration.id.desc()))
    for registration, user in session.execute(query):
        rows[registration.sharing_unit_id].append(RegistrationRow(registration, user, _status(registration, today)))
    sharing = session.execute(select(Unit).where(Unit.kind == UnitKind.SHARING_UNIT).order_by(Unit.code)).scalars()
    return [(unit, rows[unit.id]) for unit in sharing]


def _status(registration: ExchangeRegistration, today: date) -> str:
    if registration.valid_from > today:
        return "未生效"
    if registration.valid_to is not None and registration.valid_to < today:
        return "已终止" if registration.ended_at is not None else "已到期"
    return "有效"
