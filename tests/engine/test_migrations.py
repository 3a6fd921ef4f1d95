"""The schema comes only from migrations: head equals the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

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
