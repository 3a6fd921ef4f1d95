"""版本迁移 pages (/designer/migrate/): the plan of a process's running cases, the migration, the refusals.

The demo's process designer (``designer``) sees the plan with business keys (never ids), the diff,
the compatible cases preselected; a missing reason keeps the selection; a migration moves the chosen
cases (recorded as ``migrated``) and flashes what was skipped; everyone else gets 403. The plan is
paged (each page checks its own cases, in a bounded number of statements), 迁移全部可迁移案件 starts a
background run that moves the compatible cases of every page (its page: tests/web/test_designer_migrate_runs.py),
and a case that fails is flashed while the others move.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.models import Event
from engine.models import WorkflowInstance
from engine.services.demo import seed_demo
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from tests.engine.migration_factory import REMOVED_REVIEW
from tests.engine.migration_factory import V1
from tests.engine.migration_factory import deploy_text
from tests.web.test_cases_pages import RecordingQueue
from tests.web.test_inbox import login
from tests.web.test_login import assert_valid_html
from tests.web.test_login import page_token

INTAKE = Actor("li_intake", "intake_officer")
PLAN = "/designer/migrate/linear_review?from=1&to=2"


def seed(ctx: EngineContext) -> None:
    """HD-W-1 at 受理初审 (movable), HD-W-2 at 审核复审 (removed in v2: blocked): the module's ``SEED_ONCE``."""
    ctx.deadline = WorkingCalendar(ctx.session).deadline  # what the app's contexts use
    seed_demo(ctx, actor=Actor("admin", "admin"))
    deploy_text(ctx, V1)
    start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-W-1")
    later = start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-W-2")
    [task] = list_open_tasks(ctx, instance_id=later.id)
    complete_task(ctx, task.id, {}, actor=INTAKE)
    deploy_text(ctx, REMOVED_REVIEW)


SEED_ONCE = seed


@pytest.fixture
def cases(client):  # type: ignore[no-untyped-def]
    """The test client (the cases are the module's seed)."""
    return client


def _ids(app: Any) -> dict[str, int]:
    with app.extensions["hedui"].session_factory() as session:
        return dict(session.execute(select(WorkflowInstance.business_key, WorkflowInstance.id)).all())


def _migrated(app: Any) -> int:
    with app.extensions["hedui"].session_factory() as session:
        return session.execute(select(func.count(Event.id)).where(Event.kind == "migrated")).scalar_one()


def _post(client: Any, data: dict[str, Any]) -> Any:
    return client.post("/designer/migrate/linear_review", data={"csrf_token": page_token(client, "/"), **data})


def test_designer_sees_the_plan_with_business_keys_and_the_diff(app, cases) -> None:  # type: ignore[no-untyped-def]
    login(cases, "designer")
    response = cases.get(PLAN)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_valid_html(html)
    assert "HD-W-1" in html and "HD-W-2" in html and "可迁移" in html and "不可迁移" in html
    assert "「审核复审」（review）在新版本中已删除" in html and "受理初审（待办）" in html
    ids = _ids(app)
    # the compatible case is preselected; the blocked one has no checkbox; ids never shown as text
    assert re.search(rf'value="{ids["HD-W-1"]}"[^>]*checked', html)
    assert f'name="instance" value="{ids["HD-W-2"]}"' not in html
    assert f">{ids['HD-W-1']}<" not in html
    assert "删除" in html and "<code>review</code>" in html
    assert "全部迁移在后台分批进行" in html  # 迁移全部可迁移案件 is a background run


def test_migrating_moves_the_chosen_case_and_flashes_the_result(app, cases) -> None:  # type: ignore[no-untyped-def]
    login(cases, "designer")
    ids = _ids(app)
    response = _post(cases, {"from": "1", "to": "2", "instance": [str(ids["HD-W-1"])], "reason": "删除复审步骤"})
    assert response.status_code == 302 and response.headers["Location"].endswith(PLAN)
    page = cases.get(response.headers["Location"]).get_data(as_text=True)
    assert "已将 1 件案件迁移到第 2 版" in page
    assert "HD-W-1" not in page  # no longer on v1
    assert _migrated(app) == 1


