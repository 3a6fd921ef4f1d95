"""A scratch database for one benchmark run: a SQLite file in a temp dir, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url


@contextmanager
def scratch_database(postgres: str | None, prefix: str) -> Iterator[str]:
    """Yield a URL; the database (or file) is dropped afterwards. ``postgres`` names a server, not a database."""
    if not postgres:
        with tempfile.TemporaryDirectory(prefix=f"{prefix}_") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(make_url(postgres).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
