"""核对报告 ``/reports/`` and ``GET /api/v1/reports``: the reports issued in the reader's jurisdiction (DO-7, DO-8).

Readers are report officers, supervisors and auditors (OR-3: by the jurisdiction of those memberships); an
officer of another county sees nothing of ours; filters by period, state, kind and text; paged with the
project's pager (web) and cursor (API); ID numbers masked (PR-4); a superseded report shown as such; bad
filters answered with the field's Chinese message, the values kept, nothing listed; an auditor's read is in
the access log (SEC-12, AU-1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.calendar import SHANGHAI
from engine.context import Actor
from engine.history import SYSTEM_STREAM
from engine.models import Event
from engine.models import User
from engine.models.case import Household
from engine.models.report import Report
from engine.reports.service import supersede
from engine.services.org import get_unit_by_code
from engine.services.org import grant_role
from forms.ids import mask_id
from tests.engine.archive_factory import seed
from tests.engine.archive_factory import seeded
from tests.web.demo_world import ID_NUMBER
from tests.web.test_api_tasks import _token
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import logout

#: the demo region, the diagrams and the four demo cases, seeded once for the module
SEED_ONCE = seed

ADMIN = Actor("admin", "admin")


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    """The demo region and cases (one closed case with its report, issued by 赵丽 of 朝阳区核对中心)."""
    ctx = app.extensions["hedui"].new_context()
    households = seeded(ctx)
    report = ctx.session.execute(select(Report)).scalar_one()
    household = next(h for h in households if h.case_no == report.case_no)
    applicant = household.applicant
    assert applicant is not None and applicant.id_number
    out = {"report_id": report.id, "number": report.number, "case_no": report.case_no, "name": applicant.name,
           "id_number": applicant.id_number, "numbers": [p.id_number for h in households for p in h.persons
                                                         if p.id_number]}
    ctx.session.commit()
    ctx.session.close()
    return out


def _grant(app: Any, username: str, unit: str, role: str) -> None:
    ctx = app.extensions["hedui"].new_context()
    user = ctx.session.execute(select(User).where(User.username == username)).scalar_one()
    grant_role(ctx, user, get_unit_by_code(ctx, unit), role, actor=ADMIN)
    ctx.session.commit()
    ctx.session.close()


def _correct(app: Any, report_id: int) -> tuple[str, str]:
    """Issue a correction of the report: (old number, new number)."""
    ctx = app.extensions["hedui"].new_context()
    old = ctx.session.get(Report, report_id)
    assert old is not None
    new = supersede(ctx, old, actor=Actor("cy_reporter", "report_officer"), reason="更正附表二反馈时间")
    numbers = (old.number, new.number)
    ctx.session.commit()
    ctx.session.close()
    return numbers


def _page(client: Any, query: str = "", status: int = 200) -> str:
    response = client.get(f"/reports/{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[:500]
    assert_valid_html(html)
    return html


def _rows(html: str) -> int:
    return html.count("data-report-id=")


def test_a_report_officer_lists_the_agencys_reports_masked_with_links(app: Any, client: Any, world: dict) -> None:
    login(client, "cy_reporter")
    home = client.get("/").get_data(as_text=True)
    assert 'href="/reports/"' in home and ">核对报告</a>" in home
    html = _page(client)
    assert _rows(html) == 1 and world["number"] in html
    assert f'href="/cases/{world["case_no"]}/reports/{world["report_id"]}"' in html
    assert f'href="/cases/{world["case_no"]}"' in html
    assert f'href="/cases/{world["case_no"]}/reports/{world["report_id"]}.pdf"' in html  # 赵丽 has a duty
    assert world["name"] in html and mask_id(world["id_number"]) in html
    assert all(number not in html for number in world["numbers"]) and not ID_NUMBER.search(html)  # PR-4
    assert "赵丽（朝阳区核对中心）" in html and 'data-report-status="有效"' in html and "核对报告 · 朝阳区" in html
    assert "cy_reporter" not in html.split("</header>", 1)[1]  # people by name


@pytest.mark.parametrize(("username", "rows"), [("cy_supervisor", 1), ("auditor", 1), ("cc_reporter", 1),
                                                 ("cy_mzj_head", 1), ("jl_reporter", 1)])
def test_supervisors_auditors_and_upper_agencies_read_the_reports_of_their_jurisdiction(
        app: Any, client: Any, world: dict, username: str, rows: int) -> None:
    """OR-3: the unit's supervisor, the province's auditor, the city and province agencies' report officers (their
    regions hold 朝阳区); without a duty on the case, no PDF link (its download would be 403)."""
    login(client, username)
    html = _page(client)
    assert _rows(html) == rows and world["number"] in html
    assert f'{world["report_id"]}.pdf"' not in html


def test_an_officer_of_another_office_sees_nothing_of_ours(app: Any, client: Any, world: dict) -> None:
    _grant(app, "ng_reviewer", "NG-HDZX", "report_officer")
    login(client, "ng_reviewer")
    html = _page(client)
    assert _rows(html) == 0 and world["number"] not in html and "没有符合条件的核对报告" in html
    headers = _token(client, "ng_reviewer")
    assert client.get("/api/v1/reports", headers=headers).json == {"items": [], "next_cursor": None}


def test_only_the_reading_roles_see_the_page_and_its_menu(app: Any, client: Any, world: dict) -> None:
    """A reading role elsewhere gives no jurisdiction here: only memberships in a reading role count."""
    for username in ("cy_intake", "hq_street_clerk", "cy_exchange_1", "designer"):
        login(client, username)
        assert 'href="/reports/"' not in client.get("/").get_data(as_text=True), username
        refused = client.get("/reports/")
        assert refused.status_code == 403 and "报告出具人员、科室负责人和审计监督员" in refused.get_data(as_text=True)
        assert client.get("/api/v1/reports", headers=_token(client, username)).status_code == 403
        logout(client)
    _grant(app, "cy_intake", "NG-HDZX", "report_officer")  # reads for 南关区 only, though an intake officer here
    login(client, "cy_intake")
    assert _rows(_page(client)) == 0


def test_a_superseded_report_is_shown_with_its_correction_and_the_state_filter(app: Any, client: Any,
                                                                            world: dict) -> None:
    old, new = _correct(app, world["report_id"])
    login(client, "cy_reporter")
    html = _page(client)
    assert _rows(html) == 2 and html.index(new) < html.index(old)  # newest first
    assert 'data-report-status="已被替代"' in html and f"更正报告 {new}" in html
    superseded = _page(client, "?state=superseded")
    assert _rows(superseded) == 1 and 'data-report-status="已被替代"' in superseded
    valid = _page(client, "?state=valid")
    assert _rows(valid) == 1 and 'data-report-status="有效"' in valid
    assert _rows(_page(client, "?state=expired")) == 0
    assert _rows(_page(client, "?kind=verification")) == 2 and _rows(_page(client, "?kind=reverification")) == 0


def test_a_report_past_its_year_is_listed_as_expired(app: Any, client: Any, world: dict, clock: Any) -> None:
    """DO-10, LOC-27: valid one year; the state is today's (engine clock), filtered in SQL."""
    clock.set(datetime(2027, 12, 1, 9, 0, tzinfo=SHANGHAI))
    login(client, "cy_reporter")
    expired = _page(client, "?state=expired")
    assert _rows(expired) == 1 and 'data-report-status="已过期"' in expired
    assert _rows(_page(client, "?state=valid")) == 0


