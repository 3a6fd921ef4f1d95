"""What the intake wizard looks up: the clerk's entrusting units, the agency they entrust, regions, drafts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError
from engine.models import IntakeDraft
from engine.models import Membership
from engine.models import Region
from engine.models import RegionLevel
from engine.models import Unit
from engine.models import UnitKind

#: the role that registers entrustments in the wizard (授权书 and 委托书 of the street office)
CLERK_ROLE = "street_clerk"


def clerk_units(session: Session, user_id: int) -> list[Unit]:
    """The active entrusting units in which the user is a street clerk."""
    query = (select(Unit).join(Membership, Membership.unit_id == Unit.id)
             .where(Membership.user_id == user_id, Membership.role_code == CLERK_ROLE,
                    Unit.kind == UnitKind.ENTRUSTING_DEPARTMENT, Unit.is_active.is_(True))
             .order_by(Unit.code))
    return list(session.execute(query).scalars().unique())


def county_agency(session: Session, unit: Unit) -> Unit | None:
    """The verification agency of the county (县级核对机构) whose region contains ``unit``'s region."""
    codes = [code for code in unit.region.path.split("/") if code]
    regions = {r.code: r for r in session.execute(select(Region).where(Region.code.in_(codes))).scalars()}
    county = next((code for code in reversed(codes)
                   if code in regions and regions[code].level is RegionLevel.COUNTY), None)
    if county is None:
        return None
    return session.execute(
        select(Unit).where(Unit.kind == UnitKind.VERIFICATION_AGENCY, Unit.region_code == county,
                           Unit.is_active.is_(True)).order_by(Unit.code)
    ).scalars().first()


def region_choices(session: Session, unit: Unit) -> list[tuple[str, str]]:
    """``(code, label)`` of the unit's region and every region below it (where its households live)."""
    regions = session.execute(
        select(Region).where(Region.path.startswith(unit.region.path)).order_by(Region.path)
    ).scalars()
    depth = unit.region.path.count("/")
    return [(r.code, f"{'— ' * (r.path.count('/') - depth)}{r.name}（{r.code}）") for r in regions]


def list_drafts(session: Session, user_id: int) -> list[IntakeDraft]:
    return list(session.execute(
        select(IntakeDraft).where(IntakeDraft.user_id == user_id).order_by(IntakeDraft.updated_at.desc())
    ).scalars())


def get_draft(session: Session, draft_id: int, user_id: int) -> IntakeDraft:
    """The user's own draft; anyone else's is as good as missing (404)."""
    draft = session.get(IntakeDraft, draft_id)
    if draft is None or draft.user_id != user_id:
        raise NotFoundError("草稿不存在或已提交", draft_id=draft_id)
    return draft
