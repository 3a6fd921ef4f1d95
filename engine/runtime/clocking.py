"""Make SpiffWorkflow's timers read Hedui's injectable clock.

SpiffWorkflow 3.2 timer event definitions read the wall clock (``now(timezone.utc)`` on ``datetime``)
directly and take no clock parameter (notes P5). We rebind the ``datetime``
name inside ``SpiffWorkflow.bpmn.specs.event_definitions.timer`` to a subclass
whose ``now()`` asks the clock of the current engine operation (a context
variable set by :func:`clock_scope`). Outside a scope it refuses to guess, so
an engine step that forgot its clock fails loudly instead of reading the wall
clock. Everything else about ``datetime`` is inherited unchanged.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from datetime import datetime
from datetime import tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer_module

from engine.clock import Clock

_current_clock: contextvars.ContextVar[Clock | None] = contextvars.ContextVar("hedui_engine_clock", default=None)


class _EngineDatetime(datetime):
    """``datetime`` whose ``now()`` is the engine clock of the running operation."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        clock = _current_clock.get()
        if clock is None:
            raise RuntimeError("SpiffWorkflow asked for the time outside an engine clock scope")
        current = clock.now()
        return current.astimezone(tz) if tz is not None else current


@contextlib.contextmanager
def clock_scope(clock: Clock) -> Iterator[None]:
    """Run engine code with ``clock`` as SpiffWorkflow's notion of now."""
    token = _current_clock.set(clock)
    try:
        yield
    finally:
        _current_clock.reset(token)


def install() -> None:
    """Rebind the timer module's clock (idempotent)."""
    _timer_module.datetime = _EngineDatetime


install()
