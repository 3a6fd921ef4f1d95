"""Shared fixtures: the schema comes from the migrations, every test runs in a rolled-back transaction.

The database fixture is parametrized: every database test runs on SQLite and, when
``HEDUI_TEST_DATABASE_URL`` is set, on PostgreSQL too (skipped with the reason otherwise).

Under pytest-xdist (``make test`` runs ``-n auto``) every worker uses its own PostgreSQL database,
named after the given one plus the worker id (``test_gw0``), created on first use and dropped when
the worker finishes; SQLite files are per worker anyway (``tmp_path_factory``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import make_url
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from engine.clock import FixedClock
from engine.context import Actor
from engine.context import EngineContext
from engine.db import make_engine
from engine.migrate import upgrade
from engine.runtime import BpmnRuntime
from tests.pgdb import create_database
from tests.pgdb import drop_database
from tests.pgdb import with_database

DATA = Path(__file__).parent / "data"
BPMN_DIR = Path(__file__).parent.parent / "bpmn"


def _worker_url(url: str | None) -> str | None:
    """The PostgreSQL URL of this xdist worker: the given database name plus ``_gw<N>``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    return with_database(url, f"{make_url(url).database}_{worker}")


PG_URL = _worker_url(os.environ.get("HEDUI_TEST_DATABASE_URL"))
#: set once this worker created its own PostgreSQL database (dropped at the end of the session)
_created_databases: list[str] = []
CST = timezone(timedelta(hours=8))
#: a Monday morning in Beijing
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=CST)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> None:
    """argon2 at production cost makes every login ~0.1 s; tests only need correctness."""
    from argon2 import PasswordHasher

    from engine.services.users import use_password_hasher

    use_password_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def ensure_worker_database(url: str) -> None:
    """Create this xdist worker's database on first use (the run's own database exists already)."""
    if url != os.environ.get("HEDUI_TEST_DATABASE_URL") and url not in _created_databases:
        create_database(url)
        _created_databases.append(url)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the databases this worker created (the run's own database is dropped by ``.ci/run``)."""
    while _created_databases:
        drop_database(_created_databases.pop())


def reset_postgres(url: str) -> None:
    ensure_worker_database(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def prepare_database(url: str) -> None:
    """Migrate to head and load the 2025–2026 working-day calendar (what ``make run`` does)."""
    from engine.calendar import seed_calendar

    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        seed_calendar(session, [2025, 2026], clock=FixedClock(T0))
        session.commit()
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the calendar loaded; tests that need real commits copy it."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    prepare_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("PostgreSQL run skipped: HEDUI_TEST_DATABASE_URL is not set")
        reset_postgres(PG_URL)
        prepare_database(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("db") / "shared.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(request: pytest.FixtureRequest, db_engine: Engine) -> Iterator[Connection]:
    """A connection in an outer transaction that is rolled back after the test.

    In a module that defines ``SEED_ONCE`` (see :func:`seeded_connection`) the test runs instead in a
    savepoint on the module's seeded connection, rolled back after the test: the seed is paid once.
    """
    if _seeds_once(request):
        conn = request.getfixturevalue("seeded_connection")
        savepoint = conn.begin_nested()
        yield conn
        # a session the test left open still holds a savepoint above the test's own: innermost first
        while (inner := conn.get_nested_transaction()) is not None and inner is not savepoint:
            inner.rollback()
        savepoint.rollback()
        return
    conn = db_engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


def _seeds_once(request: pytest.FixtureRequest) -> bool:
    return getattr(request.module, "SEED_ONCE", None) is not None


@pytest.fixture(scope="module")
def seeded_connection(request: pytest.FixtureRequest, db_engine: Engine) -> Iterator[Connection]:
    """The module's ``SEED_ONCE(ctx)`` run once per module and database, in an outer transaction.

    Set-up data most tests of a module share (the demo organisation, every diagram deployed, a few
    cases) then costs one seeding per module instead of one per test: each test runs in a savepoint
    on top (``connection``), so what a test writes is gone for the next one, and the whole is rolled
    back after the module. ``SEED_ONCE`` gets an :class:`EngineContext` at ``T0`` whose session
    commits into the outer transaction. Every test of such a module runs on the seed: the seeded
    transaction stays open for the whole module, so a second connection writing to the same database
    (``committing_url``, a test's own engine) would wait for its locks; keep such tests elsewhere.
    """
    conn = db_engine.connect()
    outer = conn.begin()
    factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    clock = FixedClock(T0)
    with factory() as session:
        request.module.SEED_ONCE(EngineContext(session, BpmnRuntime(clock, script_time_limit=2.0), clock))
        session.commit()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    # commit() inside the code under test only releases a SAVEPOINT
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    s = session_factory()
    yield s
    s.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def runtime(clock: FixedClock) -> BpmnRuntime:
    return BpmnRuntime(clock, script_time_limit=2.0)


@pytest.fixture
def ctx(session: Session, runtime: BpmnRuntime, clock: FixedClock) -> EngineContext:
    return EngineContext(session, runtime, clock)


@pytest.fixture
def actor() -> Actor:
    return Actor("tester", "intake_officer")


def read_files(*names: str, base: Path = DATA) -> dict[str, bytes]:
    return {name: (base / name).read_bytes() for name in names}


@pytest.fixture
def deploy(ctx: EngineContext):  # type: ignore[no-untyped-def]
    """Deploy test diagrams from tests/data by file name."""
    from engine.services.deploy import deploy_files

    def _deploy(*names: str):  # type: ignore[no-untyped-def]
        return deploy_files(ctx, read_files(*names), actor=Actor("designer", "process_designer"))

    return _deploy


@pytest.fixture
def app(db_engine: Engine, session_factory: sessionmaker[Session], clock: FixedClock):  # type: ignore[no-untyped-def]
    from web import create_app

    app = create_app({"ENV": "testing", "DATABASE_URL": str(db_engine.url.render_as_string(hide_password=False)),
                      "DB_ENGINE": db_engine, "CLOCK": clock, "SECRET_KEY": "test-secret"})
    app.extensions["hedui"].session_factory = session_factory
    return app


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def committing_url(request: pytest.FixtureRequest, db_url: str, tmp_path: Path,
                   sqlite_template: Path) -> Iterator[str]:
    """A database where the code under test really commits (concurrency tests).

    SQLite: a fresh copy of the migrated template. PostgreSQL: the test database,
    emptied again afterwards (TRUNCATE does not fire the event log's row triggers).
    """
    if _seeds_once(request):
        raise RuntimeError("committing_url in a SEED_ONCE module: the seeded transaction would block it")
    if db_url.startswith("sqlite"):
        path = tmp_path / "committing.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    yield db_url
    engine = make_engine(db_url)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('alembic_version', 'roles', 'calendar_days', 'calendar_years')"))]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


def committing_run(engine: Engine, clock: FixedClock) -> Callable[[Callable[[EngineContext], Any]], Any]:
    """``run(fn)``: ``fn(ctx)`` in a session of its own on ``engine`` (working-day calendar on), then committed;
    for tests on a database that really commits (``committing_url``), one call per transaction or thread."""
    from engine.calendar import WorkingCalendar

    runtime = BpmnRuntime(clock)

    def run(fn: Callable[[EngineContext], Any]) -> Any:
        with Session(engine, expire_on_commit=False) as session:
            ctx = EngineContext(session, runtime, clock, deadline=WorkingCalendar(session).deadline)
            result = fn(ctx)
            session.commit()
            return result

    return run
