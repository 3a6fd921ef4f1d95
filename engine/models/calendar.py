"""The working-day calendar as data: one row per day, plus the years that have been loaded (PR-5, CAL-06)."""

from __future__ import annotations

import enum
from datetime import date
from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from engine.db import Base
from engine.db import str_100
from engine.db import str_enum


class CalendarDayKind(enum.StrEnum):
    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    #: a Saturday or Sunday worked in exchange for days off around a holiday (调休上班)
    MAKEUP_WORKDAY = "makeup_workday"


#: kinds on which government offices work; ``is_workday`` must agree (checked by the database too)
WORKING_KINDS = frozenset({CalendarDayKind.WORKDAY, CalendarDayKind.MAKEUP_WORKDAY})


class CalendarDay(Base):
    """One day of the official calendar: worked or not, and why."""

    __tablename__ = "calendar_days"
    __table_args__ = (
        CheckConstraint(
            "(is_workday AND kind IN ('workday', 'makeup_workday')) "
            "OR (NOT is_workday AND kind IN ('weekend', 'holiday'))",
            name="kind_matches_workday",
        ),
    )

    day: Mapped[date] = mapped_column(primary_key=True)
    is_workday: Mapped[bool]
    kind: Mapped[CalendarDayKind] = mapped_column(str_enum(CalendarDayKind, 20))
    #: the holiday (or, for a make-up working day, the holiday it makes up for), in Chinese
    name: Mapped[str | None] = mapped_column(String(100))
    #: ``chinese-calendar <version>`` when seeded, ``admin:<username>`` once edited (re-seeding keeps those)
    source: Mapped[str_100]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<CalendarDay {self.day.isoformat()} {self.kind.value}>"


class CalendarYear(Base):
    """A year for which calendar data exists; deadlines touching any other year are refused."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: every day of the year has a row; False while an administrator enters a year by hand
    is_complete: Mapped[bool]
    #: where the year's data came from (``chinese-calendar <version>`` or ``admin:<username>``)
    source: Mapped[str_100]
    loaded_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<CalendarYear {self.year} complete={self.is_complete}>"
