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
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from engine.services.demo import DEMO_PASSWORD
from engine.services.demo import USERS
from tests.conftest import BPMN_DIR
from tests.conftest import T0
from tests.web.demo_world import ID_NUMBER
from tests.web.demo_world import crawl
from tests.web.demo_world import moved_on
from tests.web.test_login import login

#: five weeks after the demo's day: past every limit (2026-12-30)
LATER = T0 + timedelta(days=37)


@pytest.fixture(scope="module")
def later_app(demo_app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The same demo five weeks on: every limit passed, the periodic jobs run (overdue tasks, exchange
    requests past their reply date, fired timers), as a server left running would show it."""
    app, done = moved_on(demo_app, tmp_path_factory, LATER)
    assert "已完成: 0" not in done["timers.run_due"] + done["tasks.escalate_overdue"]  # the world did move on
    return app


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
