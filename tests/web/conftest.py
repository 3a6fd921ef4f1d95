"""Fixtures shared by the web test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from tests.web.demo_world import build_demo_app


@pytest.fixture(scope="module")
def demo_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The seeded demo (``make run``), in a SQLite file of the module's own: a module may change it."""
    return build_demo_app(sqlite_template, tmp_path_factory)
