"""Celery: the scaled-mode job queue, the one task that runs every job, and the worker/beat commands.

Every job travels as one ``hedui.run_job(name, kwargs)`` message (JSON only) and runs on the
worker through :func:`web.jobs.execute`, i.e. as its own unit of work, exactly like the
in-process queue. Workers and beat need ``HEDUI_JOBS=celery`` and ``HEDUI_BROKER_URL``::

    HEDUI_JOBS=celery hedui worker -c 4 -l INFO       # a worker for this app (queue "hedui")
    HEDUI_JOBS=celery hedui worker -- --pool threads  # anything after "--" goes to celery
    HEDUI_JOBS=celery hedui beat                      # sweeps due timers every HEDUI_TIMER_INTERVAL s
    hedui jobs run timers.run_due --arg limit=500     # one job now, in this process (cron, ops)

The stock ``celery`` command works as well, ``celery -A web.worker worker -l INFO`` or
``celery -A web.worker beat``: the module attribute ``celery`` is built on first access from
``create_app()`` (environment configuration), so importing this module costs nothing.
Run exactly one beat per deployment; timers are claimed with ``SKIP LOCKED`` on PostgreSQL,
so an accidental second one costs a few empty sweeps, never a doubled timer.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from datetime import timedelta
from typing import Any

import click
from celery import Celery
from celery import Task
from celery.signals import worker_process_init
from celery.utils.time import get_exponential_backoff_interval
from flask import Flask
from flask import current_app
from flask.cli import AppGroup
from flask.cli import with_appcontext
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from engine.errors import ConfigurationError
from engine.errors import ConflictError
from engine.errors import HeduiError
from engine.errors import InvalidStateError
from engine.jobs import get_job
from engine.jobs import job_names
from web.config import SETTINGS
from web.jobs import execute
from web.state import HeduiState

logger = logging.getLogger(__name__)

#: the one Celery task; its arguments are ``(job name, kwargs)``
TASK_NAME = "hedui.run_job"
#: the queue jobs go to and workers read by default (keeps Hedui apart from other apps on a broker)
DEFAULT_QUEUE = "hedui"
#: a job running longer gets SoftTimeLimitExceeded (its unit of work rolls back) ...
JOB_SOFT_TIME_LIMIT = 300
#: ... and the pool process is killed this many seconds later
JOB_HARD_TIME_LIMIT = JOB_SOFT_TIME_LIMIT + 30
#: conflicts and database hiccups are retried this often, with jittered exponential back-off
MAX_RETRIES = 6
RETRY_BACKOFF_MAX = 60

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
_lazy_celery: Celery | None = None
_lazy_lock = threading.Lock()


def celery_settings(config: dict[str, Any]) -> dict[str, Any]:
    """Celery settings derived from Hedui's configuration (no result backend: jobs report through the database)."""
    interval = int(config["TIMER_INTERVAL"])
    retention_interval = int(config.get("RETENTION_INTERVAL", SETTINGS["RETENTION_INTERVAL"][0]))
    gather_interval = int(config.get("CROSS_CITY_GATHER_INTERVAL", SETTINGS["CROSS_CITY_GATHER_INTERVAL"][0]))
    return {
        "broker_url": config["BROKER_URL"],
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_default_queue": DEFAULT_QUEUE,
        # a job is acknowledged only once it finished, and a worker holds one message at a time,
        # so a crashed worker's job is redelivered instead of lost
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": JOB_SOFT_TIME_LIMIT,
        "task_time_limit": JOB_HARD_TIME_LIMIT,
        # create_app configures logging; Celery adds its handlers without replacing ours
        "worker_hijack_root_logger": False,
        "enable_utc": True,
        "timezone": "UTC",
        "beat_schedule": {
            "timers.run_due": {
                "task": TASK_NAME,
                "schedule": timedelta(seconds=interval),
                "args": ("timers.run_due", {}),
                # a sweep nobody picked up in time is superseded by the next one
                "options": {"expires": interval},
            },
            "tasks.escalate_overdue": {
                "task": TASK_NAME,
                "schedule": timedelta(seconds=interval),
                "args": ("tasks.escalate_overdue", {}),
                "options": {"expires": interval},
            },
            "archives.seal_closed": {
                "task": TASK_NAME,
                "schedule": timedelta(seconds=interval),
                "args": ("archives.seal_closed", {}),
                "options": {"expires": interval},
            },
            "exchange.run": {
                "task": TASK_NAME,
                "schedule": timedelta(seconds=interval),
                "args": ("exchange.run", {}),
                "options": {"expires": interval},
            },
            # the stale time is filled in from the worker's configuration (web.jobs.execute)
            "rechecks.resume_interrupted": {
                "task": TASK_NAME,
                "schedule": timedelta(seconds=interval),
                "args": ("rechecks.resume_interrupted", {}),
                "options": {"expires": interval},
            },
            "migrations.resume_interrupted": {
                "task": TASK_NAME,
                "schedule": timedelta(seconds=interval),
                "args": ("migrations.resume_interrupted", {}),
                "options": {"expires": interval},
            },
            # the retention periods are filled in from the worker's configuration (web.jobs.execute)
            "retention.purge_stale": {
                "task": TASK_NAME,
                "schedule": timedelta(seconds=retention_interval),
                "args": ("retention.purge_stale", {}),
                "options": {"expires": retention_interval},
            },
            # the city agencies gather their counties' cross-city requests into batches (PS-7)
            "cross_city.gather": {
                "task": TASK_NAME,
                "schedule": timedelta(seconds=gather_interval),
                "args": ("cross_city.gather", {}),
                "options": {"expires": gather_interval},
            },
        },
    }


