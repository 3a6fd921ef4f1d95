"""The case's statutory deadline where people see it (PS-10, AU-4): the case page's 核对期限, the search's
deadline column and 仅显示逾期 filter, and the API's ``due_at`` / ``overdue``.

Cases start on Monday 23 November 2026 09:00 (the fake clock); a county case's 10 working days end on
Monday 7 December 2026, 23:59:59 Beijing time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from engine.context import Actor
from engine.models import WorkflowInstance
from engine.services.messages import deliver_message
from tests.web.test_api_cases import _complete
from tests.web.test_api_cases import _subscriptions
from tests.web.test_api_tasks import _token
from tests.web.test_cases_pages import APPLICANT_ID
from tests.web.test_cases_pages import make_case
from tests.web.test_intake import post
from tests.web.test_intake import setup_demo
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login

SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE_TODAY = datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
TWO_DAYS_LATE = datetime(2026, 12, 9, 10, 0, tzinfo=SHANGHAI)


def _facts(client: Any, case_no: str) -> str:
    html = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert_valid_html(html)
    assert "<dt>核对期限</dt>" in html and "2026-12-07 23:59（北京时间）" in html
    return html


def _instance(ctx: Any, case_no: str) -> WorkflowInstance:
    return ctx.session.execute(select(WorkflowInstance).where(WorkflowInstance.business_key == case_no)).scalar_one()


def _verify(app: Any, case_no: str) -> None:
    """Walk the case to 出具核对报告 (the deadline is met there; the entrusting unit's 反馈 may follow later)."""
    ctx = app.extensions["hedui"].new_context()
    instance = _instance(ctx, case_no)
    _complete(ctx, instance, "intake_check", {"decision": "accept", "materials_complete": True,
                                              "paper_electronic_consistent": True}, "cy_intake")
    _complete(ctx, instance, "review", {"decision": "accept"}, "cy_reviewer")
    _complete(ctx, instance, "prepare_exchange", {"batch_checked": True}, "cy_exchange_1")
    for unit in sorted({s.correlation_key.split(":", 1)[1] for s in _subscriptions(ctx, instance)}):
        deliver_message(ctx, "exchange_result", f"{case_no}:{unit}", {"result_id": 1}, actor=Actor(f"unit:{unit}"))
    _complete(ctx, instance, "confirm_exchange", {"statuses_checked": True}, "cy_exchange_2")
    _complete(ctx, instance, "issue_report", {"report_no": "朝核报〔2026〕1号"}, "cy_reporter")
    ctx.session.commit()


def _return_at_intake(app: Any, case_no: str) -> None:
    ctx = app.extensions["hedui"].new_context()
    _complete(ctx, _instance(ctx, case_no), "intake_check", {"decision": "return", "reason": "授权书缺少签名"},
              "cy_intake")
    ctx.session.commit()


def _at(client: Any, clock: Any, when: datetime, username: str = "cy_intake") -> None:
    """Travel in time and sign in afresh (a session does not outlive the jump)."""
    clock.set(when)
    client._cookies.clear()
    login(client, username)


def test_the_case_page_counts_the_deadline_in_working_days(app, client, clock) -> None:  # type: ignore[no-untyped-def]
    setup_demo(app)
    case_no = make_case(app)
    login(client, "cy_intake")
    assert "还剩 10 个工作日" in _facts(client, case_no)
    _at(client, clock, DUE_TODAY)
    assert "今日到期" in _facts(client, case_no)
    _at(client, clock, TWO_DAYS_LATE)
    assert "已逾期 2 个工作日" in _facts(client, case_no)


def test_a_finished_case_says_whether_it_kept_the_deadline(app, client, clock) -> None:  # type: ignore[no-untyped-def]
    setup_demo(app)
    in_time, late, returned = make_case(app, 0), make_case(app, 1), make_case(app, 2)
    _verify(app, in_time)
    _return_at_intake(app, returned)
    clock.set(TWO_DAYS_LATE)
    _verify(app, late)
    _at(client, clock, TWO_DAYS_LATE)
    assert "已于期限内完成" in _facts(client, in_time)
    assert "逾期完成" in _facts(client, late) and "已逾期" not in _facts(client, late)
    assert "已于期限内完成" in _facts(client, returned)  # the process ended: nothing left to be late for


def test_the_search_shows_deadlines_and_filters_overdue_cases(app, client, clock) -> None:  # type: ignore[no-untyped-def]
    setup_demo(app)
    done, open_case = make_case(app), make_case(app)  # the same household entrusted twice
    _verify(app, done)
    _at(client, clock, TWO_DAYS_LATE)
    search = {"q": APPLICANT_ID, "purpose": "duplicate_check"}
    html = post(client, "/cases/search", search).get_data(as_text=True)
    assert_valid_html(html)
    assert f'href="/cases/{done}"' in html and f'href="/cases/{open_case}"' in html
    assert "<th scope=\"col\">核对期限</th>" in html and "已逾期 2 个工作日" in html and "已于期限内完成" in html
    html = post(client, "/cases/search", {**search, "overdue_only": "yes"}).get_data(as_text=True)
    assert_valid_html(html)
    assert f'href="/cases/{open_case}"' in html and f'href="/cases/{done}"' not in html
    assert 'name="overdue_only" value="yes" checked' in html
    _at(client, clock, datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI))  # before the deadline nothing is overdue
    html = post(client, "/cases/search", {**search, "overdue_only": "yes"}).get_data(as_text=True)
    assert "没有逾期未办结的" in html and f'href="/cases/{open_case}"' not in html