def test_the_period_and_text_filters(app: Any, client: Any, world: dict) -> None:
    login(client, "cy_reporter")
    assert _rows(_page(client, "?issued_from=2026-11-23&issued_to=2026-11-23")) == 1  # issued on the demo day
    assert _rows(_page(client, "?issued_from=2026-11-24")) == 0
    assert _rows(_page(client, "?issued_to=2026-11-22")) == 0
    for text in (world["number"][:6], world["case_no"][-6:], world["case_no"].lower(), world["name"][:1]):
        assert _rows(_page(client, f"?q={text}")) == 1, text
    assert _rows(_page(client, "?q=%25")) == 0  # a LIKE wildcard is a character, not "anything"
    assert _rows(_page(client, "?q=不存在的人")) == 0


def test_pages_of_the_list_use_the_pager_and_keep_the_filters(app: Any, client: Any, world: dict,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = _correct(app, world["report_id"])
    monkeypatch.setattr("web.report_list.views.PAGE_SIZE", 1)
    login(client, "cy_reporter")
    first = _page(client, "?kind=verification")
    assert _rows(first) == 1 and new in first and "第 1 / 2 页" in first
    assert 'href="/reports/?kind=verification&amp;page=2" rel="next"' in first
    second = _page(client, "?kind=verification&page=2")
    assert _rows(second) == 1 and old in second and 'rel="prev"' in second
    assert old in _page(client, "?kind=verification&page=99")  # past the end: the last page
    assert new in _page(client, "?page=abc")


@pytest.mark.parametrize(("query", "field", "message"), [
    ("issued_from=2026-02-30", "issued_from", "应为日期（YYYY-MM-DD）"),
    ("issued_from=2026-11-24&issued_to=2026-11-01", "issued_to", "截止日期不能早于起始日期"),
    ("state=zz", "state", "请从列表中选择"),
    ("kind=%3Cscript%3E", "kind", "请从列表中选择"),
    ("q=" + "长" * 61, "q", "不能超过 60 个字符"),
    ("q=a%01b", "q", "含有不允许的控制字符"),
])
def test_bad_filters_say_why_keep_the_values_and_list_nothing(app: Any, client: Any, world: dict, query: str,
                                                               field: str, message: str) -> None:
    login(client, "cy_reporter")
    html = _page(client, f"?{query}", status=422)
    assert message in html and "筛选条件有误" in html and _rows(html) == 0 and "<script>" not in html
    if field in ("issued_from", "issued_to"):
        value = query.split(f"{field}=")[1].split("&")[0]
        assert f'value="{value}"' in html  # kept as typed


def test_an_id_number_is_refused_and_not_shown_back(app: Any, client: Any, world: dict) -> None:
    login(client, "cy_reporter")
    html = _page(client, f"?q={world['id_number']}", status=422)
    assert "请在「案件查询」中按身份证号码查询" in html and world["id_number"] not in html
    assert f'value="{mask_id(world["id_number"])}"' in html
    response = client.get(f"/api/v1/reports?q={world['id_number']}", headers=_token(client, "cy_reporter"))
    assert response.status_code == 422 and response.json["error"] == "id_number_in_query"
    assert world["id_number"] not in response.get_data(as_text=True)


def test_the_api_lists_with_filters_and_a_cursor(app: Any, client: Any, world: dict) -> None:
    old, new = _correct(app, world["report_id"])
    headers = _token(client, "cy_supervisor")
    first = client.get("/api/v1/reports?limit=1", headers=headers)
    assert first.status_code == 200, first.json
    [item] = first.json["items"]
    assert (item["number"], item["status"], item["kind"], item["case_no"]) == (new, "有效", "verification",
                                                                               world["case_no"])
    assert item["applicant_name"] == world["name"] and item["applicant_id_masked"] == mask_id(world["id_number"])
    assert item["issued_by"] == "cy_reporter" and item["agency"] == "朝阳区社会救助家庭经济状况核对中心"
    cursor = first.json["next_cursor"]
    second = client.get(f"/api/v1/reports?limit=1&cursor={cursor}", headers=headers).json
    assert [i["number"] for i in second["items"]] == [old] and second["next_cursor"] is None
    assert second["items"][0]["superseded_by"] == new and second["items"][0]["status"] == "已被替代"
    assert second["items"][0]["state"] == "superseded"  # the code the state filter takes
    only = client.get("/api/v1/reports?state=superseded&issued_from=2026-11-23", headers=headers).json["items"]
    assert [i["number"] for i in only] == [old]
    bad = client.get("/api/v1/reports?state=zz&issued_to=2026-13-01", headers=headers)
    assert bad.status_code == 422 and bad.json["error"] == "validation_error"
    assert set(bad.json["details"]["fields"]) == {"state", "issued_to"}
    assert client.get("/api/v1/reports?page=2", headers=headers).status_code == 422  # not a parameter here


def _list_reads(app: Any) -> list[Event]:
    with app.extensions["hedui"].session_factory() as session:
        return list(session.execute(select(Event).where(
            Event.stream == SYSTEM_STREAM, Event.kind == "personal_data_viewed").order_by(Event.seq)).scalars())


def test_an_auditors_reads_are_in_the_access_log_and_nobody_elses(app: Any, client: Any, world: dict) -> None:
    login(client, "cy_reporter")
    _page(client)
    assert _list_reads(app) == []
    logout(client)
    login(client, "auditor")
    _page(client, f"?q={world['name']}")
    _page(client, "?state=zz", status=422)  # refused: nothing listed, nothing recorded
    client.get("/api/v1/reports?kind=verification", headers=_token(client, "auditor"))
    web, api = _list_reads(app)
    assert (web.actor, web.actor_role, api.actor) == ("auditor", "auditor", "auditor")
    assert web.payload["page"] == "reports" and web.payload["case_nos"] == [world["case_no"]]
    assert (web.payload["via"], api.payload["via"], api.payload["filters"]["kind"]) == ("web", "api", "verification")
    assert web.payload["filters"]["text_given"] is True and world["name"] not in str(web.payload)  # no name kept
    log = client.get(f"/audit/access?case={world['case_no']}").get_data(as_text=True)
    assert "页面：reports" in log


def test_the_openapi_document_lists_the_route(client: Any) -> None:
    operation = client.get("/api/v1/openapi.json").json["paths"]["/reports"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert names == {"issued_from", "issued_to", "state", "kind", "q", "limit", "cursor"}
    assert {"403", "422"} <= set(operation["responses"])


def test_the_demo_lists_its_reports_and_the_recheck_report_by_kind(demo_app: Flask) -> None:
    """The seeded demo (``make run``): its 复核报告 is found by kind and links its case (SQLite)."""
    client = demo_app.test_client()
    login(client, "cy_reporter")
    all_rows = _page(client)
    review = _page(client, "?kind=reverification")
    assert _rows(all_rows) >= 2 and _rows(review) >= 1 and "复核报告 · " in review
    with demo_app.extensions["hedui"].session_factory() as session:
        review_case = session.execute(select(Report.case_no).where(Report.kind == "reverification")).scalars().first()
        numbers = [n for n in session.execute(select(Household.case_no)).scalars()]
    assert review_case in review and review_case in numbers
    assert not ID_NUMBER.search(all_rows)
