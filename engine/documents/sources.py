"""What the printable documents read from the case data: one place that loads it, so the layouts stay pure."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Region
from engine.models import Unit
from engine.models.case import Authorisation
from engine.models.case import Household


@dataclass(frozen=True)
class Places:
    """The address hierarchy of the form: 市(县、区) / 镇(街) / 村(居) names, blank where unknown."""

    city: str
    county: str
    town: str
    village: str


def places(session: Session, region_code: str) -> Places:
    """Names of the region's ancestors by level (the region path holds their codes)."""
    path = session.execute(select(Region.path).where(Region.code == region_code)).scalar_one_or_none() or ""
    codes = [c for c in path.split("/") if c]
    names = {level.value: name for level, name in session.execute(
        select(Region.level, Region.name).where(Region.code.in_(codes))).all()}
    return Places(names.get("city", ""), names.get("county", ""), names.get("town", ""), names.get("village", ""))


def unit_name(session: Session, unit_id: int | None) -> str:
    if unit_id is None:
        return ""
    return session.execute(select(Unit.name).where(Unit.id == unit_id)).scalar_one_or_none() or ""


def latest_authorisation(household: Household) -> Authorisation | None:
    """The authorisation the form shows: the newest one not superseded (a re-signed form replaces it)."""
    current = [a for a in household.authorisations if a.superseded_by_id is None]
    newest = current or household.authorisations
    return newest[-1] if newest else None
