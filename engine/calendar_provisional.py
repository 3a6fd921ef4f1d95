"""Provisional working-day calendars for years whose official schedule is not yet available.

The State Council publishes each year's 调休 schedule in November or December of the
previous year (CAL-03), and the ``chinese-calendar`` package follows some time later. Until
then every deadline reaching into the new year is refused (``calendar_year_missing``), which
in December blocks almost every 30- and 45-working-day limit.

An administrator may therefore load a *provisional* year built from the statutory rules only:
the 13 all-citizen holidays of 《全国年节及纪念日放假办法》 (CAL-01, lunar dates computed by the
``holidays`` package) with the substitute days off (补假) of its article 6, and Saturdays and
Sundays as rest days (CAL-02). What the rules cannot give is the 调休 swap (make-up working
Saturdays), so a provisional year counts *fewer* working days around the long holidays than the
official one will, and deadlines computed on it may come out a few days late. That is why the
year is marked provisional everywhere it shows (source ``provisional:...``) and why it is never
loaded implicitly, only on request (``hedui calendar seed --provisional``, which ``make run``
uses for the demo). Seeding the official data later replaces every provisional day; days an
administrator corrected by hand are kept, as with the official seeding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from datetime import datetime

from holidays.countries.china import China
from holidays.version import __version__ as holidays_version
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import true
from sqlalchemy.orm import Session

from engine.calendar import ADMIN_SOURCE_PREFIX
from engine.calendar import is_year_supported
from engine.calendar import mark_year_loaded
from engine.clock import Clock
from engine.errors import ValidationError
from engine.models import CalendarDay
from engine.models import CalendarDayKind
from engine.models import CalendarYear

logger = logging.getLogger(__name__)

PROVISIONAL_PREFIX = "provisional:"
PROVISIONAL_SOURCE = f"{PROVISIONAL_PREFIX} statutory holidays, no 调休 (holidays {holidays_version})"
#: the package's lunar and solar-term tables end here
_LAST_COMPUTABLE_YEAR = 2099


def is_provisional(source: str | None) -> bool:
    """Whether a calendar row or year came from the statutory rules rather than the official notice."""
    return bool(source) and source.startswith(PROVISIONAL_PREFIX)  # type: ignore[union-attr]


def statutory_days_off(year: int) -> dict[date, str]:
    """The all-citizen holidays of ``year`` with their 补假, by the rules alone (CAL-01 art. 2, 6)."""
    return {day: str(name) for day, name in China(  # type: ignore[no-untyped-call]  # unannotated upstream
        years=year, language="zh_CN").items()}


def _check_provisional_allowed(year: int) -> None:
    if is_year_supported(year):
        raise ValidationError(
            f"{year} 年已有国务院办公厅公布的节假日安排，"
            f"请导入正式日历（hedui calendar seed {year}），不要使用临时日历。",
            code="calendar_official_available", year=year)
    if not 2000 <= year <= _LAST_COMPUTABLE_YEAR:
        raise ValidationError(f"无法推算 {year} 年的法定节假日。", code="calendar_year_unsupported", year=year)


def seed_provisional(session: Session, years: Iterable[int], *, clock: Clock) -> int:
    """Load provisional calendars for ``years``; refused for a year the official package covers.

    Idempotent. Days an administrator edited are kept; a year already loaded from official
    data is refused rather than downgraded.

    :returns: the number of day rows written.
    :raises ValidationError: ``calendar_official_available`` / ``calendar_year_unsupported``,
        checked for every year before anything is written.
    """
    wanted = sorted(set(years))
    for year in wanted:
        _check_provisional_allowed(year)
        loaded = session.get(CalendarYear, year)
        if loaded is not None and loaded.is_complete and not is_provisional(loaded.source):
            raise ValidationError(f"{year} 年已导入正式日历（{loaded.source}），不能改为临时日历。",
                                  code="calendar_official_available", year=year)
    now = clock.now()
    written = 0
    for year in wanted:
        written += _write_year(session, year, now)
        mark_year_loaded(session, year, PROVISIONAL_SOURCE, now)
    session.flush()
    logger.warning("Provisional calendar (no 调休) loaded for %s; load the official schedule once published", wanted)
    return written


def _write_year(session: Session, year: int, now: datetime) -> int:
    first, last = date(year, 1, 1), date(year, 12, 31)
    kept = set(session.scalars(select(CalendarDay.day).where(
        CalendarDay.day >= first, CalendarDay.day <= last, CalendarDay.source.startswith(ADMIN_SOURCE_PREFIX))))
    session.execute(delete(CalendarDay).where(CalendarDay.day >= first, CalendarDay.day <= last,
                                              CalendarDay.day.not_in(kept) if kept else true()))
    off = statutory_days_off(year)
    rows = []
    day = first
    while day <= last:
        if day not in kept:
            name = off.get(day)
            if name is not None:
                kind, is_workday = CalendarDayKind.HOLIDAY, False
            elif day.weekday() >= 5:
                kind, is_workday = CalendarDayKind.WEEKEND, False
            else:
                kind, is_workday = CalendarDayKind.WORKDAY, True
            rows.append({"day": day, "is_workday": is_workday, "kind": kind, "name": name,
                         "source": PROVISIONAL_SOURCE, "updated_at": now})
        day = date.fromordinal(day.toordinal() + 1)
    if rows:
        session.execute(insert(CalendarDay), rows)
    return len(rows)


def provisional_years(session: Session) -> list[int]:
    """The loaded years that are still provisional (shown as a warning to administrators)."""
    return list(session.scalars(select(CalendarYear.year).where(
        CalendarYear.source.startswith(PROVISIONAL_PREFIX)).order_by(CalendarYear.year)))


#: from this day of the year on, the longest limits (45 working days) reach into the next year
_NEXT_YEAR_RELEVANT_FROM = (10, 1)


def calendar_gaps(session: Session, today: date) -> list[tuple[int, str]]:
    """Years deadlines may soon need whose calendar is missing, incomplete or provisional.

    This year always; the next one from October, when 45-working-day limits start reaching into it.
    Returns ``(year, "missing" | "incomplete" | "provisional")`` pairs for the administrators' home page.
    """
    years = [today.year]
    if (today.month, today.day) >= _NEXT_YEAR_RELEVANT_FROM:
        years.append(today.year + 1)
    gaps = []
    for year in years:
        loaded = session.get(CalendarYear, year)
        if loaded is None:
            gaps.append((year, "missing"))
        elif not loaded.is_complete:
            gaps.append((year, "incomplete"))
        elif is_provisional(loaded.source):
            gaps.append((year, "provisional"))
    return gaps
