"""Background 版本迁移 runs on the pages (process-design §13): 迁移全部可迁移案件 queues a run and shows its page.

The run page shows the state, the counts and the cases not moved with their reasons, refreshes itself
while the run is queued or running, and offers pause / resume / cancel (CSRF-protected POSTs). The plan
page lists the process's recent runs; a second run from a version whose run is active answers 409.
Only process designers reach any of it.
"""

from __future__ import annotations

from typing import Any

from engine.clock import FixedClock
from engine.context import Actor
from engine.models import MigrationRun
from engine.services.instances import start_instance
from engine.services.migration_runs import create_run
from tests.conftest import T0
from tests.engine.migration_factory import ADDED_STEP
from tests.engine.migration_factory import V1
from tests.engine.migration_factory import deploy_text
from tests.web.test_cases_pages import RecordingQueue
from tests.web.test_designer_migrate import PLAN
from tests.web.test_designer_migrate import _migrated
from tests.web.test_designer_migrate import _post
from tests.web.test_designer_migrate import cases  # noqa: F401  (fixture: the client on the seed below)
from tests.web.test_designer_migrate import seed
from tests.web.test_inbox import login
from tests.web.test_jobs import _eventually
from tests.web.test_jobs import make_app  # noqa: F401  (fixture: an app on its own committed SQLite file)
from tests.web.test_login import assert_valid_html
from tests.web.test_login import page_token

#: HD-W-1 at 受理初审 (movable), HD-W-2 at 审核复审 (removed in version 2: blocked), seeded once for the module
SEED_ONCE = seed

ALL = {"from": "1", "to": "2", "scope": "all", "reason": "删除复审步骤"}


def _queue(app: Any, monkeypatch: Any) -> RecordingQueue:
    queue = RecordingQueue(app.extensions["hedui"])
    monkeypatch.setattr(app.extensions["hedui"], "jobs", queue)
    return queue


def _act(client: Any, run_url: str, action: str) -> Any:
    return client.post(f"{run_url}/{action}", data={"csrf_token": page_token(client, "/")})


def test_migrate_all_starts_a_run_whose_page_shows_the_progress(app, cases, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    queue = _queue(app, monkeypatch)
    login(cases, "designer")
    response = _post(cases, ALL)
    assert response.status_code == 302
    run_url = response.headers["Location"]
    assert [name for name, _ in queue.jobs] == ["migrations.run"] and _migrated(app) == 0
    html = cases.get(run_url).get_data(as_text=True)
    assert_valid_html(html)
    assert "已在后台开始迁移第 1 版的全部可迁移案件" in html and "进度：等待执行" in html
    assert 'http-equiv="refresh"' in html and "暂停" in html and "取消迁移" in html
    assert "运行中的案件 2 件" in html and "删除复审步骤" in html
    plan = cases.get(PLAN).get_data(as_text=True)
    assert "后台迁移记录" in plan and f'href="{run_url}"' in plan and "等待执行" in plan
    again = _post(cases, ALL)
    assert again.status_code == 409 and "第 1 版已有一次未结束的后台迁移" in again.get_data(as_text=True)
    assert queue.run_all() == ["done"]
    html = cases.get(run_url).get_data(as_text=True)
    assert_valid_html(html)
    assert "进度：已完成" in html and "已迁移 <strong>1</strong> 件" in html and 'http-equiv="refresh"' not in html
    assert "HD-W-2" in html and "「审核复审」（review）在新版本中已删除" in html and "HD-W-1" not in html
    assert "暂停" not in html and "取消迁移" not in html
    assert _migrated(app) == 1


def test_pause_resume_and_cancel_from_the_run_page(app, cases, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    queue = _queue(app, monkeypatch)
    login(cases, "designer")
    run_url = _post(cases, ALL).headers["Location"]
    queue.jobs.clear()
    assert _act(cases, run_url, "pause").status_code == 302
    html = cases.get(run_url).get_data(as_text=True)
    assert "进度：已暂停" in html and "继续" in html and 'http-equiv="refresh"' not in html
    assert queue.run_all() == []  # nothing queued while paused
    assert _act(cases, run_url, "resume").status_code == 302
    assert [name for name, _ in queue.jobs] == ["migrations.run"]
    queue.jobs.clear()
    clock.advance(minutes=16)  # the queued job never ran (the worker died): interrupted
    html = cases.get(run_url).get_data(as_text=True)
    assert "进度：已中断" in html and "继续" in html
    assert _act(cases, run_url, "cancel").status_code == 302
    html = cases.get(run_url).get_data(as_text=True)
    assert "进度：已取消" in html and "已取消：已迁移的案件保持在新版本" in html
    refused = cases.get(_act(cases, run_url, "pause").headers["Location"]).get_data(as_text=True)
    assert "该迁移当前不能暂停" in refused
    assert _act(cases, run_url, "explode").status_code == 404
    assert cases.get(run_url.replace("linear_review", "timer_boundary")).status_code == 404
    assert cases.get(run_url.rsplit("/", 1)[0] + "/999999").status_code == 404
    assert _migrated(app) == 0
    assert _post(cases, ALL).status_code == 302  # cancelled: a new run may start


def test_others_get_403_on_run_pages(app, cases, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _queue(app, monkeypatch)
    login(cases, "designer")
    run_url = _post(cases, ALL).headers["Location"]
    for username in ("cy_intake", "auditor"):
        login(cases, username)
        assert cases.get(run_url).status_code == 403
        assert _act(cases, run_url, "cancel").status_code == 403
    login(cases, "designer")
    assert "进度：等待执行" in cases.get(run_url).get_data(as_text=True)


def test_the_embedded_queue_runs_the_job_after_the_commit(make_app) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """``make run``: the in-process queue picks the run up once the request's transaction committed."""
    state = make_app(FixedClock(T0)).extensions["hedui"]
    with state.unit_of_work() as ctx:
        deploy_text(ctx, V1)
        for i in range(3):
            start_instance(ctx, "linear_review", actor=Actor("li_intake", "intake_officer"), business_key=f"HD-E-{i}")
        deploy_text(ctx, ADDED_STEP)
    with state.unit_of_work() as ctx:
        run_id = create_run(ctx, "linear_review", 1, 2, actor=Actor("cli", "admin"), reason="增加法规审查").id

    def done() -> tuple[str, int] | None:
        with state.session_factory() as session:
            run = session.get(MigrationRun, run_id)
            return (run.status.value, run.migrated) if run.status.value == "done" else None

    assert _eventually(done) == ("done", 3)
