"""Imports only go down: web -> engine -> forms; SpiffWorkflow only inside engine/runtime/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "forms": {"flask", "sqlalchemy", "engine", "web", "SpiffWorkflow", "celery"},
    "engine": {"flask", "flask_login", "web", "marshmallow", "werkzeug"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_do_not_import_upwards(package: str) -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & FORBIDDEN[package]) for p in _modules(package)}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_runtime_imports_spiffworkflow() -> None:
    runtime = ROOT / "engine" / "runtime"
    offenders = [str(p.relative_to(ROOT)) for package in ("engine", "web", "forms") for p in _modules(package)
                 if "SpiffWorkflow" in _imports(p) and runtime not in p.parents]
    assert offenders == []


def test_engine_never_reads_the_wall_clock() -> None:
    offenders = []
    for path in _modules("engine"):
        text = path.read_text(encoding="utf-8")
        for needle in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
            if needle in text and path.name != "clock.py":
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


def test_services_never_commit() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _modules("engine") if ".commit()" in p.read_text(encoding="utf-8")]
    assert offenders == []
