"""Every demo user walks the seeded demo as a browser would: what the UI offers must work (DESIGN, Web and API).

The world is built the way ``make run`` builds it — ``hedui db upgrade``, ``calendar seed --provisional``,
``bpmn deploy``, ``demo`` through the CLI runner — in a committed SQLite file (a copy of the migrated
template, the demo's own commits stay), once per module; it runs on SQLite only.

For each of the README's 34 demo users the crawler signs in and follows, breadth first, every same-site
link (``href``) reachable by GET from the home page (never the sign-out; at most a few URLs of one shape,
numbers normalised; downloads only have their status checked). Every page must answer 200 (or redirect to
a page that does): a link shown to a user that leads to 403 or 404 is a defect, the UI should not offer it.
Every HTML page must have a ``<title>``, balanced tags, unique ids, a ``<label for>`` per form control,
no error or programming text where Chinese belongs (``Traceback``, ``None``, ``null``, a Python repr...),
no unmasked 18-digit ID number (masked as ``2201**********1234``: PR-4), and no demo account name where
a person's name belongs (pages that show accounts on purpose excepted: ``ACCOUNT_PATHS``). Each user walks
the demo twice: as seeded, and five weeks on with the periodic jobs run (overdue tasks and exchange requests,
PS-10); a supervisor's walk reaches 本单位任务 and its 改派 pages. The API
part signs in with a token (``POST /api/v1/tokens``) and reads every list endpoint of the OpenAPI document
and the objects they list. The case histories must read in Chinese (AU-1: every action attributable, legibly).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections import deque
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
from flask import Flask

from engine.clock import FixedClock
from engine.services.demo import DEMO_PASSWORD
from engine.services.demo import USERS
from tests.conftest import BPMN_DIR
from tests.conftest import T0
from tests.web.test_login import _HtmlChecker
from tests.web.test_login import login

#: what ``make run`` does before serving (Makefile, target ``run``)
MAKE_RUN = (["db", "upgrade"], ["calendar", "seed", "--provisional"], ["bpmn", "deploy", str(BPMN_DIR)], ["demo"])
#: five weeks after the demo's day: past every limit (2026-12-30)
LATER = T0 + timedelta(days=37)
#: the periodic jobs a running server does (web/jobs.py FREQUENT_JOBS and the cities' gathering)
JOBS = ("timers.run_due", "tasks.escalate_overdue", "exchange.run", "archives.seal_closed", "cross_city.gather")
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
USERNAME = re.compile("(?<![A-Za-z0-9_])(?:" + "|".join(re.escape(u) for u, _, _ in USERS if "_" in u) + ")(?![A-Za-z0-9_])")
#: pages that show account names on purpose: auditors' (「姓名（用户名）」), account administration, and the
#: registered exchange officers (the delay-notice form asks for the officer's 备案用户名)
ACCOUNT_PATHS = ("/audit", "/archives", "/admin", "/exchange/")
#: the archive viewer of a case (for auditors: 「姓名（用户名）」)
ARCHIVE_PAGE = re.compile(r"^/cases/[^/]+/archive")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def demo_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The demo as ``make run`` seeds it, committed to its own SQLite file, on the tests' fixed clock."""
    from web import create_app

    path = tmp_path_factory.mktemp("crawl") / "demo.db"
    shutil.copy(sqlite_template, path)
    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{path}", "CLOCK": FixedClock(T0),
                      "SECRET_KEY": "demo-crawl-secret-key-of-32-chars!"})
    runner = app.test_cli_runner()
    for args in MAKE_RUN:
        result = runner.invoke(args=args)
        assert result.exit_code == 0, (args, result.output, repr(result.exception))
    return app


