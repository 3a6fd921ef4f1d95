"""本单位任务 (/supervise/): a supervisor of 朝阳区核对中心 sees the unit's open tasks (not 南关区's), reassigns
them among the eligible holders of the step's role or releases them, through the same engine service as the
API (recorded in the case history); a reassignment breaking separation of duties (SD-1) is refused with the
rule shown and nothing changed; overdue tasks come first with the escalation job's mark (PS-10); everyone
else gets 403 and no nav entry. People are shown by name (AU-1: attributable, legibly)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.escalation import escalate_overdue
from engine.models import Event
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import User
from engine.services.instances import claim_task
from engine.services.instances import complete_task
from engine.services.instances import start_instance
from engine.services.org import get_unit_by_code
from tests.web.inbox_cases import CLERK
from tests.web.inbox_cases import INTAKE_OK
from tests.web.inbox_cases import PROCESS
from tests.web.inbox_cases import entrust
from tests.web.inbox_cases import prepare
from tests.web.test_inbox import login
from tests.web.test_login import assert_valid_html
from tests.web.test_login import page_token

NG_KEY = "NG-PLAIN-000"


def _ctx(app):  # type: ignore[no-untyped-def]
    return app.extensions["hedui"].new_context()


def _user(ctx, username: str) -> Actor:  # type: ignore[no-untyped-def]
    user = ctx.session.execute(select(User).where(User.username == username)).scalar_one()
    return Actor(username, None, user.id)


@pytest.fixture
def unit_cases(app, client):  # type: ignore[no-untyped-def]
    """Two 朝阳区 households at 受理初审 and one 南关区 case (another jurisdiction)."""
    ctx = _ctx(app)
    prepare(ctx)
    entrust(ctx, 2)
    ng, ng_mzj = get_unit_by_code(ctx, "NG-HDZX"), get_unit_by_code(ctx, "NG-MZJ")
    assert ng is not None and ng_mzj is not None
    start_instance(ctx, PROCESS, actor=CLERK, business_key=NG_KEY,
                   data={"case_no": NG_KEY, "subject_ids": [1], "sharing_units": ["CC-BANK"]},
                   agency_unit_id=ng.id, entrusting_unit_id=ng_mzj.id, region_code="220102")
    ctx.session.commit()
    ctx.session.close()
    return client


def _open(app, bpmn_id: str, unit_code: str = "CY-HDZX") -> list[HumanTask]:  # type: ignore[no-untyped-def]
    ctx = _ctx(app)
    try:
        unit = get_unit_by_code(ctx, unit_code)
        assert unit is not None
        return list(ctx.session.execute(
            select(HumanTask).where(HumanTask.bpmn_id == bpmn_id, HumanTask.status == HumanTaskStatus.OPEN,
                                    HumanTask.unit_id == unit.id)
            .order_by(HumanTask.created_at, HumanTask.id)).scalars())
    finally:
        ctx.session.close()


def _task(app, task_id: str) -> HumanTask:  # type: ignore[no-untyped-def]
    ctx = _ctx(app)
    try:
        task = ctx.session.get(HumanTask, task_id)
        assert task is not None
        return task
    finally:
        ctx.session.close()


def _events(app, kind: str) -> list[Event]:  # type: ignore[no-untyped-def]
    ctx = _ctx(app)
    try:
        return list(ctx.session.execute(select(Event).where(Event.kind == kind).order_by(Event.id)).scalars())
    finally:
        ctx.session.close()


def _review_after_intake_by(app, username: str) -> HumanTask:  # type: ignore[no-untyped-def]
    """Complete the first 朝阳区 受理初审 as ``username``: its 审核复审 opens."""
    intake = _open(app, "intake_check")[0]
    ctx = _ctx(app)
    complete_task(ctx, intake.id, INTAKE_OK, actor=_user(ctx, username))
    ctx.session.commit()
    ctx.session.close()
    [review] = _open(app, "review")
    return review


def _post(client, path: str, data: dict[str, Any]):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": page_token(client, "/"), **data})


def _html(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


def _row_ids(html: str) -> list[str]:
    return re.findall(r'data-task-id="([^"]+)"', html)


def test_supervisor_sees_the_units_open_tasks_and_not_nanguans(app, unit_cases) -> None:  # type: ignore[no-untyped-def]
    login(unit_cases, "cy_supervisor")
    home = _html(unit_cases.get("/"))
    assert '<a href="/supervise/">本单位任务</a>' in home
    response = unit_cases.get("/supervise/")
    html = _html(response)
    assert response.status_code == 200
    assert_valid_html(html)
    cy = [t.id for t in _open(app, "intake_check")]
    [ng] = _open(app, "intake_check", "NG-HDZX")
    assert sorted(_row_ids(html)) == sorted(cy) and ng.id not in html and NG_KEY not in html
    assert "待认领" in html and "共 2 项" in html
    # the filters: by assignee (待认领 / a person) and by step
    ctx = _ctx(app)
    claim_task(ctx, cy[0], actor=_user(ctx, "cy_intake"))
    ctx.session.commit()
    ctx.session.close()
    html = _html(unit_cases.get("/supervise/?assignee=cy_intake"))
    assert _row_ids(html) == [cy[0]] and "李静（朝阳区核对中心）" in html and "cy_intake</td>" not in html
    assert _row_ids(_html(unit_cases.get("/supervise/?assignee=-"))) == [cy[1]]
    assert _row_ids(_html(unit_cases.get("/supervise/?step=review"))) == []
    assert sorted(_row_ids(_html(unit_cases.get("/supervise/?step=intake_check&page=99")))) == sorted(cy)
    # 南关区's task is not the 朝阳区 supervisor's: outside the jurisdiction, 404
    assert unit_cases.get(f"/supervise/tasks/{ng.id}").status_code == 404


def test_reassign_to_an_eligible_person_is_recorded(app, unit_cases) -> None:  # type: ignore[no-untyped-def]
    """SD-1: cy_all did 受理初审, so only 王磊 (cy_reviewer) is offered for 审核复审; the API's engine service
    records the reassignment with the supervisor as actor and the reason."""
    review = _review_after_intake_by(app, "cy_all")
    login(unit_cases, "cy_supervisor")
    page = unit_cases.get(f"/supervise/tasks/{review.id}?next=/supervise/?step%3Dreview")
    html = _html(page)
    assert page.status_code == 200
    assert_valid_html(html)
    assert '<option value="cy_reviewer">王磊（朝阳区核对中心）</option>' in html
    assert 'value="cy_all"' not in html  # excluded by the engine's candidates (SD-1)
    response = _post(unit_cases, f"/supervise/tasks/{review.id}/reassign",
                     {"username": "cy_reviewer", "reason": "王磊熟悉该户情况", "next": "/supervise/?step=review"})
    assert response.status_code == 302 and response.headers["Location"] == "/supervise/?step=review"
    html = _html(unit_cases.get("/supervise/?step=review"))
    assert "已将任务「审核复审」" in html and "改派给王磊（朝阳区核对中心）" in html
    assert _task(app, review.id).assignee == "cy_reviewer"
    [event] = _events(app, "task_reassigned")
    assert event.actor == "cy_supervisor" and event.actor_role == "supervisor"
    assert event.payload["to"] == "cy_reviewer" and event.payload["previous"] is None
    assert event.payload["reason"] == "王磊熟悉该户情况"
    # the case page and the history name people, not accounts
    login(unit_cases, "cy_reviewer")
    case_html = _html(unit_cases.get(f"/cases/{_case_no(app, review.id)}"))
    assert "王磊（朝阳区核对中心）办理中" in case_html and "（cy_reviewer）" not in case_html
    assert "（hq_street_clerk）" not in case_html and "周敏（红旗街道民政办）" in case_html
    task_html = _html(unit_cases.get(f"/tasks/{review.id}"))
    assert "由 （未认领） 改派给 王磊（朝阳区核对中心）（原因：王磊熟悉该户情况）" in task_html


def _case_no(app, task_id: str) -> str:  # type: ignore[no-untyped-def]
    from engine.models import WorkflowInstance

    ctx = _ctx(app)
    try:
        task = ctx.session.get(HumanTask, task_id)
        assert task is not None
        instance = ctx.session.get(WorkflowInstance, task.instance_id)
        assert instance is not None and instance.business_key
        return instance.business_key
    finally:
        ctx.session.close()


def test_reassign_breaking_sd1_is_refused_with_the_rule_and_nothing_changes(app, unit_cases) -> None:  # type: ignore[no-untyped-def]
    """The person who did 受理初审 may not get 审核复审 (posted by hand: the form does not offer them)."""
    review = _review_after_intake_by(app, "cy_all")
    login(unit_cases, "cy_supervisor")
    response = _post(unit_cases, f"/supervise/tasks/{review.id}/reassign",
                     {"username": "cy_all", "reason": "人手不足"})
    html = _html(response)
    assert response.status_code == 403
    assert_valid_html(html)
    assert "改派未成功（403）：吴全（朝阳区核对中心）已办理本案的「受理初审」，不能再办理此步骤（SD-1：" in html
    assert "依据的规则：<strong>SD-1</strong>" in html
    assert ">人手不足</textarea>" in html  # the form keeps what was typed
    assert _task(app, review.id).assignee is None
    assert _events(app, "task_reassigned") == []
    [refusal] = _events(app, "refused")
    assert (refusal.payload["action"], refusal.payload["rule"]) == ("reassign", "SD-1")


def test_supervisor_releases_a_claimed_task(app, unit_cases) -> None:  # type: ignore[no-untyped-def]
    intake = _open(app, "intake_check")[0]
    ctx = _ctx(app)
    claim_task(ctx, intake.id, actor=_user(ctx, "cy_intake"))
    ctx.session.commit()
    ctx.session.close()
    login(unit_cases, "cy_supervisor")
    html = _html(unit_cases.get(f"/supervise/tasks/{intake.id}"))
    assert "李静（朝阳区核对中心）（" in html and "退回待认领" in html
    response = _post(unit_cases, f"/supervise/tasks/{intake.id}/release", {"reason": "休假"})
    assert response.status_code == 302 and response.headers["Location"] == "/supervise/"
    assert "已将李静（朝阳区核对中心）认领的任务「受理初审」" in _html(unit_cases.get("/supervise/"))
    assert _task(app, intake.id).assignee is None
    [event] = _events(app, "task_released")
    assert (event.actor, event.payload["previous"], event.payload["by_supervisor"], event.payload["reason"]) == (
        "cy_supervisor", "cy_intake", True, "休假")
    # released already: a second release is a flash message, nothing recorded
    response = _post(unit_cases, f"/supervise/tasks/{intake.id}/release", {})
    assert response.status_code == 302
    assert "该任务尚未被认领" in _html(unit_cases.get("/supervise/"))
    assert len(_events(app, "task_released")) == 1


def test_overdue_tasks_come_first_with_the_escalation_mark(app, unit_cases, clock) -> None:  # type: ignore[no-untyped-def]
    """PS-10: the escalation job reports overdue tasks to the unit; the page shows them first, marked."""
    first = _open(app, "intake_check")
    clock.advance(timedelta(days=1))
    ctx = _ctx(app)
    entrust(ctx, 1, first=5)  # a later case, due later
    ctx.session.commit()
    ctx.session.close()
    clock.advance(timedelta(days=20))
    ctx = _ctx(app)
    assert escalate_overdue(ctx) >= 3
    ctx.session.commit()
    ctx.session.close()
    login(unit_cases, "cy_supervisor")
    html = _html(unit_cases.get("/supervise/"))
    assert_valid_html(html)
    rows = _row_ids(html)
    assert sorted(rows[:2]) == sorted(t.id for t in first) and len(rows) == 3  # the most overdue first
    assert html.count('<span class="status status--bad">已上报</span>') == 3
    assert "超期任务 3 项" in html and html.count("inbox-row--overdue") == 3
    task_html = _html(unit_cases.get(f"/supervise/tasks/{first[0].id}"))
    assert "上报本单位科室负责人" in task_html and "已超期" in task_html


def test_others_get_403_and_no_nav_entry(app, unit_cases) -> None:  # type: ignore[no-untyped-def]
    intake = _open(app, "intake_check")[0]
    for username in ("cy_intake", "auditor"):
        login(unit_cases, username)
        assert "本单位任务" not in _html(unit_cases.get("/"))
        response = unit_cases.get("/supervise/")
        assert response.status_code == 403 and "只有科室负责人" in _html(response)
        assert unit_cases.get(f"/supervise/tasks/{intake.id}").status_code == 403
        response = _post(unit_cases, f"/supervise/tasks/{intake.id}/reassign", {"username": "cy_all"})
        assert response.status_code == 403
    assert _task(app, intake.id).assignee is None and _events(app, "task_reassigned") == []


def test_api_reassignment_records_the_reason(app, unit_cases) -> None:  # type: ignore[no-untyped-def]
    intake = _open(app, "intake_check")[0]
    token = unit_cases.post("/api/v1/tokens", json={"username": "cy_supervisor", "password": "hedui-demo"}).json
    response = unit_cases.post(f"/api/v1/tasks/{intake.id}/reassign", headers={
        "Authorization": f"Bearer {token['token']}"}, json={"username": "cy_intake", "reason": "指定专人"})
    assert response.status_code == 200 and response.json["assignee"] == "cy_intake"
    [event] = _events(app, "task_reassigned")
    assert event.payload["reason"] == "指定专人"


def test_admin_user_page_names_the_grantor(app, unit_cases) -> None:  # type: ignore[no-untyped-def]
    """The grant was made by the account ``admin`` (the demo's seeding actor): shown by name."""
    login(unit_cases, "admin")
    html = _html(unit_cases.get("/admin/users/cy_supervisor"))
    assert "（系统管理员授予）" in html and "（admin）" not in html
    with app.test_request_context():
        from web.people import person
        from web.people import person_with_username

        assert (person("cli"), person("job:escalation"), person("system")) == ("命令行", "系统", "系统")
        assert person_with_username("cy_reviewer") == "王磊（朝阳区核对中心）（cy_reviewer）"
        assert person("no_such_account") == "no_such_account" and person(None) == "—"
        assert person("unit:CC-GA") == "长春市公安局"


def _event_count(app) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func

    ctx = _ctx(app)
    try:
        return int(ctx.session.execute(select(func.count(Event.id))).scalar_one())
    finally:
        ctx.session.close()


def test_only_people_the_engine_would_accept_are_offered(app, unit_cases) -> None:  # type: ignore[no-untyped-def]
    """The offer runs the engine's own reassignment guard per candidate (dry, nothing recorded): the auditor
    (AU-1), though given the step's role in the unit, and cy_all (SD-1: did 受理初审) are not offered;
    王磊 is, and the reassignment to him succeeds; with nobody left, 「没有可改派的人员」."""
    from engine.services.org import grant_role

    review = _review_after_intake_by(app, "cy_all")
    ctx = _ctx(app)
    auditor = ctx.session.execute(select(User).where(User.username == "auditor")).scalar_one()
    unit = get_unit_by_code(ctx, "CY-HDZX")
    assert unit is not None and review.role_code
    grant_role(ctx, auditor, unit, review.role_code, actor=Actor("admin", "admin"))
    ctx.session.commit()
    ctx.session.close()
    login(unit_cases, "cy_supervisor")
    before = _event_count(app)
    html = _html(unit_cases.get(f"/supervise/tasks/{review.id}"))
    assert '<option value="cy_reviewer">王磊（朝阳区核对中心）</option>' in html
    assert 'value="auditor"' not in html and 'value="cy_all"' not in html
    assert _event_count(app) == before and _events(app, "refused") == []  # the dry check wrote nothing
    response = _post(unit_cases, f"/supervise/tasks/{review.id}/reassign", {"username": "cy_reviewer"})
    assert response.status_code == 302 and _task(app, review.id).assignee == "cy_reviewer"
    # the auditor would have been refused (the offer was right to leave them out)
    response = _post(unit_cases, f"/supervise/tasks/{review.id}/reassign", {"username": "auditor"})
    assert response.status_code == 403 and "审计监督员只能查阅案件" in _html(response)
    [refusal] = _events(app, "refused")
    assert (refusal.payload["action"], refusal.payload["rule"]) == ("reassign", "AU-1")
    # 王磊 holds it now; the others would be refused: nobody to offer
    before = _event_count(app)
    html = _html(unit_cases.get(f"/supervise/tasks/{review.id}"))
    assert_valid_html(html)
    assert "没有可改派的人员" in html and "<option value=" not in html
    assert _event_count(app) == before


def test_a_refused_reassignment_shows_its_message_when_no_form_is_left(app, unit_cases) -> None:  # type: ignore[no-untyped-def]
    """A post made from a page loaded earlier, when nobody is left to offer (so the page has no form any more):
    the messages are shown in the summary, not dropped with the form (found by the form fuzz on PostgreSQL)."""
    review = _review_after_intake_by(app, "cy_all")
    login(unit_cases, "cy_supervisor")
    assert _post(unit_cases, f"/supervise/tasks/{review.id}/reassign", {"username": "cy_reviewer"}).status_code == 302
    before = _event_count(app)
    response = _post(unit_cases, f"/supervise/tasks/{review.id}/reassign", {"reason": "长" * 201})
    html = _html(response)
    assert response.status_code == 422 and "没有可改派的人员" in html
    summary = html[html.index('class="error-summary"'):]
    assert "请选择改派给谁" in summary and "改派原因不能超过 200 个字" in summary
    assert_valid_html(html)
    assert _event_count(app) == before and _task(app, review.id).assignee == "cy_reviewer"
