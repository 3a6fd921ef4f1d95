"""The retention job as operators run it: periods from HEDUI_*_RETENTION_DAYS, `hedui jobs run`, the in-process
ticker and the Celery beat schedule."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.models.draft import IntakeDraft
from tests.engine.test_retention import _draft
from tests.engine.test_retention import seed
from tests.web.test_jobs import WAIT
from tests.web.test_jobs import _close
from tests.web.test_jobs import _eventually
from tests.web.test_jobs import make_app  # noqa: F401  (fixture)
from web import create_app


def _drafts(app) -> list[int]:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        return list(session.execute(select(IntakeDraft.id).order_by(IntakeDraft.id)).scalars())


def _seed(app, *ages: float) -> list[int]:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].unit_of_work() as ctx:
        seed(ctx)  # the app's own committed database starts empty
        return [_draft(ctx, age) for age in ages]


def test_the_periods_are_configured_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.errors import ConfigurationError

    app = create_app({"ENV": "testing", "DATABASE_URL": "sqlite://"})
    assert (app.config["DRAFT_RETENTION_DAYS"], app.config["PACKAGE_RETENTION_DAYS"]) == (30, 14)
    monkeypatch.setenv("HEDUI_DRAFT_RETENTION_DAYS", "0")
    with pytest.raises(ConfigurationError, match="HEDUI_DRAFT_RETENTION_DAYS"):
        create_app({"ENV": "testing", "DATABASE_URL": "sqlite://"})


def test_jobs_run_takes_the_configured_period(make_app, clock) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app = make_app(clock, DRAFT_RETENTION_DAYS=5)
    old, young = _seed(app, 6, 4)
    result = app.test_cli_runner().invoke(args=["jobs", "run", "retention.purge_stale"])
    assert result.exit_code == 0, result.output
    assert '任务 retention.purge_stale 已完成: {"drafts": 1, "packages": 0}' in result.output
    assert _drafts(app) == [young] and old != young
    # an explicit argument wins over the configuration
    result = app.test_cli_runner().invoke(args=["jobs", "run", "retention.purge_stale", "--arg", "draft_days=3"])
    assert '"drafts": 1' in result.output and _drafts(app) == []


def test_the_inprocess_ticker_purges(make_app, clock) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app = make_app(clock, TIMER_INTERVAL=1, RETENTION_INTERVAL=60)
    [stale] = _seed(app, 31)
    clock.advance(timedelta(seconds=1))
    jobs = app.extensions["hedui"].jobs
    jobs.start_ticker()
    try:
        _eventually(lambda: _drafts(app) == [] or None, timeout=WAIT)
        assert stale not in _drafts(app)
    finally:
        jobs.shutdown()  # else the ticker outlives the test's database and logs a failed sweep every second


def test_celery_beat_schedules_the_purge(monkeypatch, sqlite_template, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import web.worker

    shutil.copy(sqlite_template, tmp_path / "env.db")
    monkeypatch.setenv("HEDUI_JOBS", "celery")
    monkeypatch.setenv("HEDUI_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("HEDUI_RETENTION_INTERVAL", "900")
    monkeypatch.setattr(web.worker, "_lazy_celery", None)
    celery = web.worker.celery
    try:
        entry = celery.conf.beat_schedule["retention.purge_stale"]
        assert entry["schedule"] == timedelta(seconds=900) and entry["args"] == ("retention.purge_stale", {})
    finally:
        _close(celery.flask_app.extensions["hedui"])
