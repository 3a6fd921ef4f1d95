"""The demo world's database on either backend: copies of it and its row counts (the fuzz tests' snapshots).

SQLite: a file per world, copied with the online backup API (with what is still in the write-ahead log).
PostgreSQL (``HEDUI_TEST_DATABASE_URL``): the seeded demo is built once per test process in a database of its
own (``<test database>_demo``) and every world is a clone of it made with ``CREATE DATABASE ... TEMPLATE``,
dropped when the world is done. A template may have no other connection open, so ``copy_world`` first disposes
the engine of the app that used it (its pool reconnects on the next request).
"""

from __future__ import annotations

import itertools
import sqlite3

import pytest
from flask import Flask
from sqlalchemy import Engine
from sqlalchemy import inspect
from sqlalchemy import make_url
from sqlalchemy import text

from engine.db import make_engine
from tests.pgdb import drop_database
from tests.pgdb import run_admin
from tests.pgdb import with_database

#: the backends a fuzz module runs on (``fuzz_demo_app``): PostgreSQL skips without ``HEDUI_TEST_DATABASE_URL``
BACKENDS = ("sqlite", "postgresql")
_copies = itertools.count(1)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def copy_database(url: str, tmp_path_factory: pytest.TempPathFactory, label: str = "copy") -> str:
    """A new database holding what ``url``'s holds (committed); no connection may be open on a PostgreSQL one."""
    if is_sqlite(url):
        path = tmp_path_factory.mktemp(label) / "demo.db"
        source, target = sqlite3.connect(sqlite_path(url)), sqlite3.connect(path)
        source.backup(target)  # with what is still in the write-ahead log, unlike a file copy
        source.close()
        target.close()
        return f"sqlite:///{path}"
    name = make_url(url).database
    copy = with_database(url, f"{name}_{label}{next(_copies)}"[:63])
    run_admin(url, f'DROP DATABASE IF EXISTS "{make_url(copy).database}" WITH (FORCE)',
           f'CREATE DATABASE "{make_url(copy).database}" TEMPLATE "{name}"')
    return copy


def copy_world(app: Flask, tmp_path_factory: pytest.TempPathFactory, label: str = "copy") -> str:
    """``copy_database`` of the database ``app`` uses, its pooled connections closed first."""
    url = app.config["DATABASE_URL"]
    app.extensions["hedui"].db_engine.dispose()
    return copy_database(url, tmp_path_factory, label)


def drop_copy(url: str) -> None:
    """Drop a PostgreSQL copy (a SQLite file goes with pytest's temporary directories)."""
    if not is_sqlite(url):
        drop_database(url)


def close_world(app: Flask) -> None:
    """Done with ``app``'s world: wait for the jobs its requests started (a batch run on a thread of the
    in-process queue), close its connections, drop it if it is a PostgreSQL copy."""
    state = app.extensions["hedui"]
    if (shutdown := getattr(state.jobs, "shutdown", None)) is not None:
        shutdown()
    state.db_engine.dispose()
    drop_copy(app.config["DATABASE_URL"])


class RowCounter:
    """Every table's row count, in one query, on a connection of its own (what is committed).

    Its pooled connection keeps a PostgreSQL world from being copied: ``close`` it first (it reconnects).
    """

    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(url)
        with self.engine.connect() as conn:
            self.tables = sorted(inspect(conn).get_table_names())
        quote = self.engine.dialect.identifier_preparer.quote
        # the table names come from the schema, not from input
        self.query = text("SELECT " + ", ".join(f"(SELECT count(*) FROM {quote(t)})" for t in self.tables))

    def __call__(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            row = conn.execute(self.query).one()
        return dict(zip(self.tables, row, strict=True))

    def close(self) -> None:
        self.engine.dispose()


def demo_database_url(server_url: str) -> str:
    """Where this process builds the seeded demo on PostgreSQL: the test database's name (per xdist worker,
    tests/conftest.py) plus ``_demo``; the template every PostgreSQL world is cloned from."""
    return with_database(server_url, f"{make_url(server_url).database}_demo"[:63])
