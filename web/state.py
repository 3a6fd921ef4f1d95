"""The per-application state: database engine, session factory, clock, runtime, job queue."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from engine.archives import retention
from engine.calendar import WorkingCalendar
from engine.clock import Clock
from engine.clock import SystemClock
from engine.context import EngineContext
from engine.db import make_engine
from engine.errors import HeduiError
from engine.jobs import JobQueue
from engine.runtime import BpmnRuntime

logger = logging.getLogger(__name__)


class HeduiState:
    """Built once by ``create_app``; reachable as ``app.extensions["hedui"]``."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.clock: Clock = config.get("CLOCK") or SystemClock()
        self.db_engine = config.get("DB_ENGINE") or make_engine(config["DATABASE_URL"])
        self.session_factory: sessionmaker[Session] = sessionmaker(bind=self.db_engine, expire_on_commit=False)
        self.runtime = BpmnRuntime(self.clock, script_time_limit=float(config["SCRIPT_TIME_LIMIT"]))
        self.jobs: JobQueue | None = None
        self._calendar: WorkingCalendar | None = None
        #: parsed once: the setting never changes while the process runs (validated at start-up)
        self._archive_retention = retention.parse(config.get("ARCHIVE_RETENTION")) or None

    @property
    def calendar(self) -> WorkingCalendar:
        """The working-day calendar, loaded lazily per year and cached for the process."""
        if self._calendar is None:
            self._calendar = WorkingCalendar(self.session_factory)
        return self._calendar

    def new_context(self, session: Session | None = None) -> EngineContext:
        session = session or self.session_factory()
        return EngineContext(session, self.runtime, self.clock, deadline=self.calendar.using(session).deadline,
                             policy_profile=self.config.get("POLICY_PROFILE", "jilin"),
                             archive_retention=self._archive_retention)

    @contextmanager
    def unit_of_work(self) -> Iterator[EngineContext]:
        """One transaction for a CLI command or job: commit on success, roll back on error."""
        ctx = self.new_context()
        try:
            yield ctx
            ctx.session.commit()
        except HeduiError as exc:
            # a refusal keeps its own record (engine.assignment); anything else is undone
            (ctx.session.commit if exc.commit else ctx.session.rollback)()
            raise
        except BaseException:
            ctx.session.rollback()
            raise
        finally:
            ctx.session.close()
        self.dispatch_jobs(ctx)

    def dispatch_jobs(self, ctx: EngineContext) -> None:
        """Hand over the jobs a committed unit of work asked for."""
        jobs, ctx.after_commit_jobs = ctx.after_commit_jobs, []
        for name, kwargs in jobs:
            if self.jobs is None:
                logger.warning("job %s dropped: no job queue configured", name)
                continue
            try:
                self.jobs.enqueue(name, **kwargs)
            except Exception:
                # the unit of work is committed; a broker outage must not turn it into an error
                logger.exception("job %s could not be enqueued", name)
