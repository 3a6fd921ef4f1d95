"""Pin the working-day deadlines a command computed into its event, so a replay computes the same ones.

Timer due dates and ``add_working_days`` in diagram scripts ask the working-day calendar. The
calendar can be edited later (an extra holiday, a make-up working day); a replay that asked the
calendar again would then compute other deadlines than the live command did and report a
divergence that is no tampering. So each command records the answers it got (``deadlines`` in the
event payload: ``[local start date, working days, deadline]``) and the replay uses them; events
recorded before this existed fall back to the calendar as it is now.
"""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from typing import Any

from engine.clock import LOCAL_TZ
from engine.clock import local_date
from engine.runtime import Workflow
from engine.runtime.core import DeadlineFn

Key = tuple[str, int]


def _key(start: datetime, days: int) -> Key:
    # a deadline depends only on the local date it counts from and the number of working days
    return local_date(start).isoformat(), int(days)


class PinnedDeadlines:
    """A ``DeadlineFn`` that answers from ``recorded`` first, asks ``inner`` otherwise, and notes every answer."""

    def __init__(self, inner: DeadlineFn, recorded: dict[Key, str] | None = None) -> None:
        self.inner = inner
        self.recorded: dict[Key, str] = recorded or {}
        self.calls: dict[Key, str] = {}

    def __call__(self, start: datetime, days: int) -> datetime:
        key = _key(start, days)
        pinned = self.recorded.get(key)
        result = datetime.fromisoformat(pinned) if pinned else self.inner(start, days)
        self.calls[key] = result.isoformat()
        return result


def recording(deadline: DeadlineFn | None) -> DeadlineFn | None:
    """Wrap the context's calendar for one command (None stays None: no calendar configured)."""
    if deadline is None:
        return None
    return PinnedDeadlines(deadline.inner if isinstance(deadline, PinnedDeadlines) else deadline)


def deadlines_of(wf: Workflow) -> dict[str, Any]:
    """``{"deadlines": [...]}`` for the event payload of the command just run on ``wf`` (empty when none)."""
    deadline = wf.deadline
    if not isinstance(deadline, PinnedDeadlines) or not deadline.calls:
        return {}
    calls, deadline.calls = deadline.calls, {}
    return {"deadlines": [[day, days, due] for (day, days), due in sorted(calls.items())]}


def recorded(payload: Any) -> dict[Key, str]:
    """The deadlines an event pinned (malformed entries are ignored: the calendar answers instead)."""
    rows = payload.get("deadlines") if isinstance(payload, dict) else None
    out: dict[Key, str] = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and isinstance(row[1], int) \
                and isinstance(row[2], str):
            out[(row[0], row[1])] = row[2]
    return out


def instance_due_at(value: object) -> datetime | None:
    """The instance deadline a diagram variable holds, as an aware UTC datetime (None if unset or unreadable).

    ``add_working_days`` stores an ISO string with its offset; start data may carry a ``datetime``.
    A value without time zone is Beijing time; a bare date means the end of that day in Beijing.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time.max, tzinfo=LOCAL_TZ)
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    return value.astimezone(UTC)
