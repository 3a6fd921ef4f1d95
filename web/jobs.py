"""Job queues: in-process threads (embedded default) or Celery (scaled); chosen by HEDUI_JOBS."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask

from engine.jobs import get_job
from engine.jobs import run_job
from web.config import INSTANCE_DIR
from web.config import SETTINGS
from web.state import HeduiState

logger = logging.getLogger(__name__)


#: job arguments that come from the configuration unless the caller gives them (ticker, beat, `hedui jobs run`)
CONFIGURED_KWARGS: dict[str, dict[str, str]] = {
    "retention.purge_stale": {"draft_days": "DRAFT_RETENTION_DAYS", "package_days": "PACKAGE_RETENTION_DAYS"},
    "rechecks.resume_interrupted": {"stale_minutes": "RECHECK_BATCH_STALE_MINUTES"},
    "migrations.resume_interrupted": {"stale_minutes": "MIGRATION_RUN_STALE_MINUTES"},
}
#: the jobs the ticker runs every HEDUI_TIMER_INTERVAL seconds
FREQUENT_JOBS = ("timers.run_due", "tasks.escalate_overdue", "exchange.run", "archives.seal_closed",
                 "rechecks.resume_interrupted", "migrations.resume_interrupted")
#: the jobs it runs at their own interval, by setting: retention sweeps, the cities' cross-city gathering (PS-7)
PERIODIC_JOBS = {"retention.purge_stale": "RETENTION_INTERVAL", "cross_city.gather": "CROSS_CITY_GATHER_INTERVAL"}


def execute(state: HeduiState, name: str, kwargs: dict[str, Any]) -> Any:
    """Run one job as its own unit of work (one commit)."""
    get_job(name)  # unknown names fail before a transaction opens
    for arg, setting in CONFIGURED_KWARGS.get(name, {}).items():
        kwargs = {arg: state.config[setting], **kwargs}
    with state.unit_of_work() as ctx:
        return run_job(ctx, name, **kwargs)


class InProcessJobQueue:
    """Runs jobs on a small thread pool inside the web process, plus a due-timer ticker."""

    def __init__(self, state: HeduiState, *, workers: int = 2) -> None:
        self.state = state
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hedui-job")
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def enqueue(self, name: str, **kwargs: Any) -> Future[Any]:
        future = self._pool.submit(self._run, name, kwargs)
        return future

    def _run(self, name: str, kwargs: dict[str, Any]) -> Any:
        try:
            return execute(self.state, name, kwargs)
        except Exception:
            logger.exception("job %s failed", name)
            raise

    def start_ticker(self) -> None:
        """Every HEDUI_TIMER_INTERVAL s: fire due timers, escalate overdue tasks, run the exchange sweep, seal
        closed cases, resume interrupted recheck batches and migration runs; every HEDUI_RETENTION_INTERVAL s:
        purge stale uploads; every HEDUI_CROSS_CITY_GATHER_INTERVAL s: gather the cross-city requests (each
        idempotent)."""
        with self._lock:
            if self._ticker is not None:
                return
            self._ticker = threading.Thread(target=self._tick, name="hedui-timer-ticker", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        interval = float(self.state.config["TIMER_INTERVAL"])
        every = {name: max(1, round(float(self.state.config.get(setting, SETTINGS[setting][0])) / interval))
                 for name, setting in PERIODIC_JOBS.items()}
        ticks = 0
        while not self._stop.wait(interval):
            ticks += 1
            names = FREQUENT_JOBS + tuple(name for name, n in every.items() if (ticks - 1) % n == 0)
            jobs: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in names]
            if self.state.config.get("EXCHANGE_SIMULATOR") == "on":
                # the demo's simulated units: media answer packages appear where an officer can upload them
                jobs.append(("exchange.simulate", {"package_dir": str(INSTANCE_DIR / "exchange-answers")}))
            for name, kwargs in jobs:
                try:
                    self._run(name, kwargs)
                except Exception:  # noqa: S110 - logged in _run; the ticker must survive
                    pass

    def shutdown(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)


def init_app(app: Flask) -> None:
    state: HeduiState = app.extensions["hedui"]
    if state.config["JOBS"] == "celery":
        from web.worker import CeleryJobQueue

        state.jobs = CeleryJobQueue(state)
        return
    queue = InProcessJobQueue(state)
    state.jobs = queue
    if not app.testing:
        # only a serving process sweeps timers; CLI commands never start the ticker
        app.before_request(lambda: queue.start_ticker())
