"""The organisation: administrative regions, units in them, and who holds which role where."""

from __future__ import annotations

import enum
from datetime import date
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy import and_
from sqlalchemy import or_
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.clock import within
from engine.db import Base
from engine.db import str_100
from engine.db import str_enum


class RegionLevel(enum.StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWN = "town"
    VILLAGE = "village"


REGION_LEVEL_NAMES = {"province": "省", "city": "市（州）", "county": "县（市、区）", "town": "乡镇（街道）",
                      "village": "村（居）委会"}


class Region(Base):
    """An administrative region with its GB/T 2260-style code (6 digits; towns 9, villages 12)."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str_100]
    level: Mapped[RegionLevel] = mapped_column(str_enum(RegionLevel))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)
    #: materialised path of codes from the province down ("220000/220100/220104/"), for subtree queries
    path: Mapped[str] = mapped_column(String(200), index=True)

    parent: Mapped[Region | None] = relationship(remote_side=[code])

    def __repr__(self) -> str:
        return f"<Region {self.code} {self.name}>"


class UnitKind(enum.StrEnum):
    VERIFICATION_AGENCY = "verification_agency"
    ENTRUSTING_DEPARTMENT = "entrusting_department"
    SHARING_UNIT = "sharing_unit"
    VILLAGE_COMMITTEE = "village_committee"
    SUPERVISOR = "supervisor"


UNIT_KIND_NAMES = {"verification_agency": "核对机构", "entrusting_department": "委托单位",
                   "sharing_unit": "信息共享单位", "village_committee": "村（居）委会", "supervisor": "监督部门"}


class Unit(Base):
    """An organisation unit located in one region."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[UnitKind] = mapped_column(str_enum(UnitKind), index=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    #: for sharing units: the data categories provided (DX-8), comma-separated codes
    categories: Mapped[str | None] = mapped_column(String(500))
    #: the unit's contact phone (联系电话), printed on the letters the system writes for it (upward 委托书, DO-5)
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    region: Mapped[Region] = relationship()

    def __repr__(self) -> str:
        return f"<Unit {self.code} {self.name}>"


class Membership(Base):
    """A user holds a role in a unit (several roles, several units are fine)."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "unit_id", "role_code"),
        Index("ix_memberships_unit_role", "unit_id", "role_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    role_code: Mapped[str] = mapped_column(ForeignKey("roles.code"))
    granted_at: Mapped[datetime]
    granted_by: Mapped[str | None] = mapped_column(String(64))

    unit: Mapped[Unit] = relationship()


class ExchangeSide(enum.StrEnum):
    AGENCY = "agency"
    SHARING_UNIT = "sharing_unit"


class ExchangeRegistration(Base):
    """A registered (备案) exchange officer for one sharing unit, valid for a period (SD-3).

    Changes are new rows or an end date, never edits of the past: what was valid when
    an exchange happened stays answerable.
    """

    __tablename__ = "exchange_registrations"
    __table_args__ = (Index("ix_exchange_registrations_lookup", "sharing_unit_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: the information-sharing unit this registration is for
    sharing_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    #: the unit the officer works for (the agency, or the sharing unit itself)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    side: Mapped[ExchangeSide] = mapped_column(str_enum(ExchangeSide))
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
    registered_at: Mapped[datetime]
    registered_by: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(64))

    sharing_unit: Mapped[Unit] = relationship(foreign_keys=[sharing_unit_id])
    unit: Mapped[Unit] = relationship(foreign_keys=[unit_id])

    @hybrid_method
    def is_valid_on(self, day: date) -> bool:
        """Whether the registration is in force on ``day`` (a Beijing date); also usable in queries."""
        return within(day, self.valid_from, self.valid_to)

    # hybrid_method.expression modifies in place like .inplace.expression (which mypy cannot type)
    @is_valid_on.expression
    @classmethod
    def _is_valid_on(cls, day: date) -> ColumnElement[bool]:
        return and_(cls.valid_from <= day, or_(cls.valid_to.is_(None), cls.valid_to >= day))
