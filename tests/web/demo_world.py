"""The seeded demo world the web tests walk: built the way ``make run`` builds it, and a crawler over it.

``build_demo_app`` runs ``hedui db upgrade``, ``calendar seed --provisional``, ``bpmn deploy`` and ``demo``
through the CLI runner in a committed SQLite file (a copy of the migrated template; the demo's own commits
stay); the ``demo_app`` fixture (tests/web/conftest.py) builds one per test module that uses it, and
``fuzz_demo_app`` gives the fuzz modules the same world on SQLite and on PostgreSQL (``seed_demo_at`` any
database; copies: tests/web/demo_db.py). ``crawl``
follows a signed-in user's same-site links breadth first and checks every page with ``page_problems``;
test_demo_crawl.py and test_form_fuzz.py share them.
"""

from __future__ import annotations

import re
import shutil
from collections import deque
from collections.abc import Callable
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from engine.clock import FixedClock
from engine.services.demo import USERS
from tests.conftest import BPMN_DIR
from tests.conftest import T0
from tests.web.demo_db import copy_world
from tests.web.test_login import _HtmlChecker

#: what ``make run`` does before serving (Makefile, target ``run``)
MAKE_RUN = (["db", "upgrade"], ["calendar", "seed", "--provisional"], ["bpmn", "deploy", str(BPMN_DIR)], ["demo"])
#: at most this many URLs of one shape (numbers and UUIDs normalised) per user, and this many pages in all
PER_SHAPE = 3
MAX_PAGES = 400
#: visible text that betrays an error, a template bug or English where Chinese belongs
#: (ASCII word boundaries: Python's \b sees no boundary between a Chinese character and a Latin letter)
DENYLIST = re.compile(r"(?<![A-Za-z_])(?:Traceback|None|null|undefined|NaN|Internal Server Error|Not Found|"
                      r"Bad Request|Forbidden|jinja2|UndefinedError|built-in method|object at 0x[0-9a-f]+)"
                      r"(?![A-Za-z_])")
#: an ID number in clear (GB 11643: 17 digits and a check character), not a run of digits inside a hex digest
#: (event hashes and SHA-256 sums are shown to auditors: 18 digits in a row happen in one of a few hundred)
ID_NUMBER = re.compile(r"(?<![0-9A-Fa-f*])\d{17}[\dXx](?![0-9A-Za-z*])")
#: a demo account name where a person's name belongs (``（hq_street_clerk）``)
USERNAME = re.compile("(?<![A-Za-z0-9_])(?:" + "|".join(re.escape(u) for u, _, _ in USERS if "_" in u)
                      + ")(?![A-Za-z0-9_])")
#: pages that show account names on purpose: auditors' (「姓名（用户名）」), account administration, and the
#: registered exchange officers (the delay-notice form asks for the officer's 备案用户名)
ACCOUNT_PATHS = ("/audit", "/archives", "/admin", "/exchange/")
#: the archive viewer of a case (for auditors: 「姓名（用户名）」)
ARCHIVE_PAGE = re.compile(r"^/cases/[^/]+/archive")
#: the periodic jobs a running server does (web/jobs.py FREQUENT_JOBS and the cities' gathering)
JOBS = ("timers.run_due", "tasks.escalate_overdue", "exchange.run", "archives.seal_closed", "cross_city.gather")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def build_demo_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The demo as ``make run`` seeds it, committed to its own SQLite file, on the tests' fixed clock
    (tests/web/conftest.py: the module-scoped ``demo_app`` fixture)."""
    path = tmp_path_factory.mktemp("crawl") / "demo.db"
    shutil.copy(sqlite_template, path)
    return seed_demo_at(f"sqlite:///{path}")


def seed_demo_at(url: str) -> Flask:
    """``make run``'s seeding (``MAKE_RUN``) in the database ``url`` (migrated here if it is not yet)."""
    app = demo_app_at(url)
    runner = app.test_cli_runner()
    for args in MAKE_RUN:
        result = runner.invoke(args=args)
        assert result.exit_code == 0, (args, result.output, repr(result.exception))
    return app


def demo_app_at(url: str, when: datetime = T0) -> Flask:
    """The app on the demo world in ``url``, its clock fixed at ``when``."""
    from web import create_app

    return create_app({"ENV": "testing", "DATABASE_URL": url, "CLOCK": FixedClock(when),
                       "SECRET_KEY": "demo-crawl-secret-key-of-32-chars!"})


def moved_on(app: Flask, tmp_path_factory: pytest.TempPathFactory, when: datetime) -> tuple[Flask, dict[str, str]]:
    """A copy of ``app``'s world at ``when`` with the periodic jobs run, as a server left running would show it;
    and what each job printed. On PostgreSQL the copy is a database of its own: ``drop_copy`` it when done."""
    later = demo_app_at(copy_world(app, tmp_path_factory, "later"), when)
    runner = later.test_cli_runner()
    done: dict[str, str] = {}
    for job in JOBS:
        result = runner.invoke(args=["jobs", "run", job])
        assert result.exit_code == 0, (job, result.output, repr(result.exception))
        done[job] = result.output
    return later, done


