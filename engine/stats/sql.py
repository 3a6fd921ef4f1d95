"""Dialect-aware SQL pieces: a timestamp's Beijing date, and working days between two timestamps.

Working days are counted on the calendar table (PR-5): the working days after the first moment's
date up to and including the second moment's date, the way a time limit counts them. Both are SQL
expressions, so averages are taken by the database, not by loading rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import true

from engine.clock import LOCAL_TZ
from engine.models import CalendarDay


def local_day(dialect: str, moment: Any) -> ColumnElement[Any]:
    """The Beijing calendar date of a UTC timestamp column, comparable with ``CalendarDay.day``."""
    if dialect == "postgresql":
        return func.date(func.timezone(str(LOCAL_TZ), moment))
    # SQLite keeps naive UTC text; China has had no daylight saving time since 1991
    return func.date(moment, "+8 hours")


def working_days(dialect: str, start: Any, end: Any) -> Any:
    """A scalar subquery: working days after ``start``'s local date up to ``end``'s local date."""
    return (select(func.count()).select_from(CalendarDay)
            .where(CalendarDay.is_workday == true(), CalendarDay.day > local_day(dialect, start),
                   CalendarDay.day <= local_day(dialect, end))
            .scalar_subquery())


def median(histogram: list[tuple[int, int]]) -> float | None:
    """The median of values given as ``(value, count)`` pairs (a GROUP BY's answer, not the rows)."""
    total = sum(count for _, count in histogram)
    if total == 0:
        return None
    ordered = sorted(histogram)
    wanted = [(total - 1) // 2, total // 2]
    picked: list[int] = []
    seen = 0
    for value, count in ordered:
        picked += [value for index in wanted if seen <= index < seen + count]
        seen += count
    return sum(picked) / 2
