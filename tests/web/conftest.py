"""Fixtures shared by the web test modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import PG_URL
from tests.pgdb import create_database
from tests.pgdb import drop_database
from tests.web.demo_db import BACKENDS
from tests.web.demo_db import close_world
from tests.web.demo_db import copy_database
from tests.web.demo_db import demo_database_url
from tests.web.demo_world import build_demo_app
from tests.web.demo_world import demo_app_at
from tests.web.demo_world import seed_demo_at


@pytest.fixture(scope="module")
def demo_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The seeded demo (``make run``), in a SQLite file of the module's own: a module may change it."""
    return build_demo_app(sqlite_template, tmp_path_factory)


@pytest.fixture(scope="session")
def pg_demo_template() -> Iterator[str]:
    """The seeded demo built once per test process in a PostgreSQL database of its own (dropped at the end):
    the template ``fuzz_demo_app`` clones."""
    if not PG_URL:
        pytest.skip("PostgreSQL run skipped: HEDUI_TEST_DATABASE_URL is not set")
    url = demo_database_url(PG_URL)
    create_database(url)
    try:
        app = seed_demo_at(url)
        app.extensions["hedui"].db_engine.dispose()  # a template may have no connection open
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_demo_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The seeded demo of a module of its own, on SQLite (``demo_app``) and on PostgreSQL (a clone of
    ``pg_demo_template``, dropped after the module; skipped without ``HEDUI_TEST_DATABASE_URL``)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("demo_app")
        return
    app = demo_app_at(copy_database(request.getfixturevalue("pg_demo_template"), tmp_path_factory, "world"))
    try:
        yield app
    finally:
        close_world(app)