def make_celery(app: Flask) -> Celery:
    """The Celery app for ``app`` (built once per Flask app): settings, the job task, the shared queue."""
    existing: Celery | None = app.extensions.get("celery")
    if existing is not None:
        return existing
    state: HeduiState = app.extensions["hedui"]
    celery = Celery("hedui", set_as_current=False)
    celery.conf.update(celery_settings(state.config))
    _register_run_job(celery, app)
    if isinstance(state.jobs, CeleryJobQueue):
        state.jobs.bind(celery)  # one broker connection pool per process
    _engines.add(state.db_engine)
    celery.flask_app = app  # type: ignore[attr-defined]  # our own attribute, for `celery shell` and operators
    app.extensions["celery"] = celery
    return celery


def _register_run_job(celery: Celery, app: Flask) -> None:
    # shared=False: a shared task would be added to every Celery app in the process, each
    # closing over the first Flask app that registered it
    @celery.task(name=TASK_NAME, bind=True, max_retries=MAX_RETRIES, shared=False)
    def run_job(task: Task[Any, Any], name: str, kwargs: dict[str, Any]) -> Any:
        """Run one job in its own unit of work; retry what a later attempt can fix."""
        state: HeduiState = app.extensions["hedui"]
        try:
            with app.app_context():
                return execute(state, name, kwargs)
        except InvalidStateError:
            raise  # the state will not change by waiting: retrying cannot help
        except (ConflictError, OperationalError) as exc:
            countdown = retry_countdown(task.request.retries)
            logger.warning("job %s: %s; retry %s/%s in %ss", name, type(exc).__name__,
                           task.request.retries + 1, MAX_RETRIES, countdown)
            raise task.retry(exc=exc, countdown=countdown) from exc


def retry_countdown(retries: int) -> int:
    """Seconds before retry number ``retries + 1``: exponential, capped, fully jittered.

    The jitter spreads out workers that collided on the same instance, so they do not collide again.
    """
    countdown: int = get_exponential_backoff_interval(factor=2, retries=retries, maximum=RETRY_BACKOFF_MAX,
                                                      full_jitter=True)
    return countdown


class CeleryJobQueue:
    """Sends each job to the workers as one ``hedui.run_job`` message.

    ``enqueue`` is only called after the enqueuing unit of work committed
    (:meth:`HeduiState.dispatch_jobs`), so a worker never sees rows that might still roll back.
    Producing needs no registered task (messages are sent by name), so a web process that never
    calls :func:`make_celery` builds a plain Celery app from the same settings on first use.
    """

    def __init__(self, state: HeduiState, celery: Celery | None = None) -> None:
        self.state = state
        self._celery = celery
        self._lock = threading.Lock()

    def bind(self, celery: Celery) -> None:
        with self._lock:
            self._celery = celery

    @property
    def celery(self) -> Celery:
        with self._lock:
            if self._celery is None:
                self._celery = Celery("hedui", set_as_current=False)
                self._celery.conf.update(celery_settings(self.state.config))
            return self._celery

    def enqueue(self, name: str, **kwargs: Any) -> None:
        get_job(name)  # an unknown name fails here, in the caller, not later on a worker
        result = self.celery.send_task(TASK_NAME, args=(name, kwargs))
        logger.debug("job %s sent as task %s", name, result.id)


@worker_process_init.connect(weak=False)
def _fresh_pools_after_fork(**_: Any) -> None:
    """A forked pool process must not share its parent's database connections (SQLAlchemy pooling docs)."""
    for engine in list(_engines):
        engine.dispose(close=False)


