"""Working days on the official Chinese calendar (PR-5, domain notes §8).

The calendar is data: ``calendar_days`` is seeded from the ``chinese-calendar``
package and an administrator may correct single days. Counting follows CAL-04:
the start day is not counted, counting begins the next day. A computation that
needs a year without (complete) data raises ``ValidationError`` with the code
``calendar_year_missing``; there is deliberately no Monday–Friday fallback,
because the 调休 schedule cannot be derived from rules (CAL-03).

Seeding and editing only ``flush()``; the caller commits. A long-lived
:class:`WorkingCalendar` caches each year in memory: call ``invalidate()`` after
seeding or editing (other processes see the change once their cache is dropped).
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_right
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from datetime import tzinfo

import chinese_calendar  # type: ignore[import-untyped]
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from engine.clock import LOCAL_TZ
from engine.clock import Clock
from engine.errors import ValidationError
from engine.models import CalendarDay
from engine.models import CalendarDayKind
from engine.models import CalendarYear
from engine.models.calendar import WORKING_KINDS

logger = logging.getLogger(__name__)

SHANGHAI = LOCAL_TZ
SEED_SOURCE = f"chinese-calendar {chinese_calendar.__version__}"
ADMIN_SOURCE_PREFIX = "admin:"
#: the package's Chinese names are abbreviated for three festivals; use the names of the State Council notices
_OFFICIAL_NAMES = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}

_WEEKDAY_KINDS = frozenset({CalendarDayKind.WORKDAY, CalendarDayKind.HOLIDAY})
_WEEKEND_KINDS = frozenset({CalendarDayKind.WEEKEND, CalendarDayKind.HOLIDAY, CalendarDayKind.MAKEUP_WORKDAY})

_DayValues = tuple[bool, CalendarDayKind, str | None]


def _days_of(year: int) -> Iterator[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)


def _year_missing(year: int, *, partial: bool) -> ValidationError:
    state = "尚未完整导入" if partial else "尚未导入"
    return ValidationError(
        f"{year} 年的工作日历{state}，无法按工作日计算期限。请系统管理员导入该年度的节假日与调休安排后重试。",
        code="calendar_year_missing",
        year=year,
    )


# --- seeding and editing ---------------------------------------------------------------------------------


def is_year_supported(year: int) -> bool:
    """Whether the bundled calendar package has the official schedule for ``year``."""
    try:
        _check_supported(year)
    except ValidationError:
        return False
    return True


def _check_supported(year: int) -> None:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError as exc:
        raise ValidationError(
            f"日历数据包 {SEED_SOURCE} 不包含 {year} 年的节假日安排，无法导入。"
            f"请升级 chinesecalendar 软件包，或由管理员逐日录入 {year} 年的日历。",
            code="calendar_year_unsupported",
            year=year,
        ) from exc


def _chinese_name(english: str | None) -> str | None:
    if english is None:
        return None
    try:
        chinese: str = chinese_calendar.Holiday(english).chinese
    except ValueError:
        return english
    return _OFFICIAL_NAMES.get(chinese, chinese)


def _package_values(day: date) -> _DayValues:
    """Classify one day from the package; holiday weekends count as ``holiday``, not ``weekend``."""
    # one call per day: the package scans all its dates on every call to check the year is covered
    is_off, english = chinese_calendar.get_holiday_detail(day)
    is_workday = not is_off
    if is_workday:
        kind = CalendarDayKind.WORKDAY if english is None else CalendarDayKind.MAKEUP_WORKDAY
    else:
        kind = CalendarDayKind.WEEKEND if english is None else CalendarDayKind.HOLIDAY
    return is_workday, kind, _chinese_name(english)


def _seed_year(session: Session, year: int, now: datetime) -> int:
    existing = {
        row.day: row
        for row in session.scalars(
            select(CalendarDay).where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
        )
    }
    new_rows, updated = [], 0
    for day in _days_of(year):
        is_workday, kind, name = values = _package_values(day)
        row = existing.get(day)
        if row is None:
            new_rows.append({"day": day, "is_workday": is_workday, "kind": kind, "name": name,
                             "source": SEED_SOURCE, "updated_at": now})
        elif not row.source.startswith(ADMIN_SOURCE_PREFIX) and (
                (row.is_workday, row.kind, row.name) != values or row.source != SEED_SOURCE):
            row.is_workday, row.kind, row.name, row.source, row.updated_at = *values, SEED_SOURCE, now
            updated += 1
    if new_rows:
        # a bulk INSERT: seeding two decades row by row through the unit of work is needlessly slow
        session.execute(insert(CalendarDay), new_rows)
    return len(new_rows) + updated


def mark_year_loaded(session: Session, year: int, source: str, now: datetime) -> None:
    """Record ``year`` as completely loaded from ``source`` (deadlines may then use it)."""
    loaded = session.get(CalendarYear, year)
    if loaded is None:
        loaded = CalendarYear(year=year)
        session.add(loaded)
    loaded.is_complete, loaded.source, loaded.loaded_at = True, source, now


def seed_calendar(session: Session, years: Iterable[int], *, clock: Clock) -> int:
    """Fill ``calendar_days`` for whole years from ``chinese-calendar`` and record them as loaded.

    Idempotent: unchanged rows are left alone and days an administrator edited are never overwritten.

    :returns: the number of day rows inserted or updated.
    :raises ValidationError: ``calendar_year_unsupported`` when the package has no data for a year
        (checked for every year before anything is written).
    """
    wanted = sorted(set(years))
    for year in wanted:
        _check_supported(year)
    now = clock.now()
    changed = 0
    for year in wanted:
        changed += _seed_year(session, year, now)
        mark_year_loaded(session, year, SEED_SOURCE, now)
    session.flush()
    logger.info("Calendar seeded from %s for %s: %s day rows changed", SEED_SOURCE, wanted, changed)
    return changed


def _validate_day(day: date, is_workday: bool, kind: CalendarDayKind | str) -> CalendarDayKind:
    try:
        kind = CalendarDayKind(kind)
    except ValueError:
        raise ValidationError(fields={"kind": f"未知的日期类型：{kind}"}) from None
    if (kind in WORKING_KINDS) != is_workday:
        raise ValidationError(fields={"kind": "日期类型与“是否工作日”不一致"})
    on_weekend = day.weekday() >= 5
    allowed = _WEEKEND_KINDS if on_weekend else _WEEKDAY_KINDS
    if kind not in allowed:
        raise ValidationError(
            fields={"kind": "周一至周五只能是“工作日”或“节假日”，周六、周日只能是“休息日”“节假日”或“调休上班日”"}
        )
    return kind


def set_day(
    session: Session,
    day: date,
    *,
    is_workday: bool,
    kind: CalendarDayKind | str,
    name: str | None,
    actor_username: str,
    clock: Clock,
) -> CalendarDay:
    """Record an administrator's correction of one day; re-seeding will keep it.

    A day in a year that was never seeded creates that year as incomplete, so deadlines
    keep refusing it until the whole year is seeded.

    :raises ValidationError: when ``kind`` is unknown, contradicts ``is_workday`` or the day of the week.
    """
    kind = _validate_day(day, is_workday, kind)
    if not actor_username:
        raise ValidationError(fields={"actor_username": "缺少操作人"})
    name = (name or "").strip() or None
    if name is not None and len(name) > 100:
        raise ValidationError(fields={"name": "名称不能超过 100 个字符"})
    now, source = clock.now(), f"{ADMIN_SOURCE_PREFIX}{actor_username}"
    row = session.get(CalendarDay, day)
    if row is None:
        row = CalendarDay(day=day)
        session.add(row)
    row.is_workday, row.kind, row.name, row.source, row.updated_at = is_workday, kind, name, source, now
    if session.get(CalendarYear, day.year) is None:
        session.add(CalendarYear(year=day.year, is_complete=False, source=source, loaded_at=now))
    session.flush()
    logger.info("Calendar day %s set to %s by %s", day, kind.value, actor_username)
    return row


# --- computing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Year:
    #: the year's working days, ascending (for bisect)
    workdays: tuple[date, ...]
    workday_set: frozenset[date]


class WorkingCalendar:
    """Working-day arithmetic over ``calendar_days``, one cached year at a time.

    :param session: a session (used as is, e.g. within one unit of work) or a session
        factory (a short session per year loaded, for a calendar shared across requests).
    """

    def __init__(self, session: Session | sessionmaker[Session]) -> None:
        self._session = session
        self._years: dict[int, _Year] = {}
        self._lock = threading.Lock()

    def using(self, session: Session) -> WorkingCalendar:
        """A view sharing this calendar's cache that loads missing years through ``session``.

        Inside a unit of work, use the unit's own session: on SQLite a second connection
        would wait for the write lock the unit already holds.
        """
        view = WorkingCalendar.__new__(WorkingCalendar)
        view._session, view._years, view._lock = session, self._years, self._lock
        return view

    def invalidate(self, year: int | None = None) -> None:
        """Drop the cached data of one year, or of all years."""
        with self._lock:
            if year is None:
                self._years.clear()
            else:
                self._years.pop(year, None)

    def is_workday(self, day: date) -> bool:
        return _plain_date(day) in self._year(day.year).workday_set

    def add_working_days(self, start: date, n: int) -> date:
        """Return the ``n``-th working day after ``start`` (CAL-04: ``start`` itself is not counted)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValidationError(f"工作日天数必须是正整数，收到：{n!r}", code="invalid_working_days")
        year = start.year
        days = self._year(year).workdays
        index = bisect_right(days, _plain_date(start))
        remaining = n
        while index + remaining > len(days):
            remaining -= len(days) - index
            year += 1
            days, index = self._year(year).workdays, 0
        return days[index + remaining - 1]

    def working_days_between(self, a: date, b: date) -> int:
        """Count working days ``d`` with ``a < d <= b``; negative when ``b`` is before ``a``.

        So ``working_days_between(start, add_working_days(start, n)) == n``.
        """
        if _plain_date(b) < _plain_date(a):
            return -self.working_days_between(b, a)
        total = 0
        for year in range(a.year, b.year + 1):
            days = self._year(year).workdays
            total += bisect_right(days, b) - bisect_right(days, a)
        return total

    def deadline(self, start: datetime, n: int, tz: tzinfo = SHANGHAI) -> datetime:
        """Return the end (23:59:59.999999, in ``tz``) of the ``n``-th working day after ``start``'s local date.

        This is the engine's ``DeadlineFn``.
        """
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValidationError("期限起算时间必须带时区", code="naive_datetime")
        due = self.add_working_days(start.astimezone(tz).date(), n)
        return datetime.combine(due, time.max, tzinfo=tz)

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        if isinstance(self._session, Session):
            loaded = _load_year(self._session, year)
        else:
            with self._session() as session:
                loaded = _load_year(session, year)
        with self._lock:
            self._years[year] = loaded
        return loaded


def _plain_date(day: date) -> date:
    # a datetime is a date too, but never equal to one: it would silently count as a day off
    if isinstance(day, datetime):
        raise TypeError("pass a date; use WorkingCalendar.deadline() for datetimes")
    return day


def _load_year(session: Session, year: int) -> _Year:
    """Read one year; refuse it unless it is recorded as complete and really has a row for every day."""
    loaded = session.get(CalendarYear, year)
    if loaded is None or not loaded.is_complete:
        raise _year_missing(year, partial=loaded is not None)
    rows = session.execute(
        select(CalendarDay.day, CalendarDay.is_workday)
        .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
        .order_by(CalendarDay.day)
    ).all()
    if len(rows) != (date(year + 1, 1, 1) - date(year, 1, 1)).days:
        raise _year_missing(year, partial=True)
    workdays = tuple(day for day, is_workday in rows if is_workday)
    return _Year(workdays, frozenset(workdays))
