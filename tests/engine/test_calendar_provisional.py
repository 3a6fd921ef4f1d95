"""Provisional calendars for years without official data (PR-5, CAL-01, CAL-03).

In December 2026 the 2027 schedule is not in ``chinese-calendar`` yet; every 30-working-day limit
started in December reaches into 2027. A provisional year keeps cases moving, and the official
seeding later replaces it.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

import engine.calendar as official
from engine.calendar import SEED_SOURCE
from engine.calendar import WorkingCalendar
from engine.calendar import seed_calendar
from engine.calendar import set_day
from engine.calendar_provisional import PROVISIONAL_SOURCE
from engine.calendar_provisional import is_provisional
from engine.calendar_provisional import provisional_years
from engine.calendar_provisional import seed_provisional
from engine.clock import FixedClock
from engine.errors import ValidationError
from engine.models import CalendarDay
from engine.models import CalendarDayKind
from engine.models import CalendarYear

D = date.fromisoformat

#: the 13 statutory days of 2027 and their 补假 (CAL-01 art. 2 and 6): Spring Festival eve is Fri Feb 5
STATUTORY_2027 = {
    "2027-01-01": "元旦",
    "2027-02-05": "农历除夕", "2027-02-06": "春节", "2027-02-07": "春节", "2027-02-08": "春节",
    "2027-02-09": "春节（补假）", "2027-02-10": "春节（补假）",
    "2027-04-05": "清明节",
    "2027-05-01": "劳动节", "2027-05-02": "劳动节", "2027-05-03": "劳动节（补假）", "2027-05-04": "劳动节（补假）",
    "2027-06-09": "端午节", "2027-09-15": "中秋节",
    "2027-10-01": "国庆节", "2027-10-02": "国庆节", "2027-10-03": "国庆节",
    "2027-10-04": "国庆节（补假）", "2027-10-05": "国庆节（补假）",
}


def _days(session: Session, year: int) -> dict[date, CalendarDay]:
    rows = session.scalars(select(CalendarDay).where(CalendarDay.day >= date(year, 1, 1),
                                                     CalendarDay.day <= date(year, 12, 31)))
    return {row.day: row for row in rows}


def test_provisional_year_has_the_statutory_holidays_and_nothing_else(session: Session, clock: FixedClock) -> None:
    assert seed_provisional(session, [2027], clock=clock) == 365
    days = _days(session, 2027)
    holidays = {d.isoformat(): r.name for d, r in days.items() if r.kind == CalendarDayKind.HOLIDAY}
    assert holidays == STATUTORY_2027
    assert not [d for d, r in days.items() if r.kind == CalendarDayKind.MAKEUP_WORKDAY], "调休 cannot be derived"
    assert all(r.is_workday == (d.weekday() < 5 and d.isoformat() not in STATUTORY_2027) for d, r in days.items())
    assert {r.source for r in days.values()} == {PROVISIONAL_SOURCE}
    year = session.get(CalendarYear, 2027)
    assert year is not None and year.is_complete and is_provisional(year.source)
    assert provisional_years(session) == [2027]


def test_deadlines_cross_into_a_provisional_year(session: Session, clock: FixedClock) -> None:
    cal = WorkingCalendar(session)
    with pytest.raises(ValidationError) as missing:
        cal.add_working_days(D("2026-12-21"), 30)
    assert missing.value.code == "calendar_year_missing"

    seed_provisional(session, [2027], clock=clock)
    cal.invalidate()
    # Dec 22–31: 8 working days; Jan 1 off; then 4 full weeks (20) and Feb 1, Feb 2
    assert cal.add_working_days(D("2026-12-21"), 30) == D("2027-02-02")
    # Feb 5 (eve), the weekend, Feb 8 and the two 补假 days are off
    assert cal.add_working_days(D("2027-02-04"), 1) == D("2027-02-11")


def test_refused_where_official_data_exists(session: Session, clock: FixedClock) -> None:
    before = session.scalar(select(func.count()).select_from(CalendarDay))
    with pytest.raises(ValidationError) as excinfo:
        seed_provisional(session, [2027, 2026], clock=clock)
    assert excinfo.value.code == "calendar_official_available"
    assert "2026 年" in excinfo.value.message
    assert session.scalar(select(func.count()).select_from(CalendarDay)) == before
    assert session.get(CalendarYear, 2027) is None


def test_reloading_keeps_admin_edits(session: Session, clock: FixedClock) -> None:
    seed_provisional(session, [2027], clock=clock)
    set_day(session, D("2027-02-20"), is_workday=True, kind="makeup_workday", name="春节",
            actor_username="admin1", clock=clock)
    assert seed_provisional(session, [2027], clock=clock) == 364
    kept = session.get(CalendarDay, D("2027-02-20"))
    assert kept is not None and (kept.kind, kept.source) == (CalendarDayKind.MAKEUP_WORKDAY, "admin:admin1")


def test_official_seeding_replaces_every_provisional_day(session: Session, clock: FixedClock,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seed_provisional(session, [2027], clock=clock)

    def official_2027(day: date) -> tuple[bool, CalendarDayKind, str | None]:
        """A stand-in for a future package release: the statutory days plus one 调休 Saturday."""
        if day == D("2027-02-20"):
            return True, CalendarDayKind.MAKEUP_WORKDAY, "春节"
        if day.isoformat() in STATUTORY_2027:
            return False, CalendarDayKind.HOLIDAY, STATUTORY_2027[day.isoformat()]
        return (True, CalendarDayKind.WORKDAY, None) if day.weekday() < 5 else (False, CalendarDayKind.WEEKEND, None)

    monkeypatch.setattr(official, "_check_supported", lambda year: None)
    monkeypatch.setattr(official, "_package_values", official_2027)
    assert seed_calendar(session, [2027], clock=clock) == 365
    days = _days(session, 2027)
    assert {r.source for r in days.values()} == {SEED_SOURCE}
    assert days[D("2027-02-20")].is_workday
    year = session.get(CalendarYear, 2027)
    assert year is not None and year.source == SEED_SOURCE
    assert provisional_years(session) == []
    with pytest.raises(ValidationError) as excinfo:
        seed_provisional(session, [2027], clock=clock)
    assert excinfo.value.code == "calendar_official_available"


def test_cli_seeds_the_missing_year_provisionally_only_on_request(runner, app) -> None:  # type: ignore[no-untyped-def]
    session = app.extensions["hedui"].new_context().session
    this_year = app.extensions["hedui"].clock.now().year
    next_year = this_year + 1
    assert not official.is_year_supported(next_year), "this test needs a year the package does not cover"

    plain = runner.invoke(args=["calendar", "seed"])
    assert plain.exit_code == 0 and f"{next_year} 年的节假日安排尚无数据" in plain.output
    assert session.get(CalendarYear, next_year) is None

    refused = runner.invoke(args=["calendar", "seed", str(next_year)])
    assert refused.exit_code == 1 and "无法导入" in refused.output

    result = runner.invoke(args=["calendar", "seed", "--provisional"])
    assert result.exit_code == 0, result.output
    assert "临时日历" in result.output
    session.expire_all()
    loaded = session.get(CalendarYear, next_year)
    assert loaded is not None and is_provisional(loaded.source)
    assert not is_provisional(session.get(CalendarYear, this_year).source)  # type: ignore[union-attr]
