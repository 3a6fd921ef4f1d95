"""Reports in the browser-facing UI and the API (DO-7, DO-10, RPT-06, OR-3, SEC-12).

The case page lists the case's reports; the report page shows the cover and the annex tables with
masked ID numbers; the PDF download and the print are recorded and counted; the API lists reports
with ``expired`` and serves the PDF, both within the jurisdiction only; an expired report is flagged.
"""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import func
from sqlalchemy import select

from engine.calendar import SHANGHAI
from engine.models import Event
from engine.models import HumanTask
from engine.models.report import Report
from tests.engine.archive_factory import seed
from tests.engine.archive_factory import seeded
from tests.web.test_api_tasks import _token
from tests.web.test_intake import post
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import logout

#: the demo region, the diagrams and the four demo cases, seeded once for the module
SEED_ONCE = seed


@pytest.fixture
def case_no(app) -> str:  # type: ignore[no-untyped-def]
    """The closed demo case, which has its report."""
    ctx = app.extensions["hedui"].new_context()
    numbers = [h.case_no for h in seeded(ctx)]
    ctx.session.commit()
    ctx.session.close()
    return numbers[3]


def _report(app) -> Report:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        report = session.execute(select(Report)).scalar_one()
        session.expunge(report)
        return report


def _kinds(app) -> list[str]:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        return list(session.execute(select(Event.kind).where(Event.kind.like("report_%"))
                                    .order_by(Event.seq)).scalars())


def test_case_page_lists_reports_and_the_report_page_shows_cover_and_annexes(app, client, case_no) -> None:  # type: ignore[no-untyped-def]
    report = _report(app)
    login(client, "cy_reporter")
    case_page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert_valid_html(case_page)
    assert f'href="/cases/{case_no}/reports/{report.id}"' in case_page and report.number in case_page
    assert 'data-report-status="有效"' in case_page
    response = client.get(f"/cases/{case_no}/reports/{report.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_valid_html(html)
    for expected in ("居民家庭（个人）经济状况核对报告", f"编号：{report.number}", "红旗街道民政办：",
                     "仅作为相关业务部门作出行政审批决定的参考，不作其他用途", "核对结果明细详见附表。",
                     "附表一", "附表二", "附表三", "有数据", "无记录", "已下载 0 次", "已打印 0 次"):
        assert expected in html, expected
    with app.extensions["hedui"].session_factory() as session:
        from engine.models.case import Household

        household = session.execute(select(Household).where(Household.case_no == case_no)).scalar_one()
        numbers = [p.id_number for p in household.persons if p.id_number]
    assert numbers and all(n not in html for n in numbers)  # masked on the page
    for word in ("符合", "建议"):
        assert word not in html[html.index("report-paper"):]
    assert _kinds(app) == ["report_issued", "report_viewed"]


def test_download_and_print_are_recorded_and_counted(app, client, case_no) -> None:  # type: ignore[no-untyped-def]
    report = _report(app)
    login(client, "cy_reporter")
    download = client.get(f"/cases/{case_no}/reports/{report.id}.pdf")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]
    first = post(client, f"/cases/{case_no}/reports/{report.id}/print", {})
    second = post(client, f"/cases/{case_no}/reports/{report.id}/print", {})
    assert (first.headers["X-Hedui-Print-No"], second.headers["X-Hedui-Print-No"]) == ("1", "2")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(second.data)).pages)
    assert "第2次打印" in text and "赵丽" in text
    page = client.get(f"/cases/{case_no}/reports/{report.id}").get_data(as_text=True)
    assert "已下载 1 次" in page and "已打印 2 次" in page
    assert _kinds(app) == ["report_issued", "report_downloaded", "report_printed", "report_printed", "report_viewed"]


def test_outside_the_jurisdiction_a_report_does_not_exist(app, client, case_no) -> None:  # type: ignore[no-untyped-def]
    report = _report(app)
    login(client, "ng_intake")
    assert client.get(f"/cases/{case_no}/reports/{report.id}").status_code == 404
    assert client.get(f"/cases/{case_no}/reports/{report.id}.pdf").status_code == 404
    logout(client)
    headers = _token(client, "ng_intake")
    assert client.get(f"/api/v1/cases/{case_no}/reports", headers=headers).status_code == 404
    assert client.get(f"/api/v1/reports/{report.id}.pdf", headers=headers).status_code == 404
    assert client.get("/api/v1/reports/999999.pdf", headers=headers).status_code == 404


