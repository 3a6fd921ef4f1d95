"""The schema comes only from migrations: head equals the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect
from sqlalchemy import text

import engine.models  # noqa: F401  (fills Base.metadata)
from engine.db import Base
from engine.db import make_engine
from engine.migrate import downgrade
from engine.migrate import upgrade


def _diff(connection):  # type: ignore[no-untyped-def]
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def test_head_matches_the_models(db_engine) -> None:  # type: ignore[no-untyped-def]
    with db_engine.connect() as conn:
        assert _diff(conn) == []


def test_instance_state_is_compressed_with_lz4_on_postgresql(db_engine) -> None:  # type: ignore[no-untyped-def]
    """Revision 0019: every command rewrites the state; pglz made that write grow with it (issue #2, BENCHMARKS)."""
    if db_engine.dialect.name != "postgresql":
        pytest.skip("TOAST compression is PostgreSQL's (SQLite stores the text as it is)")
    with db_engine.connect() as conn:
        try:
            conn.execute(text("SET LOCAL default_toast_compression = 'lz4'"))
        except sa_exc.DBAPIError:
            pytest.skip("this PostgreSQL server was built without lz4 (the upgrade keeps pglz there)")
        conn.rollback()
        method = conn.execute(text(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'workflow_instances'::regclass AND attname = 'state'")).scalar_one()
        assert method == "l"


def test_migrations_go_down_and_up_again(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "roundtrip.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    downgrade(url, "base")
    db = make_engine(url)
    assert set(inspect(db).get_table_names()) <= {"alembic_version"}
    upgrade(url)
    with db.connect() as conn:
        assert _diff(conn) == []
    db.dispose()


def test_revisions_are_dated_and_named() -> None:
    versions = Path(__file__).resolve().parents[2] / "migrations" / "versions"
    for path in versions.glob("*.py"):
        date, time, rev, *slug = path.stem.split("_")
        assert len(date) == 8 and date.isdigit() and len(time) == 4 and slug, path.name
