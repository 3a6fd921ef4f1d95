"""The injectable clock: the only source of "now" for the engine, timers and scripts."""

from __future__ import annotations

import threading
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

#: the administrative time zone: "today", deadlines and validity periods are Beijing dates
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local_date(moment: datetime) -> date:
    """The Beijing calendar date of ``moment`` (timezone-aware)."""
    return moment.astimezone(LOCAL_TZ).date()


def within(day: date, first: date, last: date | None) -> bool:
    """Whether ``day`` falls in a validity period from ``first`` to ``last`` (both inclusive; None: open-ended)."""
    return first <= day and (last is None or day <= last)


class Clock(Protocol):
    """Something that tells the current time as a timezone-aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests, replay, simulation)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        with self._lock:
            self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        step = delta if delta is not None else timedelta(**kwargs)
        with self._lock:
            self._now = self._now + step
            return self._now