@pytest.fixture(scope="module")
def later_app(demo_app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The same demo five weeks on: every limit passed, the periodic jobs run (overdue tasks, exchange
    requests past their reply date, fired timers), as a server left running would show it."""
    from web import create_app

    path = tmp_path_factory.mktemp("crawl-later") / "demo.db"
    source, target = sqlite3.connect(demo_app.config["DATABASE_URL"].removeprefix("sqlite:///")), sqlite3.connect(path)
    source.backup(target)  # with what is still in the write-ahead log, unlike a file copy
    source.close()
    target.close()
    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{path}", "CLOCK": FixedClock(LATER),
                      "SECRET_KEY": "demo-crawl-secret-key-of-32-chars!"})
    runner = app.test_cli_runner()
    done: dict[str, str] = {}
    for job in JOBS:
        result = runner.invoke(args=["jobs", "run", job])
        assert result.exit_code == 0, (job, result.output, repr(result.exception))
        done[job] = result.output
    assert "已完成: 0" not in done["timers.run_due"] + done["tasks.escalate_overdue"]  # the world did move on
    return app


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


def crawl(client: Any) -> tuple[dict[str, list[str]], int]:
    """Breadth-first over the same-site links from the home page; ``{url: problems}`` and the pages seen."""
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
            problems, targets = page_problems(response.get_data(as_text=True), urlsplit(url).path)
            if problems:
                found[url] = problems
        for href in targets:
            parts = urlsplit(urljoin(url, href))
            if parts.netloc not in ("", "localhost") or parts.scheme not in ("", "http", "https"):
                continue
            if parts.path == "/logout" or parts.path.startswith("/static/"):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target in seen or shapes.get(shape(target), 0) >= PER_SHAPE:
                continue
            seen.add(target)
            shapes[shape(target)] = shapes.get(shape(target), 0) + 1
            queue.append((target, url))
    return found, visited


@pytest.mark.parametrize("when", ["seeded", "five_weeks_later"])
@pytest.mark.parametrize("username", [u for u, _, _ in USERS])
def test_every_page_a_demo_user_can_reach_works(request: pytest.FixtureRequest, username: str, when: str) -> None:
    app = request.getfixturevalue("demo_app" if when == "seeded" else "later_app")
    client = app.test_client()
    assert login(client, username, DEMO_PASSWORD).status_code == 302
    found, visited = crawl(client)
    assert visited > 5, "the crawl stopped at the home page"
    assert found == {}


def test_the_demo_supervisor_finds_the_units_overdue_tasks(later_app: Flask) -> None:
    """cy_supervisor's nav leads to 本单位任务; five weeks on, the unit's open tasks are there, overdue and
    reported by the escalation job (PS-10), each with a working 改派 page (the crawl walks the same links)."""
    client = later_app.test_client()
    assert login(client, "cy_supervisor", DEMO_PASSWORD).status_code == 302
    assert '<a href="/supervise/">本单位任务</a>' in client.get("/").get_data(as_text=True)
    html = client.get("/supervise/").get_data(as_text=True)
    assert "超期任务" in html and '<span class="status status--bad">已上报</span>' in html
    links = re.findall(r'href="(/supervise/tasks/[^"]+)"', html)
    assert links and "朝阳区" in html and "南关区" not in html
    page = client.get(links[0].replace("&amp;", "&"))
    assert page.status_code == 200 and "改派" in page.get_data(as_text=True)


def test_demo_has_34_users_in_every_role() -> None:
    """The crawl covers the README's table: every role of the catalogue has a demo user."""
    roles = {role for _, _, grants in USERS for _, role in grants}
    assert len(USERS) == 34
    assert {"street_clerk", "assistance_officer", "intake_officer", "review_officer", "report_officer",
            "exchange_officer", "sharing_officer", "supervisor", "auditor", "process_designer", "admin"} <= roles


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _api_urls(get: Any, spec: dict[str, Any]) -> list[str]:
    """Every GET path of the OpenAPI document without a path parameter, then the objects its lists name."""
    queries = {"/calendar/add-working-days": "?start=2026-11-23&days=5"}
    urls = [f"/api/v1{p}{queries.get(p, '')}" for p, ops in spec["paths"].items() if "get" in ops and "{" not in p]
    for task in get("/api/v1/tasks").json["items"]:
        urls += [f"/api/v1/tasks/{task['id']}", f"/api/v1/cases/{task['instance_id']}/history"]
    urls += [f"/api/v1/rechecks/{r['recheck_no']}" for r in get("/api/v1/rechecks").json["items"]]
    batches = get("/api/v1/cross-city/batches")
    if batches.status_code == 200:
        urls += [f"/api/v1/cross-city/batches/{b['batch_no']}" for b in batches.json["items"]]
    return urls


@pytest.mark.parametrize("username", [u for u, _, _ in USERS])
def test_api_lists_answer_every_demo_user(demo_app: Flask, username: str) -> None:
    """Readable JSON for every role: 200, or a refusal with a stable code and a Chinese message; IDs masked."""
    client = demo_app.test_client()
    token = client.post("/api/v1/tokens", json={"username": username, "password": DEMO_PASSWORD}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def get(url: str) -> Any:
        return client.get(url, headers=headers)

    found: dict[str, str] = {}
    for url in _api_urls(get, get("/api/v1/openapi.json").json):
        response = get(url)
        if response.mimetype != "application/json":
            found[url] = f"{response.status_code} {response.mimetype}"
        elif response.status_code != 200 and (response.status_code != 403 or not response.json.get("error")
                                              or response.json.get("message", "").isascii()):
            found[url] = f"{response.status_code} {response.get_data(as_text=True)[:200]}"
        elif any(ID_NUMBER.search(s) for s in _strings(response.json)):
            found[url] = "an ID number in clear"
    assert found == {}


def test_every_demo_history_reads_in_chinese(demo_app: Flask) -> None:
    """The 办理记录 of every demo case (task page, audit pages): no field codes, JSON literals or process ids."""
    from sqlalchemy import select

    from engine.audit import timeline
    from engine.models import WorkflowInstance

    ctx = demo_app.extensions["hedui"].new_context()
    try:
        code = re.compile(r"\b(?:[a-z]+_[a-z_]+|null|true|false)\b|=")
        rows = [r for i in ctx.session.execute(select(WorkflowInstance.id)).scalars() for r in timeline(ctx, i)]
        assert len(rows) > 40
        assert [(r.kind, r.summary) for r in rows if code.search(r.summary) or r.kind_name == r.kind] == []
        assert [r.actor for r in rows if not r.actor_name] == []
    finally:
        ctx.session.close()


def test_task_instructions_speak_to_staff() -> None:
    """A user task's documentation is the task page's 办理说明: Chinese for the person doing the step, without
    variable, timer or job names (``upper_items``, ``feedback_overdue``) or issue numbers (the crawl found them)."""
    code = re.compile(r"[a-z]+(?:_[a-z0-9]+)+|[a-z]+\.[a-z_]+|#\d+")
    found: dict[str, list[str]] = {}
    user_task = re.compile(r'<bpmn:userTask id="([^"]+)".*?>(.*?)</bpmn:userTask>', re.S)
    for path in sorted(BPMN_DIR.glob("*.bpmn")):
        for task_id, body in user_task.findall(path.read_text()):
            doc = re.search(r"<bpmn:documentation>(.*?)</bpmn:documentation>", body, re.S)
            if doc and code.search(doc.group(1)):
                found[f"{path.name}:{task_id}"] = code.findall(doc.group(1))
    assert found == {}