class _Page(HTMLParser):
    """The title, the links and the visible text of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.title: str | None = None
        self.links: list[str] = []
        self.text: list[str] = []
        self._in_title = False
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)
        if tag == "title":
            self._in_title, self.title = True, ""
        if tag in ("script", "style", "template"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in ("script", "style", "template"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data
        elif not self._hidden:
            self.text.append(data)


def shape(url: str) -> str:
    """The URL with its UUIDs and numbers normalised: pages of one kind share a shape."""
    return re.sub(r"\d+", "N", UUID.sub("U", url))


def page_problems(html: str, path: str = "/") -> tuple[list[str], list[str]]:
    """What is wrong with one HTML page, and the links it offers."""
    page, checker = _Page(), _HtmlChecker()
    page.feed(html)
    checker.feed(html)
    checker.close()
    problems = [] if (page.title or "").strip() else ["no <title>"]
    problems += [f"markup: {p}" for p in checker.problems[:3]]
    if len(checker.ids) != len(set(checker.ids)):
        problems.append(f"duplicate ids: {sorted({i for i in checker.ids if checker.ids.count(i) > 1})[:5]}")
    unlabelled = [c for c in checker.controls if c not in checker.label_for]
    if unlabelled:
        problems.append(f"form controls without <label for>: {unlabelled[:5]}")
    text = re.sub(r"\s+", " ", " ".join(page.text))
    problems += [f"text {m.group(0)!r}: …{text[max(0, m.start() - 50):m.end() + 30]}…"
                 for m in DENYLIST.finditer(text)][:5]
    if ID_NUMBER.search(text):
        problems.append("an ID number in clear")
    if not path.startswith(ACCOUNT_PATHS) and not ARCHIVE_PAGE.match(path):
        problems += [f"username {m.group(0)!r} shown: …{text[max(0, m.start() - 40):m.end() + 20]}…"
                     for m in USERNAME.finditer(text)][:3]
    return problems, page.links


def crawl(client: Any, on_page: Callable[[str, str], None] | None = None,
          per_shape: int = PER_SHAPE) -> tuple[dict[str, list[str]], int]:
    """Breadth-first over the same-site links from the home page; ``{url: problems}`` and the pages seen.

    ``on_page(url, html)`` sees every HTML page that answered 200 (the form fuzzer collects its forms).
    """
    queue: deque[tuple[str, str]] = deque([("/", "(start)")])
    seen, visited = {"/"}, 0
    shapes: dict[str, int] = {}
    found: dict[str, list[str]] = {}
    while queue and visited < MAX_PAGES:
        url, source = queue.popleft()
        visited += 1
        response = client.get(url)
        targets: list[str] = []
        if response.status_code in (301, 302, 303, 307, 308):
            targets = [response.headers["Location"]]
            if urlsplit(targets[0]).path == "/login":
                found[url] = [f"redirects to the sign-in page (linked from {source})"]
        elif response.status_code != 200:
            found[url] = [f"{response.status_code} (linked from {source})"]
        elif response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            problems, targets = page_problems(html, urlsplit(url).path)
            if on_page is not None:
                on_page(url, html)
            if problems:
                found[url] = problems
        for href in targets:
            parts = urlsplit(urljoin(url, href))
            if parts.netloc not in ("", "localhost") or parts.scheme not in ("", "http", "https"):
                continue
            if parts.path == "/logout" or parts.path.startswith("/static/"):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target in seen or shapes.get(shape(target), 0) >= per_shape:
                continue
            seen.add(target)
            shapes[shape(target)] = shapes.get(shape(target), 0) + 1
            queue.append((target, url))
    return found, visited

def credit_and_batch(ctx: Any) -> None:
    """On the demo's verified household: a registered 失信 record (revoke), a proposed one (decide); and a
    re-verification batch of it, not started yet (pause). Objects the demo day lacks, for the form and API
    fuzz (tests/web/test_form_fuzz_more.py, tests/web/api_fuzz_objects.py)."""
    from engine.models import Household
    from engine.services.credit import is_ended
    from engine.services.org import get_unit_by_code
    from engine.services.recheck_batches import create_batch
    from tests.engine.credit_factory import propose
    from tests.engine.credit_factory import registered
    from tests.engine.recheck_factory import as_user

    household = next(h for h in ctx.session.execute(select(Household).order_by(Household.id)).scalars()
                     if h.instance is not None and is_ended(h))
    registered(ctx, household)
    other = next(p for p in household.persons if p.id != household.applicant.id)
    propose(ctx, household, person_id=str(other.id))
    create_batch(ctx, entrusting_unit=get_unit_by_code(ctx, "CY-MZJ"), agency_unit=get_unit_by_code(ctx, "CY-HDZX"),
                 title="年度复核（测试）", actor=as_user(ctx, "cy_assistance", "assistance_officer"),
                 case_nos=[household.case_no])