def test_api_lists_reports_and_flags_an_expired_one(app, client, case_no, clock) -> None:  # type: ignore[no-untyped-def]
    """AR-2: the 核对报告 passes to the assistance system electronically (listed, and served as PDF)."""
    report = _report(app)
    headers = _token(client, "hq_street_clerk")
    listed = client.get(f"/api/v1/cases/{case_no}/reports", headers=headers)
    assert listed.status_code == 200
    [item] = listed.json["reports"]
    assert item["number"] == report.number and item["expired"] is False and item["superseded_by"] is None
    assert item["valid_until"] == "2027-11-23" and item["issued_at"].startswith("2026-11-23")
    pdf = client.get(f"/api/v1/reports/{report.id}.pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.headers["X-Hedui-Report-Expired"] == "false"
    assert pdf.data.startswith(b"%PDF")
    clock.set(datetime(2027, 12, 1, 9, 0, tzinfo=SHANGHAI))
    headers = _token(client, "hq_street_clerk")  # a year later: a fresh token
    [item] = client.get(f"/api/v1/cases/{case_no}/reports", headers=headers).json["reports"]
    assert item["expired"] is True and item["status"] == "已过期" and item["state"] == "expired"
    assert client.get(f"/api/v1/reports/{report.id}.pdf", headers=headers).headers["X-Hedui-Report-Expired"] == "true"
    login(client, "cy_reporter")
    assert 'data-report-status="已过期"' in client.get(f"/cases/{case_no}").get_data(as_text=True)
    # the entrusting unit's decision task says so before the decision is recorded
    with app.extensions["hedui"].session_factory() as session:
        task_id = session.execute(select(HumanTask.id).where(HumanTask.bpmn_id == "record_decision")).scalar_one()
    logout(client)
    login(client, "hq_street_clerk")
    task_page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "已过期" in task_page and report.number in task_page


def test_a_decision_on_an_expired_report_is_flagged(app, client, case_no, clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2027, 12, 1, 9, 0, tzinfo=SHANGHAI))
    headers = _token(client, "hq_street_clerk")
    response = client.post(f"/api/v1/cases/{case_no}/decision", headers=headers,
                           json={"assistance_decision": "approved", "decided_on": "2027-11-30"})
    assert response.status_code == 200, response.json
    assert response.json["report"]["expired"] is True
    with app.extensions["hedui"].session_factory() as session:
        flagged = session.execute(select(Event).where(Event.kind == "expired_report_used")).scalar_one()
    assert flagged.payload["number"] == _report(app).number


def test_openapi_documents_the_report_routes(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/v1/openapi.json").json["paths"]
    listed = paths["/cases/{case_no}/reports"]["get"]
    assert "expired" in listed["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["reports"][
        "items"]["properties"]
    assert "application/pdf" in paths["/reports/{report_id}.pdf"]["get"]["responses"]["200"]["content"]


def test_a_report_officer_issues_a_correction_and_the_old_report_is_superseded(app, client, case_no) -> None:  # type: ignore[no-untyped-def]
    old = _report(app)
    login(client, "cy_intake")  # staff of the agency, but not a report officer
    assert "出具更正报告" not in client.get(f"/cases/{case_no}/reports/{old.id}").get_data(as_text=True)
    assert post(client, f"/cases/{case_no}/reports/{old.id}/supersede", {"reason": "x"}).status_code == 403
    logout(client)
    login(client, "cy_reporter")
    blank = post(client, f"/cases/{case_no}/reports/{old.id}/supersede", {"reason": "  "})
    assert blank.status_code == 422 and "请填写更正原因" in blank.get_data(as_text=True)
    done = post(client, f"/cases/{case_no}/reports/{old.id}/supersede", {"reason": "更正附表二反馈时间"})
    assert done.status_code == 302
    with app.extensions["hedui"].session_factory() as session:
        new = session.execute(select(Report).where(Report.supersedes_id == old.id)).scalar_one()
    assert done.headers["Location"].endswith(f"/cases/{case_no}/reports/{new.id}")
    old_page = client.get(f"/cases/{case_no}/reports/{old.id}").get_data(as_text=True)
    assert "已被替代" in old_page and new.number in old_page and "出具更正报告" not in old_page
    [first, second] = client.get(f"/api/v1/cases/{case_no}/reports",
                                 headers=_token(client, "hq_street_clerk")).json["reports"]
    assert (first["superseded_by"], first["status"], second["number"]) == (new.number, "已被替代", new.number)
    # a stale page posts again: the page has no 更正 form left to show a reason's error in, so the refusal says
    # why first, whatever the reason (the form fuzz found a 422 without a visible message)
    for reason in ("", "长" * 600, "再次更正"):
        again = post(client, f"/cases/{case_no}/reports/{old.id}/supersede", {"reason": reason})
        assert again.status_code == 409 and "已被替代，不能再次更正" in again.get_data(as_text=True)
    with app.extensions["hedui"].session_factory() as session:
        assert session.execute(select(func.count(Report.id)).where(Report.case_no == case_no)).scalar_one() == 2
