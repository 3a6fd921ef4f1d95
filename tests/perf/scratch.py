"""A scratch database for one benchmark run: a SQLite file in a temp dir, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from tests.pgdb import temporary_database


@contextmanager
def scratch_database(postgres: str | None, prefix: str) -> Iterator[str]:
    """Yield a URL; the database (or file) is dropped afterwards. ``postgres`` names a server, not a database."""
    if not postgres:
        with tempfile.TemporaryDirectory(prefix=f"{prefix}_") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    with temporary_database(postgres, f"{prefix}_{os.getpid()}") as url:
        yield url
