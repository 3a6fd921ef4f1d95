"""我的待办 and the task page through the Flask test client: tabs, filters, sorting, pagination, masking,
jurisdiction (404), candidates (403), claim/release redirects, refusals as Chinese flash messages, CSRF,
the task form (inline errors, values kept) and the diagram data."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.models import Event
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import WorkflowInstance
from engine.models.case import Household
from engine.models.case import Person
from engine.services.instances import complete_task
from forms.ids import mask_id
from tests.web.inbox_cases import INTAKE_OK
from tests.web.inbox_cases import entrust
from tests.web.inbox_cases import plain_cases
from tests.web.inbox_cases import prepare
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login as first_login
from tests.web.test_login import logout
from tests.web.test_login import page_token
from web.inbox.schemas import InboxFilter
from web.inbox.schemas import load_filter
from web.inbox.taskform import field_messages
from web.inbox.taskform import submitted_data
from web.inbox.taskform import task_form


def _seed(app, households: int = 2, plain: int = 0) -> None:  # type: ignore[no-untyped-def]
    ctx = app.extensions["hedui"].new_context()
    prepare(ctx)
    if households:
        entrust(ctx, households)
    if plain:
        plain_cases(ctx, plain)
    ctx.session.commit()
    ctx.session.close()


def seed(ctx: EngineContext) -> None:
    """What :func:`_seed` makes by default, with the app's deadlines: the module's ``SEED_ONCE``."""
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    prepare(ctx)
    entrust(ctx, 2)


#: the demo organisation, standard_verification and two households at 受理初审, seeded once for the module
SEED_ONCE = seed


@pytest.fixture
def cases(client):  # type: ignore[no-untyped-def]
    return client


def login(client, username: str):  # type: ignore[no-untyped-def]
    """Sign in as ``username``, signing out whoever was signed in."""
    client.get("/login")  # ends a session that has been idle too long
    if client.get("/login").status_code == 302:
        logout(client)
    response = first_login(client, username)
    assert response.status_code == 302
    return response


def _session(app):  # type: ignore[no-untyped-def]
    return app.extensions["hedui"].session_factory()


def _open_tasks(app, bpmn_id: str = "intake_check") -> list[HumanTask]:  # type: ignore[no-untyped-def]
    with _session(app) as session:
        return list(session.execute(
            select(HumanTask).where(HumanTask.bpmn_id == bpmn_id, HumanTask.status == HumanTaskStatus.OPEN)
            .order_by(HumanTask.created_at, HumanTask.id)).scalars())


def _task(app, task_id: str) -> HumanTask:  # type: ignore[no-untyped-def]
    with _session(app) as session:
        task = session.get(HumanTask, task_id)
        assert task is not None
        return task


def _post(client, path: str, data: dict[str, Any] | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": page_token(client, "/inbox"), **(data or {})}, **kwargs)


def _html(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


def _row_ids(html: str) -> list[str]:
    return re.findall(r'data-task-id="([^"]+)"', html)


def _complete_as(app, task_id: str, username: str, data: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    ctx = app.extensions["hedui"].new_context()
    from engine.models import User

    user = ctx.session.execute(select(User).where(User.username == username)).scalar_one()
    complete_task(ctx, task_id, data, actor=Actor(username, None, user.id))
    ctx.session.commit()
    ctx.session.close()


# --- the list ---------------------------------------------------------------------------------------------


def test_inbox_needs_sign_in(cases) -> None:  # type: ignore[no-untyped-def]
    response = cases.get("/inbox?tab=claimable")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_claimable_rows_show_case_applicant_masked_level_and_due(app, cases) -> None:  # type: ignore[no-untyped-def]
    login(cases, "cy_intake")
    response = cases.get("/inbox")  # nothing claimed yet: the default tab is 可认领
    html = _html(response)
    assert response.status_code == 200
    assert_valid_html(html)
    assert 'aria-current="page">可认领' in html
    with _session(app) as session:
        applicants = session.execute(
            select(Person).where(Person.relation == "self").order_by(Person.id)).scalars().all()
    assert len(applicants) == 2
    for person in applicants:
        assert person.name in html and mask_id(person.id_number) in html
        assert person.id_number not in html  # never the full number in a list
    assert "HD-CY-HDZX-2026-000001" in html and "HD-CY-HDZX-2026-000002" in html
    assert "标准核对流程" in html and "<strong>受理初审</strong>" in html
    assert "县（市、区）级" in html
    # T0 is Monday 2026-11-23; 受理初审 has 2 working days
    assert '<time datetime="2026-11-25">2026-11-25</time>' in html and "剩余 2 个工作日" in html
    assert html.count("未认领") == 2 and len(_row_ids(html)) == 2


def test_other_roles_and_jurisdictions_see_nothing_to_claim(cases) -> None:  # type: ignore[no-untyped-def]
    for user in ("cy_reviewer", "ng_intake"):
        login(cases, user)
        html = _html(cases.get("/inbox?tab=claimable"))
        assert _row_ids(html) == [] and "暂无可认领的任务。" in html, user


def test_claim_and_release_redirect_back_keeping_the_filters(app, cases) -> None:  # type: ignore[no-untyped-def]
    login(cases, "cy_intake")
    first = _open_tasks(app)[0]
    back = "/inbox?tab=claimable&step=intake_check&sort=desc"
    response = _post(cases, f"/tasks/{first.id}/claim", {"next": back})
    assert response.status_code == 302 and response.headers["Location"] == back
    assert _task(app, first.id).assignee == "cy_intake"
    html = _html(cases.get(back))
    assert "已认领任务「受理初审」" in html and _row_ids(html) == [_open_tasks(app)[1].id]
    assert 'value="desc" selected' in html and 'value="intake_check" selected' in html
    mine = _html(cases.get("/inbox"))  # something claimed: the default tab is 我认领的
    assert 'aria-current="page">我认领的' in mine and _row_ids(mine) == [first.id]
    assert "李静（朝阳区核对中心）" in mine
    response = _post(cases, f"/tasks/{first.id}/release", {"next": "/inbox?tab=mine"})
    assert response.status_code == 302 and response.headers["Location"] == "/inbox?tab=mine"
    assert _task(app, first.id).assignee is None
    assert "已将任务「受理初审」" in _html(cases.get("/inbox?tab=mine"))


def test_claim_needs_the_csrf_token_and_ignores_foreign_redirects(app, cases) -> None:  # type: ignore[no-untyped-def]
    login(cases, "cy_intake")
    task = _open_tasks(app)[0]
    response = cases.post(f"/tasks/{task.id}/claim", data={"next": "/inbox"})
    assert response.status_code == 400 and _task(app, task.id).assignee is None
    response = _post(cases, f"/tasks/{task.id}/claim", {"next": "https://evil.example/"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert _task(app, task.id).assignee == "cy_intake"


def test_other_jurisdiction_gets_404_everywhere(app, cases) -> None:  # type: ignore[no-untyped-def]
    login(cases, "ng_intake")
    task = _open_tasks(app)[0]
    assert cases.get(f"/tasks/{task.id}").status_code == 404
    assert cases.get(f"/tasks/{task.id}/diagram").status_code == 404
    assert _post(cases, f"/tasks/{task.id}/claim").status_code == 404
    assert _post(cases, f"/tasks/{task.id}/complete", INTAKE_OK).status_code == 404
    assert cases.get("/tasks/no-such-task").status_code == 404
    assert _task(app, task.id).assignee is None


def test_a_conflicting_claim_is_a_flash_message_not_an_error_page(app, cases) -> None:  # type: ignore[no-untyped-def]
    task = _open_tasks(app)[0]
    login(cases, "cy_intake")
    _post(cases, f"/tasks/{task.id}/claim")
    login(cases, "cy_all")
    response = _post(cases, f"/tasks/{task.id}/claim", {"next": "/inbox?tab=claimable"})
    assert response.status_code == 302
    html = _html(cases.get("/inbox?tab=claimable"))
    assert "认领未成功：该任务已被他人认领" in html
    assert _task(app, task.id).assignee == "cy_intake"


def test_sd1_refusal_is_explained_and_recorded(app, cases) -> None:  # type: ignore[no-untyped-def]
    """cy_all holds every agency role; after 受理初审 the review of that case is not theirs to claim."""
    intake = _open_tasks(app)[0]
    _complete_as(app, intake.id, "cy_all", INTAKE_OK)
    [review] = _open_tasks(app, "review")
    login(cases, "cy_all")
    html = _html(cases.get("/inbox?tab=claimable"))
    assert review.id not in _row_ids(html) and len(_row_ids(html)) == 1  # only the other case's 受理初审
    response = _post(cases, f"/tasks/{review.id}/claim", {"next": "/inbox?tab=claimable"})
    assert response.status_code == 302
    html = _html(cases.get("/inbox?tab=claimable"))
    assert "认领未成功：您已办理本案的「受理初审」，不能再办理此步骤（SD-1：" in html
    response = _post(cases, f"/tasks/{review.id}/complete", {"decision": "accept"})
    assert response.status_code == 302 and response.headers["Location"] == f"/tasks/{review.id}"
    page = cases.get(f"/tasks/{review.id}")
    html = _html(page)
    assert page.status_code == 403 and "办理未成功：您已办理本案的「受理初审」" in html  # the flash
    assert '<p class="forbidden__reason" role="alert">您已办理本案的「受理初审」' in html and "SD-1" in html
    assert_valid_html(html)
    with _session(app) as session:
        refusals = session.execute(select(Event).where(Event.kind == "refused").order_by(Event.id)).scalars().all()
    assert [(e.actor, e.payload["action"], e.payload["rule"]) for e in refusals] == [
        ("cy_all", "claim", "SD-1"), ("cy_all", "complete", "SD-1")]
    assert _task(app, review.id).assignee is None and _task(app, review.id).status == HumanTaskStatus.OPEN
    login(cases, "cy_reviewer")
    assert review.id in _row_ids(_html(cases.get("/inbox?tab=claimable")))


def test_without_the_role_the_task_page_is_403(app, cases) -> None:  # type: ignore[no-untyped-def]
    login(cases, "cy_reviewer")
    task_id = _open_tasks(app)[0].id
    response = cases.get(f"/tasks/{task_id}")
    assert response.status_code == 403 and "不具备办理该任务的角色" in _html(response)
    response = cases.get(f"/tasks/{task_id}/diagram", headers={"Accept": "application/json"})
    assert response.status_code == 403 and response.json["error"] == "role_required"


# --- filters, sorting, pagination -------------------------------------------------------------------------


@pytest.fixture
def many(app, client):  # type: ignore[no-untyped-def]
    """2 households (the seed), 23 plain cases; the plain ones start a day later, so are due a working day later."""
    app.extensions["hedui"].clock.advance(timedelta(days=1))
    _seed(app, households=0, plain=23)
    login(client, "cy_intake")
    return client


def test_pages_of_twenty_are_stable_and_sorted_by_due_date(app, many) -> None:  # type: ignore[no-untyped-def]
    first = _html(many.get("/inbox?tab=claimable"))
    second = _html(many.get("/inbox?tab=claimable&page=2"))
    assert "共 25 项，第 1 / 2 页" in first and 'rel="next"' in first and 'rel="prev"' in second
    # the shared pager (macros/pager.html) keeps the list's filters in its links
    assert '<a href="/inbox?tab=claimable&amp;page=2" rel="next">下一页</a>' in first
    assert '<a href="/inbox?tab=claimable" rel="prev">上一页</a>' in second and "第 2 / 2 页" in second
    ids = _row_ids(first) + _row_ids(second)
    assert len(_row_ids(first)) == 20 and len(ids) == 25 and len(set(ids)) == 25
    expected = [t.id for t in sorted(_open_tasks(app), key=lambda t: (t.due_at, t.created_at, t.instance_id, t.id))]
    assert ids == expected
    assert "HD-CY-HDZX-2026-000001" in first and '<span class="muted">—</span>' in first  # plain: no applicant
    desc = _row_ids(_html(many.get("/inbox?tab=claimable&sort=desc"))) + _row_ids(
        _html(many.get("/inbox?tab=claimable&sort=desc&page=2")))
    assert desc == list(reversed(expected))
    last = _html(many.get("/inbox?tab=claimable&page=99"))  # past the end: the last page
    assert _row_ids(last) == _row_ids(second)
    assert _row_ids(_html(many.get("/inbox?tab=claimable&page=abc&sort=sideways"))) == _row_ids(first)


def test_filters_by_process_step_and_due_state(app, many, clock) -> None:  # type: ignore[no-untyped-def]
    assert len(_row_ids(_html(many.get("/inbox?tab=claimable&process=standard_verification&page=2")))) == 5
    assert _row_ids(_html(many.get("/inbox?tab=claimable&process=other_process"))) == []
    assert "没有符合筛选条件的任务。" in _html(many.get("/inbox?tab=claimable&step=review"))
    soon = _html(many.get("/inbox?tab=claimable&due=soon"))
    assert "共 25 项" in soon  # due Wednesday / Thursday: within 2 working days of Tuesday
    assert "共 0 项" in _html(many.get("/inbox?tab=claimable&due=overdue"))
    clock.advance(timedelta(days=2))  # Thursday 2026-11-26: the households' tasks were due Wednesday
    login(many, "cy_intake")  # the session expired meanwhile
    overdue = _html(many.get("/inbox?tab=overdue"))
    assert "共 2 项" in overdue and "已超期 1 个工作日" in overdue and "inbox-row--overdue" in overdue
    assert "共 2 项" in _html(many.get("/inbox?tab=claimable&due=overdue"))
    ontime = _html(many.get("/inbox?tab=claimable&due=ontime"))
    assert "共 23 项" in ontime and ontime.count("今日到期") == 20
    clock.advance(timedelta(days=4))  # Monday 2026-11-30: two working days after Thursday
    login(many, "cy_intake")
    first, second = (_html(many.get(f"/inbox?tab=overdue&page={n}")) for n in (1, 2))
    assert first.count("已超期 3 个工作日") == 2  # due Wednesday: Thu, Fri, Mon
    assert second.count("已超期 2 个工作日") == 5  # due Thursday: Fri, Mon
    assert re.search(r"已超期\s*<span class=\"tabs__count tabs__count--alert\">25</span>", _html(many.get("/inbox")))


def test_the_list_costs_the_same_few_queries_for_2_or_20_rows(app, many) -> None:  # type: ignore[no-untyped-def]
    engine = app.extensions["hedui"].db_engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    many.get("/inbox?tab=claimable")  # warm caches (calendar year, definitions)
    counts = []
    for url in ("/inbox?tab=claimable&page=2&step=intake_check", "/inbox?tab=claimable"):
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert many.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        counts.append(len([s for s in statements if s.lstrip().upper().startswith("SELECT")]))
    assert counts[0] == counts[1] and counts[1] <= 12, statements


def test_invalid_query_values_fall_back_to_defaults() -> None:
    assert load_filter({"tab": "bogus", "page": "-3", "sort": "up", "due": "never"}) == InboxFilter()
    assert load_filter({"tab": "done", "page": "2", "process": " p "}) == InboxFilter(tab="done", page=2, process="p")
    assert InboxFilter(tab="mine", page=1, sort="desc").args(page=3) == {"tab": "mine", "page": 3, "sort": "desc"}


# --- the task page ----------------------------------------------------------------------------------------


def _claimed(app, client, user: str = "cy_intake") -> HumanTask:  # type: ignore[no-untyped-def]
    login(client, user)
    task = _open_tasks(app)[0]
    assert _post(client, f"/tasks/{task.id}/claim").status_code == 302
    return task


def test_task_page_shows_form_case_history_and_diagram_container(app, cases) -> None:  # type: ignore[no-untyped-def]
    task = _claimed(app, cases)
    response = cases.get(f"/tasks/{task.id}")
    html = _html(response)
    assert response.status_code == 200
    assert_valid_html(html)
    assert "<legend>初审结论" in html and 'id="f-decision-accept"' in html and 'id="f-decision-return"' in html
    assert 'type="checkbox" id="f-materials_complete"' in html and "纸质材料与电子数据包一致" in html
    assert '<textarea id="f-reason" name="reason"' in html and 'maxlength="2000"' in html
    assert "办理说明：" in html and "审核纸质委托材料" in html
    with _session(app) as session:
        persons = session.execute(
            select(Person).join(Household, Household.id == Person.household_id)
            .join(WorkflowInstance, WorkflowInstance.business_key == Household.case_no)
            .where(WorkflowInstance.id == task.instance_id)).scalars().all()
    assert len(persons) == 6
    for person in persons:
        assert mask_id(person.id_number) in html and person.id_number not in html
    assert "红旗街道民政办" in html and "朝阳区社会救助家庭经济状况核对中心" in html
    assert "收到委托" in html and "认领任务" in html  # the history
    assert "剩余 2 个工作日" in html and "由我办理中" in html and "退回待认领" in html
    assert 'id="bpmn-diagram"' in html and "vendor/bpmn-navigated-viewer.production.min.js" in html
    with _session(app) as session:
        viewed = session.execute(select(Event).where(Event.kind == "personal_data_viewed")).scalars().all()
    assert [(e.actor, e.payload["via"], e.payload["task_id"]) for e in viewed] == [("cy_intake", "web", task.id)]


def test_diagram_data_is_the_pinned_xml_with_progress(app, cases) -> None:  # type: ignore[no-untyped-def]
    task = _claimed(app, cases)
    data = cases.get(f"/tasks/{task.id}/diagram").json
    assert data["process_id"] == "standard_verification" and data["version"] == 1
    assert data["xml"].startswith("<?xml") and 'id="intake_check"' in data["xml"]
    assert data["current"] == "intake_check" and data["active"] == ["intake_check"]
    assert {"start", "apply_defaults", "gw_entry"} <= set(data["completed"]) and "intake_check" not in data["completed"]


def test_unclaimed_task_page_offers_the_claim_button(app, cases) -> None:  # type: ignore[no-untyped-def]
    login(cases, "cy_intake")
    task = _open_tasks(app)[0]
    html = _html(cases.get(f"/tasks/{task.id}"))
    assert "请先认领此任务" in html and f'action="/tasks/{task.id}/claim"' in html
    assert f'action="/tasks/{task.id}/complete"' not in html


def test_form_errors_are_inline_in_chinese_and_values_are_kept(app, cases) -> None:  # type: ignore[no-untyped-def]
    task = _claimed(app, cases)
    response = _post(cases, f"/tasks/{task.id}/complete", {"decision": "accept", "reason": "材料已核",
                                                            "materials_complete": "on"})
    html = _html(response)
    assert response.status_code == 422
    assert_valid_html(html)
    assert "表单填写有误，请按提示修改后重新提交" in html
    assert 'id="f-paper_electronic_consistent-error">受理前须确认纸质材料与电子数据包一致' in html
    assert 'value="accept" checked' in html and ">材料已核</textarea>" in html
    assert 'id="f-materials_complete" name="materials_complete" value="on" checked' in html
    assert _task(app, task.id).status == HumanTaskStatus.OPEN
    response = _post(cases, f"/tasks/{task.id}/complete", {"decision": "return"})
    assert response.status_code == 422 and "退回或终止时必须填写理由" in _html(response)
    response = _post(cases, f"/tasks/{task.id}/complete", {**{k: "on" for k in INTAKE_OK if k != "decision"},
                                                            "decision": "accept", "reason": ""})
    assert response.status_code == 302 and response.headers["Location"] == "/inbox?tab=done"
    assert _task(app, task.id).completed_by == "cy_intake"
    done = _html(cases.get("/inbox?tab=done"))
    assert "已办结任务「受理初审」" in done and _row_ids(done) == [task.id] and "按期办结" in done
    assert 'aria-current="page">我已办结' in done
    assert cases.get(f"/tasks/{task.id}").status_code == 200  # the completer may look back
    login(cases, "cy_reviewer")
    assert len(_row_ids(_html(cases.get("/inbox?tab=claimable")))) == 1


def test_only_the_claimant_completes(app, cases) -> None:  # type: ignore[no-untyped-def]
    task = _claimed(app, cases, "cy_intake")
    login(cases, "cy_all")
    html = _html(cases.get(f"/tasks/{task.id}"))
    assert "此任务已由 李静（朝阳区核对中心） 认领" in html
    response = _post(cases, f"/tasks/{task.id}/complete", {"decision": "accept"})
    assert response.status_code == 302 and response.headers["Location"] == f"/tasks/{task.id}"
    assert "办理未成功：该任务已被他人认领" in _html(cases.get(f"/tasks/{task.id}"))


def test_home_page_links_to_the_inbox_with_counts(app, cases) -> None:  # type: ignore[no-untyped-def]
    login(cases, "cy_intake")
    html = _html(cases.get("/"))
    assert "可认领：2 项" in html and 'href="/inbox"' in html and 'href="/inbox?tab=claimable"' in html


# --- the form description ---------------------------------------------------------------------------------


def test_widgets_follow_the_schema_fields() -> None:
    intake = task_form("intake_check", {"allowedDecisions": "accept,return"}, "受理初审")
    widgets = {f.name: (f.widget, f.required) for f in intake.fields}
    assert widgets == {"decision": ("radio", True), "reason": ("textarea", False),
                       "materials_complete": ("checkbox", False), "paper_electronic_consistent": ("checkbox", False)}
    review = task_form("review", {"allowedDecisions": "accept,terminate"}, "审核复审")
    assert [c for c, _ in review.fields[0].choices] == ["accept", "terminate"]
    feedback = {f.name: f.widget for f in task_form("decision_feedback", {}, "").fields}
    assert feedback == {"assistance_decision": "radio", "decided_on": "date", "decision_document_no": "text",
                        "note": "textarea", "notified_on": "date"}
    supplemented = task_form("materials_supplemented", {}, "")
    assert {f.name: f.widget for f in supplemented.fields}["supplemented_items"] == "lines"
    assert task_form(None, {}, "确认").fields == () and task_form("no_such_form", {}, "X").title == "X"


def test_posted_values_become_plain_data() -> None:
    from werkzeug.datastructures import MultiDict

    form = task_form("street_material_check", {}, "")
    posted = MultiDict({"decision": "incomplete", "missing_items": " 户口簿 \n\n身份证复印件\n", "remark": "  ",
                        "originals_captured": "on", "csrf_token": "x"})
    assert submitted_data(form, posted) == {"decision": "incomplete", "missing_items": ["户口簿", "身份证复印件"],
                                            "originals_captured": True}
    assert field_messages({"missing_items": {0: ["每项 1–200 字"]}, "_schema": ["x"]}) == {
        "missing_items": ["第 1 项：每项 1–200 字"], "_schema": ["x"]}
