"""流程定义 pages (designer tools: versions, comparing, rollback): roles, tables, diagram, files, diff, activation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import EngineContext
from engine.models import CurrentDefinition
from engine.models import Event
from tests.engine.definitions_factory import PROCESS
from tests.engine.definitions_factory import build
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import page_token
from tests.web.test_login import seed_region

BASE = f"/designer/processes/{PROCESS}"


def seed_built(ctx: EngineContext) -> None:
    """The demo region and users, and two versions of linear_review with cases on each."""
    ctx.deadline = WorkingCalendar(ctx.session).deadline  # what the app's contexts use
    seed_region(ctx)
    build(ctx)


#: seeded once for the module
SEED_ONCE = seed_built


def _html(client, path: str, status: int = 200) -> str:  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    html = response.get_data(as_text=True)
    assert_valid_html(html)
    return html


def _current(app) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        return session.get(CurrentDefinition, PROCESS).definition.version  # type: ignore[union-attr]


@pytest.mark.parametrize("user", ["designer", "auditor", "admin"])
def test_readers_see_the_nav_link_and_the_process_table(client, user) -> None:  # type: ignore[no-untyped-def]
    login(client, user)
    assert 'href="/designer/">流程定义</a>' in client.get("/").get_data(as_text=True)
    html = _html(client, "/designer/")
    table = html[html.index('data-table="processes"'):]
    assert f'href="{BASE}"' in table and "测试：受理与审核" in table and "第 2 版" in table
    assert '<td class="num">2</td><td class="num">1</td>' in table  # running, ended over all versions


@pytest.mark.parametrize("user", ["cy_intake", "cy_supervisor", "hq_street_clerk"])
def test_other_roles_get_403_and_no_link(client, user) -> None:  # type: ignore[no-untyped-def]
    login(client, user)
    assert "流程定义" not in client.get("/").get_data(as_text=True)
    for path in ("/designer/", BASE, f"{BASE}/versions/1", f"{BASE}/compare?from=1&to=2"):
        response = client.get(path)
        assert response.status_code == 403 and "仅流程设计员" in response.get_data(as_text=True)


def test_process_page_lists_versions_history_diagram_and_compare_selector(client) -> None:  # type: ignore[no-untyped-def]
    login(client, "designer")
    html = _html(client, BASE)
    versions = html[html.index('data-table="versions"'):html.index("</table>", html.index('data-table="versions"'))]
    assert versions.index("第 2 版") < versions.index("第 1 版")
    assert versions.count('<span class="status status--ok">当前</span>') == 1
    assert f'href="{BASE}/compare?from=1&amp;to=2">与上一版本比较' in versions
    assert f'href="{BASE}/versions/1#activate">设为当前版本' in versions
    history = html[html.index('data-table="history"'):]
    assert history.count("部署新版本") == 2 and history.count("曹宇（流程设计）") == 2  # display names, not usernames
    assert 'id="bpmn-diagram-data"' in html and "受理与初审" in html  # the current version's XML, embedded
    assert '<option value="1" selected>第 1 版</option>' in html
    assert '<option value="2" selected>第 2 版（当前）' in html
    assert "办理中的案件仍按各自启动时的版本运行" in html
    # the way on: migrate version 1's running cases, or edit the current version in the modeler
    assert 'href="/designer/migrate/linear_review?from=1&amp;to=2">迁移办理中的案件到当前版本' in versions
    assert 'href="/designer/edit/model/linear_review">在线建模' in html


def test_auditors_read_but_are_offered_no_activation(client) -> None:  # type: ignore[no-untyped-def]
    login(client, "auditor")
    assert "迁移办理中的案件" not in _html(client, BASE) and "在线建模" not in _html(client, BASE)
    assert "设为当前版本" not in _html(client, BASE) and 'id="activate"' not in _html(client, f"{BASE}/versions/1")
    token = page_token(client, f"{BASE}/versions/1")
    response = client.post(f"{BASE}/versions/1/activate", data={"csrf_token": token, "reason": "回退"})
    assert response.status_code == 403 and _current(client.application) == 2


def test_version_page_shows_user_tasks_files_and_previous_link(client) -> None:  # type: ignore[no-untyped-def]
    login(client, "auditor")
    html = _html(client, f"{BASE}/versions/2")
    tasks = html[html.index('data-table="user-tasks"'):]
    assert "受理与初审" in tasks and "审核复审员" in tasks and "<code>review</code>" in tasks
    assert '<td class="num">5</td>' in tasks and "sodNotSameAs=intake_check" in tasks
    assert f'href="{BASE}/versions/2/files/linear_review.bpmn"' in html
    assert f'href="{BASE}/compare?from=1&amp;to=2">与上一版本比较' in html
    assert "与上一版本比较" not in _html(client, f"{BASE}/versions/1")
    assert client.get(f"{BASE}/versions/9").status_code == 404
    assert client.get("/designer/processes/nothing_here").status_code == 404


def test_file_download_is_the_deployed_xml_as_an_attachment(client) -> None:  # type: ignore[no-untyped-def]
    login(client, "designer")
    response = client.get(f"{BASE}/versions/1/files/linear_review.bpmn")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert 'name="受理初审"' in response.get_data(as_text=True)
    assert client.get(f"{BASE}/versions/1/files/other.bpmn").status_code == 404


def test_compare_shows_the_semantic_then_the_text_diff(client) -> None:  # type: ignore[no-untyped-def]
    login(client, "designer")
    html = _html(client, f"{BASE}/compare?from=1&to=2")
    semantic, text = html.index("流程内容的变化"), html.index("文本差异")
    assert semantic < text
    assert "修改 1 个" in html and "用户任务" in html and "<code>intake_check</code>" in html
    assert "<del>受理初审</del> → <ins>受理与初审</ins>" in html and "属性 dueWorkingDays" in html
    assert '<span class="add">+' in html and '<span class="del">-' in html


@pytest.mark.parametrize(("query", "status", "message"), [
    ("", 422, "请选择比较的起始版本"),
    ("?from=abc&to=2", 422, "比较的起始版本应为正整数版本号"),
    ("?from=2&to=2", 422, "请选择两个不同的版本进行比较"),
    ("?from=1&to=99999999999999999999", 422, "比较的目标版本应为正整数版本号"),
    ("?from=1&to=7", 404, "没有第 7 版"),
])
def test_bad_compare_numbers_are_explained_not_500(client, query, status, message) -> None:  # type: ignore[no-untyped-def]
    login(client, "designer")
    html = _html(client, f"{BASE}/compare{query}", status)
    assert message in html and "流程内容的变化" not in html
    assert 'name="from"' in html  # the selector stays to try again


def test_designer_rolls_back_with_a_reason(app, client) -> None:  # type: ignore[no-untyped-def]
    login(client, "designer")
    html = _html(client, f"{BASE}/versions/1")
    assert 'id="activate"' in html
    token = page_token(client, f"{BASE}/versions/1")
    response = client.post(f"{BASE}/versions/1/activate", data={"csrf_token": token, "reason": "第 2 版时限有误"})
    assert response.status_code == 302 and response.headers["Location"].endswith(BASE)
    assert _current(app) == 1
    page = _html(client, BASE)
    assert "第 1 版已设为当前版本（原为第 2 版）" in page and "办理中的案件仍按各自启动时的版本运行" in page
    assert "设为当前版本" in page and "第 2 版时限有误" in page[page.index('data-table="history"'):]
    with app.extensions["hedui"].session_factory() as session:
        [ev] = session.execute(select(Event).where(Event.kind == "definition_activated")).scalars()
        assert (ev.actor, ev.payload["reason"]) == ("designer", "第 2 版时限有误")


@pytest.mark.parametrize(("version", "reason", "status", "message"), [
    (1, "   ", 422, "请填写切换版本的原因"),
    (1, "因" * 501, 422, "原因不能超过 500 字"),
])
def test_refused_activation_keeps_the_typed_reason(app, client, version, reason, status, message) -> None:  # type: ignore[no-untyped-def]
    login(client, "designer")
    token = page_token(client, f"{BASE}/versions/{version}")
    response = client.post(f"{BASE}/versions/{version}/activate", data={"csrf_token": token, "reason": reason})
    html = response.get_data(as_text=True)
    assert response.status_code == status and message in html
    assert_valid_html(html)
    assert f'>{reason}</textarea>' in html and 'aria-invalid="true"' in html
    assert _current(app) == 2


def test_activating_the_current_version_is_a_conflict(app, client) -> None:  # type: ignore[no-untyped-def]
    login(client, "designer")
    token = page_token(client, f"{BASE}/versions/2")
    response = client.post(f"{BASE}/versions/2/activate", data={"csrf_token": token, "reason": "再来一次"})
    assert response.status_code == 409 and "第 2 版已经是当前版本" in response.get_data(as_text=True)


def test_activation_needs_the_csrf_token(app, client) -> None:  # type: ignore[no-untyped-def]
    login(client, "designer")
    response = client.post(f"{BASE}/versions/1/activate", data={"reason": "回退"})
    assert response.status_code == 400 and _current(app) == 2


def test_pages_cost_the_same_statements_with_more_cases(app, client) -> None:  # type: ignore[no-untyped-def]
    """No N+1 on the pages: three more cases on version 2 add no statement to any page."""
    from sqlalchemy import event

    from engine.services.instances import start_instance
    from tests.engine.definitions_factory import INTAKE

    engine = app.extensions["hedui"].db_engine
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    def measure() -> list[int]:
        counts = []
        for path in ("/designer/", BASE, f"{BASE}/versions/2", f"{BASE}/compare?from=1&to=2"):
            client.get(path)  # warm the session's per-request lookups the same way each time
            statements.clear()
            event.listen(engine, "before_cursor_execute", count)
            try:
                assert client.get(path).status_code == 200
            finally:
                event.remove(engine, "before_cursor_execute", count)
            counts.append(len(statements))
        return counts

    login(client, "auditor")
    before = measure()
    ctx = app.extensions["hedui"].new_context()
    for i in range(3):
        start_instance(ctx, PROCESS, actor=INTAKE, business_key=f"HD-MORE-{i}")
    ctx.session.commit()
    ctx.session.close()
    assert measure() == before and max(before) <= 20, before  # session, user, roles and the page's own