def __getattr__(name: str) -> Any:
    """Build ``celery`` lazily, so ``celery -A web.worker`` finds an app configured from the environment."""
    if name != "celery":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    global _lazy_celery
    with _lazy_lock:
        if _lazy_celery is None:
            from web import create_app

            flask_app = create_app()
            require_celery_mode(flask_app, "Celery")
            _lazy_celery = make_celery(flask_app)
        return _lazy_celery


def require_celery_mode(app: Flask, what: str) -> None:
    """Refuse to run a worker or beat for an app whose jobs run in-process (they would never get any)."""
    mode = app.config["JOBS"]
    if mode != "celery":
        raise ConfigurationError(
            f"当前 HEDUI_JOBS={mode}，后台任务在 Web 进程内执行；"
            f"请设置 HEDUI_JOBS=celery（并配置 HEDUI_BROKER_URL）后再启动 {what}",
            jobs=mode,
        )


# --- commands ---------------------------------------------------------------------------------


def _celery_for_command(what: str) -> Celery:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        require_celery_mode(app, what)
    except ConfigurationError as exc:
        click.secho(exc.message, fg="red", err=True)
        raise SystemExit(1) from exc
    return make_celery(app)


@click.command("worker", context_settings={"ignore_unknown_options": True})
@click.option("-c", "--concurrency", type=int, default=None, help="并发进程数（默认为 CPU 核数）")
@click.option("-l", "--loglevel", default="INFO", show_default=True, help="日志级别")
@click.option("-Q", "--queues", default=DEFAULT_QUEUE, show_default=True, help="要消费的队列，逗号分隔")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@with_appcontext
def worker_command(concurrency: int | None, loglevel: str, queues: str, celery_args: tuple[str, ...]) -> None:
    """Start a Celery worker for this app (needs HEDUI_JOBS=celery); extra arguments go to celery."""
    celery = _celery_for_command("worker")
    argv = ["worker", "--loglevel", loglevel, "--queues", queues]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    celery.worker_main([*argv, *celery_args])


@click.command("beat", context_settings={"ignore_unknown_options": True})
@click.option("-l", "--loglevel", default="INFO", show_default=True, help="日志级别")
@click.option("-s", "--schedule", default=None, help="beat 状态文件（默认为当前目录下的 celerybeat-schedule）")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@with_appcontext
def beat_command(loglevel: str, schedule: str | None, celery_args: tuple[str, ...]) -> None:
    """Start celery beat: sends the due-timer sweep every HEDUI_TIMER_INTERVAL seconds (run one per deployment)."""
    celery = _celery_for_command("beat")
    argv = ["beat", "--loglevel", loglevel]
    if schedule:
        argv += ["--schedule", schedule]
    celery.start([*argv, *celery_args])


jobs_cli = AppGroup("jobs", help="后台任务")


def _parse_args(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``k=v`` pairs; a value that reads as JSON is taken as JSON (``limit=5`` is the number 5)."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"参数应写作 名称=值，实际为 {pair!r}", param_hint="--arg")
        try:
            kwargs[key] = json.loads(raw)
        except ValueError:
            kwargs[key] = raw
    return kwargs


@jobs_cli.command("run")
@click.argument("name")
@click.option("--arg", "pairs", multiple=True, metavar="K=V", help="任务参数，可重复；值按 JSON 解析，否则为字符串")
def jobs_run(name: str, pairs: tuple[str, ...]) -> None:
    """Run job NAME now, in this process, as one unit of work (for cron and operators)."""
    kwargs = _parse_args(pairs)
    if name not in job_names():
        raise click.UsageError(f"未知任务 {name!r}；可用任务: {', '.join(job_names())}")
    state: HeduiState = current_app.extensions["hedui"]
    try:
        result = execute(state, name, kwargs)
    except HeduiError as exc:
        click.secho(f"任务 {name} 失败: {exc.message}", fg="red", err=True)
        raise SystemExit(1) from exc
    click.secho(f"任务 {name} 已完成: {json.dumps(result, ensure_ascii=False, default=str)}", fg="green")


@jobs_cli.command("list")
def jobs_list() -> None:
    """List the registered job names."""
    for name in job_names():
        click.echo(name)


def register_commands(app: Flask) -> None:
    """Add ``hedui worker``, ``hedui beat`` and ``hedui jobs run|list``."""
    app.cli.add_command(worker_command)
    app.cli.add_command(beat_command)
    app.cli.add_command(jobs_cli)
