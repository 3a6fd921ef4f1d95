"""The working-day calendar (PR-5, domain notes §8): decision tables over the seeded 2025/2026 data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from engine.calendar import SEED_SOURCE
from engine.calendar import WorkingCalendar
from engine.calendar import seed_calendar
from engine.calendar import set_day
from engine.clock import FixedClock
from engine.errors import ValidationError
from engine.models import CalendarDay
from engine.models import CalendarDayKind
from engine.models import CalendarYear

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = date.fromisoformat

#: 调休上班日 of 2025 and 2026 (domain notes §8.2)
MAKEUP_WORKDAYS = [
    "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",
    "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
]


@pytest.fixture
def seeded(session: Session, clock: FixedClock) -> Session:
    seed_calendar(session, [2025, 2026], clock=clock)
    return session


@pytest.fixture
def cal(seeded: Session) -> WorkingCalendar:
    return WorkingCalendar(seeded)


def _error(excinfo: pytest.ExceptionInfo[ValidationError]) -> tuple[str, str]:
    return excinfo.value.code, excinfo.value.message


# --- seeded data ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", MAKEUP_WORKDAYS)
def test_makeup_working_day_counts_as_workday(cal: WorkingCalendar, seeded: Session, day: str) -> None:
    assert D(day).weekday() >= 5
    assert cal.is_workday(D(day))
    row = seeded.get(CalendarDay, D(day))
    assert row is not None and row.kind is CalendarDayKind.MAKEUP_WORKDAY and row.name


@pytest.mark.parametrize(
    ("day", "is_workday", "kind", "name"),
    [
        # National Day 2026: Oct 1–7 off, Thu Oct 8 back at work, Sat Oct 10 a make-up day
        *[(f"2026-10-0{i}", False, "holiday", "国庆节") for i in range(1, 8)],
        ("2026-10-08", True, "workday", None),
        ("2026-10-09", True, "workday", None),
        ("2026-10-10", True, "makeup_workday", "国庆节"),
        ("2026-10-11", False, "weekend", None),
        # Spring Festival 2026: Sat Feb 14 worked, Feb 15–23 off (nine days), Sat Feb 28 worked
        ("2026-02-13", True, "workday", None),
        ("2026-02-14", True, "makeup_workday", "春节"),
        *[(f"2026-02-{i}", False, "holiday", "春节") for i in range(15, 24)],
        ("2026-02-24", True, "workday", None),
        ("2026-02-28", True, "makeup_workday", "春节"),
        # the other festivals, with the names of the State Council notice
        ("2026-01-01", False, "holiday", "元旦"),
        ("2026-01-02", False, "holiday", "元旦"),
        ("2026-04-05", False, "holiday", "清明节"),
        ("2026-05-05", False, "holiday", "劳动节"),
        ("2026-06-19", False, "holiday", "端午节"),
        ("2026-09-25", False, "holiday", "中秋节"),
        ("2025-10-08", False, "holiday", "国庆节"),
        ("2026-11-21", False, "weekend", None),
        ("2026-11-23", True, "workday", None),
    ],
)
def test_seeded_day(cal: WorkingCalendar, seeded: Session, day: str, is_workday: bool, kind: str,
                    name: str | None) -> None:
    row = seeded.get(CalendarDay, D(day))
    assert row is not None
    assert (row.is_workday, row.kind, row.name, row.source) == (is_workday, CalendarDayKind(kind), name, SEED_SOURCE)
    assert cal.is_workday(D(day)) is is_workday


def test_seeding_records_whole_years(seeded: Session, clock: FixedClock) -> None:
    assert seeded.scalar(select(func.count()).select_from(CalendarDay)) == 365 + 365
    years = seeded.scalars(select(CalendarYear).order_by(CalendarYear.year)).all()
    assert [(y.year, y.is_complete, y.source, y.loaded_at) for y in years] == [
        (2025, True, SEED_SOURCE, clock.now()), (2026, True, SEED_SOURCE, clock.now()),
    ]


def test_reseeding_changes_nothing(seeded: Session, clock: FixedClock) -> None:
    assert seed_calendar(seeded, [2026, 2025, 2026], clock=clock) == 0


@pytest.fixture
def blank(session: Session) -> Session:
    """The test databases come with 2025–2026 loaded; these tests need an empty calendar."""
    session.execute(delete(CalendarDay))
    session.execute(delete(CalendarYear))
    session.flush()
    return session


@pytest.mark.parametrize(("years", "missing"), [([2027], 2027), ([2026, 2027], 2027), ([2003, 2025], 2003)])
def test_seeding_a_year_the_package_lacks_is_refused(blank: Session, clock: FixedClock, years: list[int],
                                                     missing: int) -> None:
    session = blank
    with pytest.raises(ValidationError) as excinfo:
        seed_calendar(session, years, clock=clock)
    code, message = _error(excinfo)
    assert code == "calendar_year_unsupported"
    assert f"{missing} 年" in message
    assert excinfo.value.details == {"year": missing}
    assert session.scalar(select(func.count()).select_from(CalendarDay)) == 0


# --- counting (CAL-04: the start day is not counted) -------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        ("2026-09-28", 7, "2026-10-13"),  # the worked example in domain notes CAL-04
        ("2026-09-28", 1, "2026-09-29"),
        ("2026-09-30", 1, "2026-10-08"),  # over National Day
        ("2026-10-01", 3, "2026-10-10"),  # start on a holiday; Sat Oct 10 counts
        ("2026-10-03", 1, "2026-10-08"),  # start on a holiday that is a Saturday
        ("2026-10-10", 1, "2026-10-12"),  # start on a make-up day
        ("2026-11-21", 1, "2026-11-23"),  # start on a Saturday
        ("2026-11-22", 5, "2026-11-27"),  # start on a Sunday
        ("2026-02-13", 1, "2026-02-14"),  # Spring Festival: the make-up Saturday before it
        ("2026-02-13", 2, "2026-02-24"),
        ("2026-02-12", 5, "2026-02-26"),
        ("2026-04-30", 5, "2026-05-11"),  # Labour Day; Sat May 9 counts
        ("2025-09-26", 2, "2025-09-29"),  # Sun 2025-09-28 counts
        ("2025-09-30", 1, "2025-10-09"),
        ("2025-01-24", 2, "2025-01-27"),  # Sun 2025-01-26 counts
        ("2025-12-30", 3, "2026-01-05"),  # over New Year into 2026; Sun 2026-01-04 counts
        ("2026-11-23", 10, "2026-12-07"),  # PS-10 county check
        ("2026-11-23", 15, "2026-12-14"),  # PS-10 check entrusted to the city
        ("2026-12-28", 3, "2026-12-31"),  # uses up 2026 exactly, never touches 2027
    ],
)
def test_add_working_days(cal: WorkingCalendar, start: str, n: int, due: str) -> None:
    assert cal.add_working_days(D(start), n) == D(due)
    assert cal.working_days_between(D(start), D(due)) == n


@pytest.mark.parametrize(
    ("a", "b", "count"),
    [
        ("2026-09-28", "2026-10-13", 7),
        ("2026-10-13", "2026-09-28", -7),
        ("2026-10-01", "2026-10-07", 0),
        ("2026-10-08", "2026-10-08", 0),
        ("2026-10-07", "2026-10-08", 1),
        ("2025-12-31", "2026-01-04", 1),
        ("2025-01-01", "2026-12-31", 248 + 248),
    ],
)
def test_working_days_between(cal: WorkingCalendar, a: str, b: str, count: int) -> None:
    assert cal.working_days_between(D(a), D(b)) == count


def test_counting_agrees_with_a_day_by_day_walk(cal: WorkingCalendar) -> None:
    start = D("2025-01-01")
    while start < D("2026-11-01"):
        walk, due = start, list[date]()
        while len(due) < 30:
            walk += timedelta(days=1)
            if cal.is_workday(walk):
                due.append(walk)
        assert [cal.add_working_days(start, n) for n in (1, 7, 15, 30)] == [due[0], due[6], due[14], due[29]]
        start += timedelta(days=1)


@pytest.mark.parametrize("n", [0, -1, True, 1.5])
def test_working_days_must_be_positive(cal: WorkingCalendar, n: object) -> None:
    with pytest.raises(ValidationError) as excinfo:
        cal.add_working_days(D("2026-09-28"), n)  # type: ignore[arg-type]
    assert excinfo.value.code == "invalid_working_days"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c, t: c.is_workday(t), id="is_workday"),
        pytest.param(lambda c, t: c.add_working_days(t, 1), id="add_working_days"),
        pytest.param(lambda c, t: c.working_days_between(D("2026-09-28"), t), id="working_days_between"),
    ],
)
def test_datetimes_are_not_dates(cal: WorkingCalendar, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError):
        call(cal, datetime(2026, 10, 8, 9, tzinfo=SHANGHAI))


# --- years without data: an explicit error, never a Monday–Friday guess -------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.add_working_days(D("2026-12-28"), 5), id="2026-12-28+5"),
        pytest.param(lambda c: c.add_working_days(D("2026-11-23"), 30), id="PS-10-30-days-from-T0"),
        pytest.param(lambda c: c.is_workday(D("2027-01-04")), id="is_workday"),
        pytest.param(lambda c: c.working_days_between(D("2026-12-01"), D("2027-01-10")), id="between"),
        pytest.param(lambda c: c.deadline(datetime(2026, 12, 28, 9, tzinfo=SHANGHAI), 5), id="deadline"),
    ],
)
def test_missing_year_is_an_error(cal: WorkingCalendar, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as excinfo:
        call(cal)
    code, message = _error(excinfo)
    assert code == "calendar_year_missing"
    assert message.startswith("2027 年的工作日历尚未导入")
    assert excinfo.value.details == {"year": 2027}


def test_empty_calendar_is_an_error(blank: Session) -> None:
    session = blank
    with pytest.raises(ValidationError) as excinfo:
        WorkingCalendar(session).add_working_days(D("2026-09-28"), 7)
    assert _error(excinfo) == ("calendar_year_missing", excinfo.value.message)
    assert excinfo.value.message.startswith("2026 年的工作日历尚未导入")


def test_year_entered_only_partly_by_an_admin_is_still_refused(cal: WorkingCalendar, seeded: Session,
                                                                clock: FixedClock) -> None:
    set_day(seeded, D("2027-01-01"), is_workday=False, kind="holiday", name="元旦", actor_username="admin1",
            clock=clock)
    assert seeded.get(CalendarYear, 2027).is_complete is False  # type: ignore[union-attr]
    with pytest.raises(ValidationError) as excinfo:
        cal.is_workday(D("2027-01-04"))
    assert _error(excinfo)[0] == "calendar_year_missing"
    assert excinfo.value.message.startswith("2027 年的工作日历尚未完整导入")


# --- administrator edits --------------------------------------------------------------------------------------


def test_admin_edit_changes_the_result_and_survives_reseeding(cal: WorkingCalendar, seeded: Session,
                                                              clock: FixedClock) -> None:
    assert cal.add_working_days(D("2026-09-28"), 7) == D("2026-10-13")
    clock.advance(hours=1)
    row = set_day(seeded, D("2026-10-09"), is_workday=False, kind=CalendarDayKind.HOLIDAY, name="  本地调整 ",
                  actor_username="admin1", clock=clock)
    assert (row.source, row.name, row.updated_at) == ("admin:admin1", "本地调整", clock.now())

    assert cal.add_working_days(D("2026-09-28"), 7) == D("2026-10-13"), "cached until invalidated"
    cal.invalidate(2026)
    assert cal.add_working_days(D("2026-09-28"), 7) == D("2026-10-14")

    assert seed_calendar(seeded, [2026], clock=clock) == 0
    cal.invalidate()
    assert cal.add_working_days(D("2026-09-28"), 7) == D("2026-10-14")
    assert seeded.get(CalendarDay, D("2026-10-09")).source == "admin:admin1"  # type: ignore[union-attr]


def test_admin_can_add_a_makeup_working_day(cal: WorkingCalendar, seeded: Session, clock: FixedClock) -> None:
    set_day(seeded, D("2026-11-21"), is_workday=True, kind="makeup_workday", name=None, actor_username="admin1",
            clock=clock)
    assert WorkingCalendar(seeded).add_working_days(D("2026-11-20"), 1) == D("2026-11-21")


@pytest.mark.parametrize(
    ("day", "is_workday", "kind"),
    [
        ("2026-11-23", True, "holiday"),  # kind contradicts is_workday
        ("2026-11-23", False, "workday"),
        ("2026-11-23", False, "weekend"),  # a Monday is never a weekend
        ("2026-11-23", True, "makeup_workday"),  # make-up days are Saturdays or Sundays
        ("2026-11-21", True, "workday"),  # a Saturday is worked only as a make-up day
        ("2026-11-23", True, "overtime"),
    ],
)
def test_admin_edit_is_validated(seeded: Session, clock: FixedClock, day: str, is_workday: bool, kind: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        set_day(seeded, D(day), is_workday=is_workday, kind=kind, name=None, actor_username="admin1", clock=clock)
    assert "kind" in excinfo.value.details["fields"]


# --- deadlines --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "due_day"),
    [
        (datetime(2026, 9, 28, 9, 0, tzinfo=SHANGHAI), 7, "2026-10-13"),
        # 17:00 UTC on Sep 28 is already Sep 29 in Beijing: counting starts from the local date
        (datetime(2026, 9, 28, 17, 0, tzinfo=UTC), 7, "2026-10-14"),
        (datetime(2026, 9, 28, 15, 59, tzinfo=UTC), 7, "2026-10-13"),
        (datetime(2026, 9, 28, 23, 59, 59, tzinfo=SHANGHAI), 7, "2026-10-13"),
    ],
)
def test_deadline_is_the_end_of_the_due_working_day(cal: WorkingCalendar, start: datetime, n: int,
                                                    due_day: str) -> None:
    deadline_fn: Callable[[datetime, int], datetime] = cal.deadline  # the engine's DeadlineFn
    due = deadline_fn(start, n)
    assert due.tzinfo is not None and due.utcoffset() == timedelta(hours=8)
    assert due == datetime.combine(D(due_day), datetime.max.time(), tzinfo=SHANGHAI)
    assert due.astimezone(UTC).isoformat() == f"{due_day}T15:59:59.999999+00:00"


def test_deadline_refuses_a_naive_start(cal: WorkingCalendar) -> None:
    with pytest.raises(ValidationError) as excinfo:
        cal.deadline(datetime(2026, 9, 28, 9, 0), 7)
    assert excinfo.value.code == "naive_datetime"


def test_deadline_works_with_a_session_factory(seeded: Session, session_factory: sessionmaker[Session]) -> None:
    seeded.flush()
    cal = WorkingCalendar(session_factory)
    assert cal.deadline(datetime(2026, 9, 28, 9, tzinfo=SHANGHAI), 7).date() == D("2026-10-13")


# --- cost and cross-checks ----------------------------------------------------------------------------------------


def test_years_are_cached(cal: WorkingCalendar, seeded: Session) -> None:
    cal.add_working_days(D("2025-12-30"), 3)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    connection = seeded.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        for offset in range(3000):
            start = D("2025-01-01") + timedelta(days=offset % 600)
            cal.add_working_days(start, 10)
            cal.is_workday(start)
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert statements == []


def test_workdays_agree_with_the_holidays_package(cal: WorkingCalendar) -> None:
    holidays = pytest.importorskip("holidays", reason="cross-check needs the optional 'holidays' package")
    china = holidays.China(years=[2025, 2026])
    day, disagree = D("2025-01-01"), []
    while day.year < 2027:
        if cal.is_workday(day) != china.is_working_day(day):
            disagree.append(day)
        day += timedelta(days=1)
    assert disagree == []
