"""Scratch PostgreSQL databases for tests and benchmarks, created and dropped through the server's
``postgres`` maintenance database (the database named in the given URL itself is never touched)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import text


def admin_engine(url: str) -> Engine:
    """An autocommit engine on the ``postgres`` database of ``url``'s server."""
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def with_database(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead (password kept)."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def create_database(url: str) -> None:
    """(Re)create the database ``url`` names: dropped first if a crashed run left it behind."""
    run_admin(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)',
         f'CREATE DATABASE "{make_url(url).database}"')


def drop_database(url: str) -> None:
    run_admin(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@contextmanager
def temporary_database(server_url: str, name: str) -> Iterator[str]:
    """Yield the URL of a new database ``name`` on ``server_url``'s server; drop it afterwards."""
    url = with_database(server_url, name)
    create_database(url)
    try:
        yield url
    finally:
        drop_database(url)


def run_admin(url: str, *statements: str) -> None:
    admin = admin_engine(url)
    try:
        with admin.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        admin.dispose()
