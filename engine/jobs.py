"""Background jobs behind one interface.

A job is a function ``(ctx, **kwargs)`` registered by name; it runs as its own unit
of work (one commit). *Where* it runs is the queue's business: in-process threads for
the embedded default, Celery workers for a scaled deployment (``web/jobs.py``).
Job arguments are plain JSON values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import Protocol

from engine.context import EngineContext

JobFn = Callable[..., Any]
_JOBS: dict[str, JobFn] = {}


def job(name: str) -> Callable[[JobFn], JobFn]:
    """Register ``fn`` as the job called ``name``."""

    def decorate(fn: JobFn) -> JobFn:
        if name in _JOBS and _JOBS[name] is not fn:
            raise ValueError(f"job {name!r} registered twice")
        _JOBS[name] = fn
        return fn

    return decorate


def get_job(name: str) -> JobFn:
    _load_builtin_jobs()
    try:
        return _JOBS[name]
    except KeyError:
        raise KeyError(f"unknown job {name!r}") from None


def job_names() -> list[str]:
    _load_builtin_jobs()
    return sorted(_JOBS)


class JobQueue(Protocol):
    """Where jobs go; ``enqueue`` must only be called after the enqueuing transaction committed."""

    def enqueue(self, name: str, **kwargs: Any) -> object: ...


def _load_builtin_jobs() -> None:
    import engine.builtin_jobs  # noqa: F401  (registers on import)


def run_job(ctx: EngineContext, name: str, **kwargs: Any) -> Any:
    """Run a registered job inside ``ctx`` (the caller commits)."""
    return get_job(name)(ctx, **kwargs)
