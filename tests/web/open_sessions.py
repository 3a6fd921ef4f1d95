"""Sessions a test opens on the app and leaves open, closed after the test (for ``SEED_ONCE`` modules).

In a module that seeds once (tests/conftest.py ``seeded_connection``) a test runs in a savepoint; a
session the test opened and never closed still holds its own savepoint on top, and rolling back the
test's savepoint under it fails ("nested transaction already deassociated"). A module whose tests read
through :func:`context` / :func:`session` and that uses the :func:`close_opened` fixture gets them closed
before the test's savepoint is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from engine.context import EngineContext

_opened: list[Session] = []


def context(app: Any) -> EngineContext:
    """``app``'s engine context, its session closed after the test."""
    ctx: EngineContext = app.extensions["hedui"].new_context()
    _opened.append(ctx.session)
    return ctx


def session(app: Any) -> Session:
    """A session on ``app``'s database, closed after the test."""
    return context(app).session


@pytest.fixture
def close_opened(connection: Connection) -> Iterator[None]:
    """Close what :func:`context` and :func:`session` opened during the test (before ``connection`` rolls back).

    The savepoints those sessions still hold are rolled back first, innermost first (a session that was used
    again later holds a newer savepoint than one opened after it), down to the test's own savepoint.
    """
    test_savepoint = connection.get_nested_transaction()
    yield
    while (inner := connection.get_nested_transaction()) is not None and inner is not test_savepoint:
        inner.rollback()
    while _opened:
        _opened.pop().close()