def test_a_missing_reason_keeps_the_selection(app, cases) -> None:  # type: ignore[no-untyped-def]
    login(cases, "designer")
    ids = _ids(app)
    response = _post(cases, {"from": "1", "to": "2", "instance": [str(ids["HD-W-1"])], "reason": " "})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "请填写迁移原因" in html
    assert re.search(rf'value="{ids["HD-W-1"]}"[^>]*checked', html)
    response = _post(cases, {"from": "1", "to": "2", "reason": "保留的原因"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "请至少选择一件案件" in html and "保留的原因" in html
    assert not re.search(r'name="instance"[^>]*checked', html)  # nothing was chosen: nothing re-checked
    assert _migrated(app) == 0


def test_bad_versions_answer_422_with_the_choice_kept(cases) -> None:  # type: ignore[no-untyped-def]
    login(cases, "designer")
    same = cases.get("/designer/migrate/linear_review?from=2&to=2")
    assert same.status_code == 422 and "原版本与目标版本相同" in same.get_data(as_text=True)
    unknown = cases.get("/designer/migrate/linear_review?from=1&to=9")
    assert unknown.status_code == 422 and "没有第 9 版" in unknown.get_data(as_text=True)
    assert cases.get("/designer/migrate/no_such_process").status_code == 404
    chooser = cases.get("/designer/migrate/linear_review")
    assert chooser.status_code == 200 and "第 1 版（运行中 2 件）" in chooser.get_data(as_text=True)


def test_digits_int_refuses_are_no_version_and_no_case(app, cases) -> None:  # type: ignore[no-untyped-def]
    """「²」 passes ``str.isdigit`` and ``int`` refuses it: a version or a ticked case of 「²」 (a hand-made or
    tampered post, the form fuzz found it) is 请选择版本 / no case chosen, not a 500; nothing migrates."""
    login(cases, "designer")
    plan = cases.get("/designer/migrate/linear_review?from=²&to=2")
    assert plan.status_code == 422 and "请选择版本" in plan.get_data(as_text=True)
    versions = _post(cases, {"from": "1", "to": "²", "instance": [str(_ids(app)["HD-W-1"])], "reason": "原因"})
    assert versions.status_code == 422 and "请选择版本" in versions.get_data(as_text=True)
    chosen = _post(cases, {"from": "1", "to": "2", "instance": ["²", "9" * 22], "reason": "原因"})
    assert chosen.status_code == 422 and "请至少选择一件案件" in chosen.get_data(as_text=True)
    assert _migrated(app) == 0


def test_others_get_403(app, cases) -> None:  # type: ignore[no-untyped-def]
    ids = _ids(app)
    for username in ("cy_intake", "auditor", "admin"):
        login(cases, username)
        response = cases.get(PLAN)
        assert response.status_code == 403 and "只有流程设计人员" in response.get_data(as_text=True)
        response = _post(cases, {"from": "1", "to": "2", "instance": [str(ids["HD-W-1"])], "reason": "x"})
        assert response.status_code == 403
    assert _migrated(app) == 0



def _statements(app: Any, client: Any, path: str) -> int:
    from sqlalchemy import event

    engine, seen = app.extensions["hedui"].db_engine, []

    def count(*args: Any) -> None:
        seen.append(args[2])

    client.get(path)  # warm the session's per-request lookups and the runtime's spec cache the same way each time
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def _more(app: Any, n: int) -> None:
    """``n`` more cases at 受理初审 on version 1 (made current again for them, then version 2 again)."""
    from engine.services.definitions import activate_version

    ctx = app.extensions["hedui"].new_context()
    system = Actor("admin", "admin")
    activate_version(ctx, "linear_review", 1, actor=system, reason="补充测试案件")
    for i in range(n):
        start_instance(ctx, "linear_review", actor=INTAKE, business_key=f"HD-W-MORE-{i}")
    activate_version(ctx, "linear_review", 2, actor=system, reason="恢复")
    ctx.session.commit()
    ctx.session.close()


def test_the_plan_page_costs_the_same_statements_with_more_cases(app, cases) -> None:  # type: ignore[no-untyped-def]
    """No N+1: four more running cases on version 1 add no statement to the plan page (cases come in one query)."""
    login(cases, "designer")
    before = _statements(app, cases, PLAN)
    _more(app, 4)
    assert "共 6 件" in cases.get(PLAN).get_data(as_text=True)
    assert _statements(app, cases, PLAN) == before and before <= 20, before


def test_the_plan_is_paged_and_all_compatible_cases_migrate(app, cases, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One case per page: each page checks its own case; 迁移全部可迁移案件 moves the compatible ones of every page."""
    from web.designer_migrate import views

    monkeypatch.setattr(views, "PER_PAGE", 1)
    queue = RecordingQueue(app.extensions["hedui"])
    monkeypatch.setattr(app.extensions["hedui"], "jobs", queue)
    _more(app, 1)
    login(cases, "designer")
    second = cases.get(PLAN + "&page=2").get_data(as_text=True)
    assert_valid_html(second)
    assert "HD-W-2" in second and "HD-W-1" not in second and "第 2 / 3 页" in second and "共 3 件" in second
    assert "不可迁移" in second and "「审核复审」（review）在新版本中已删除" in second
    assert "全部迁移在后台分批进行" in second
    response = _post(cases, {"from": "1", "to": "2", "page": "2", "scope": "all", "reason": "删除复审步骤"})
    assert response.status_code == 302 and "/designer/migrate/linear_review/runs/" in response.headers["Location"]
    assert queue.run_all() == ["done"]
    page = cases.get(response.headers["Location"]).get_data(as_text=True)
    assert "已迁移 <strong>2</strong> 件" in page and "HD-W-2" in page
    assert "「审核复审」（review）在新版本中已删除" in page
    assert _migrated(app) == 2


def test_a_case_that_fails_is_flashed_and_the_others_migrate(app, cases) -> None:  # type: ignore[no-untyped-def]
    """A case whose stored state is unreadable: 不可迁移 in the plan, 迁移失败 when all are migrated; no Python text
    (PR-4: nothing of the failure's internals reaches the page)."""
    from sqlalchemy import text

    _more(app, 1)
    ids = _ids(app)
    with app.extensions["hedui"].unit_of_work() as ctx:
        ctx.session.execute(text("UPDATE workflow_instances SET state = '{\"tasks\": {', version = version + 1 "
                                 "WHERE id = :id"), {"id": ids["HD-W-1"]})
    login(cases, "designer")
    html = cases.get(PLAN).get_data(as_text=True)
    assert "无法读取该案件的运行状态" in html and f'name="instance" value="{ids["HD-W-1"]}"' not in html
    response = _post(cases, {"from": "1", "to": "2", "instance": [str(ids["HD-W-MORE-0"]), str(ids["HD-W-1"])],
                             "reason": "删除复审步骤"})  # a tampered post naming the unreadable case
    page = cases.get(response.headers["Location"]).get_data(as_text=True)
    assert "已将 1 件案件迁移到第 2 版" in page and "迁移失败 HD-W-1：迁移时发生内部错误" in page
    assert "JSONDecodeError" not in page and "Traceback" not in page
    assert _migrated(app) == 1