def test_the_api_case_detail_has_due_at_and_overdue(app, client, clock) -> None:  # type: ignore[no-untyped-def]
    setup_demo(app)
    case_no, finished = make_case(app, 0), make_case(app, 1)
    headers = _token(client, "cy_intake")
    body = client.get(f"/api/v1/cases/{case_no}", headers=headers).json
    assert body["due_at"] == "2026-12-07T15:59:59.999999+00:00" and body["overdue"] is False
    _verify(app, finished)
    clock.set(TWO_DAYS_LATE)
    headers = _token(client, "cy_intake")
    assert client.get(f"/api/v1/cases/{case_no}", headers=headers).json["overdue"] is True
    assert client.get(f"/api/v1/cases/{finished}", headers=headers).json["overdue"] is False
    schema = client.get("/api/v1/openapi.json").json["paths"]["/cases/{case_no}"]["get"]
    properties = schema["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    assert {"due_at", "overdue"} <= set(properties)


def test_clerk_sees_the_deadline_too(app, client) -> None:  # type: ignore[no-untyped-def]
    setup_demo(app)
    case_no = make_case(app)
    login(client, "hq_street_clerk")
    assert "还剩 10 个工作日" in _facts(client, case_no)  # the entrusting unit reads the agency's deadline


def _search_statements(app: Any, client: Any, search: dict[str, str]) -> tuple[list[str], str]:
    from sqlalchemy import event

    engine = app.extensions["hedui"].db_engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = post(client, "/cases/search", search)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return statements, response.get_data(as_text=True)


def test_the_search_costs_the_same_queries_for_1_or_4_rows(app, client, clock) -> None:  # type: ignore[no-untyped-def]
    """The 核对期限 column is computed for all rows at once: the statement count does not grow with the rows,
    and the texts are those of each case (one finished in time, the new ones with their 10 working days)."""
    setup_demo(app)
    done = make_case(app)
    _verify(app, done)
    _at(client, clock, TWO_DAYS_LATE)
    search = {"q": APPLICANT_ID, "purpose": "duplicate_check"}
    post(client, "/cases/search", search)  # warm caches (calendar year, definitions)
    one, html = _search_statements(app, client, search)
    assert html.count('href="/cases/HD-') == 1 and "已于期限内完成" in html
    for _ in range(3):  # the same household entrusted again: three more open cases, started today
        make_case(app)
    four, html = _search_statements(app, client, search)
    assert_valid_html(html)
    assert html.count('href="/cases/HD-') == 4, html
    assert html.count("还剩 10 个工作日") == 3 and html.count("已于期限内完成") == 1
    assert len(four) == len(one), (one, four)
