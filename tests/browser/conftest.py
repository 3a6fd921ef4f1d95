"""Browser tests: the app served for real (werkzeug, a thread, a free port) on a SQLite file, driven by
Playwright in Debian's Chromium (``/usr/bin/chromium``; Playwright's own browser download is never used).

Every test in this directory is skipped, with the reason, when Chromium or the ``playwright`` package is
missing. Each test gets its own database copied from the migrated template, with the demo organisation,
``standard_verification`` deployed, and two households entrusted to the 朝阳区 agency, on a fixed clock
(T0, a Monday morning in Beijing).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from engine.clock import FixedClock
from tests.conftest import T0
from tests.web.inbox_cases import entrust
from tests.web.inbox_cases import prepare

CHROMIUM = Path("/usr/bin/chromium")
#: as the machine notes say: headless, no sandbox (root), and no background connections to a closed network
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VENDOR = Path(__file__).parents[2] / "web" / "static" / "vendor"
#: the smallest screen the UI must be readable on (issue #5); every browser test runs at it
VIEWPORT = {"width": 1366, "height": 768}
#: screenshots of the main pages, kept as test artifacts (git-ignored)
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "screenshots"


def _unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"browser tests skipped: {CHROMIUM} is missing (apt-get install chromium; `make test` tries)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "browser tests skipped: the playwright package is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="session", autouse=True)
def _browser_available() -> None:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)


@dataclass
class LiveServer:
    url: str
    app: Flask
    clock: FixedClock

    def ctx(self) -> Any:
        """A unit of work on the served database (commits at the end of the ``with`` block)."""
        return self.app.extensions["hedui"].unit_of_work()


@pytest.fixture
def live_server(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    from web import create_app

    path = tmp_path / "browser.db"
    shutil.copy(sqlite_template, path)
    clock = FixedClock(T0)
    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{path}", "CLOCK": clock,
                      "SECRET_KEY": "browser-test-secret-key-of-32-chars!"})
    with app.extensions["hedui"].unit_of_work() as ctx:
        prepare(ctx)
        entrust(ctx, 2)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, clock)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["hedui"].jobs.shutdown()
        app.extensions["hedui"].db_engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context at 1366x768; whatever it shows at the end is kept as ``.../<test>/last.png``."""
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    from playwright.sync_api import expect

    # assertions wait as long as actions: on a loaded CI machine (two xdist workers and the server on 2 cores)
    # a replay step's fetch and re-render took more than expect's default 5 s once
    expect.set_options(timeout=10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # anything the Content-Security-Policy (web/headers.py) blocked is a defect of the page, not of the policy
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    yield page
    try:
        (ARTIFACTS / request.node.name).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / request.node.name / "last.png"), full_page=True)
    except Exception:  # noqa: S110 - an artifact must never decide a test's outcome
        pass
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def vendored_bpmn_js() -> None:
    if not (VENDOR / "bpmn-navigated-viewer.production.min.js").exists():
        pytest.skip("bpmn-js is not in web/static/vendor/: run `make assets`")


@pytest.fixture
def shoot(page: Any, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``shoot("inbox")`` saves what the page shows now as ``test-artifacts/screenshots/<test>/NN-inbox.png``."""
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    taken: list[Path] = []

    def take(name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    return take
