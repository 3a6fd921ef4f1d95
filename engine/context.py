"""What every engine service needs, passed in by the entry point (request, command, job)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.clock import local_date
from engine.runtime import BpmnRuntime
from engine.runtime.core import DeadlineFn


@dataclass(frozen=True)
class Actor:
    """Who performs a command: a username and, when acting in a role, that role.

    ``user_id`` is set for people signed in (API, browser): then the services also check
    that they hold the task's role in the task's unit. System actors (jobs, the CLI) have none.
    """

    username: str
    role: str | None = None
    user_id: int | None = None

    @classmethod
    def system(cls, what: str = "system") -> Actor:
        return cls(what)


@dataclass
class EngineContext:
    """One unit of work: the session (owned by the caller), the runtime and the clock.

    Services flush, never commit: the entry point that built this context commits.
    """

    session: Session
    runtime: BpmnRuntime
    clock: Clock
    deadline: DeadlineFn | None = None
    #: the deployment's policy profile (``jilin`` | ``baoji``), see engine/policy.py
    policy_profile: str = "jilin"
    #: jobs to enqueue once the unit of work commits: ``(job name, kwargs)``
    after_commit_jobs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: retention years per archive record type overriding the defaults (engine/archives/retention.py)
    archive_retention: dict[str, int] | None = None

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        """Today's date in Beijing (registrations, authorisations and agreements are valid by local date)."""
        return local_date(self.now())

    def enqueue_after_commit(self, name: str, **kwargs: Any) -> None:
        self.after_commit_jobs.append((name, kwargs))
