"""The recheck's 复核表 / 复核委托书 PDFs and the 复核报告 in the pages and the API (DO-8, PS-9, OR-3, SEC-13)."""

from __future__ import annotations

import io
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select

from engine.models import Event
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare
from tests.engine.recheck_factory import reverify
from tests.engine.recheck_factory import verify
from tests.web.test_api_tasks import _token
from tests.web.test_inbox import _post as post
from tests.web.test_inbox import login
from tests.web.test_rechecks import _case
from tests.web.test_rechecks import _recheck


def _text(content: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def _entrusted(app: Any, client: Any) -> str:
    """A complaint filed by the street office and entrusted by the county department: the recheck number."""
    case_no = _case(app, client, verified=False)
    created = client.post("/api/v1/rechecks", headers=_token(client, "hq_street_clerk"),
                          json=_recheck(case_no, trigger="complaint", reason="举报隐瞒经营收入")).json
    done = client.post(f"/api/v1/tasks/{created['open_task_id']}/complete", headers=_token(client, "cy_assistance"),
                       json={"data": {"decision": "recheck", "agency_level": "county"}})
    assert done.status_code == 200, done.json
    return str(created["recheck_no"])


def _records(app: Any, kind: str) -> list[dict[str, Any]]:
    session = app.extensions["hedui"].new_context().session
    return [e.payload for e in session.execute(select(Event).where(Event.kind == kind).order_by(Event.id)).scalars()]


def test_recheck_page_downloads_and_prints_the_form_and_the_letter(app, client) -> None:  # type: ignore[no-untyped-def]
    number = _entrusted(app, client)
    login(client, "cy_assistance")
    page = client.get(f"/rechecks/{number}").get_data(as_text=True)
    assert "复核文书" in page and "复核表：" in page and "复核委托书：" in page and "（已打印 0 次）" in page
    download = client.get(f"/rechecks/{number}/documents/recheck_form.pdf")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    text = _text(download.data)
    assert "经济状况核对复核表" in text and "举报隐瞒经营收入" in text and "群众投诉、举报" in text
    assert [(p["document"], p["recheck_no"], p["via"]) for p in _records(app, "document_downloaded")] == [
        ("recheck_form", number, "web")]
    prints = [post(client, f"/rechecks/{number}/documents/recheck_entrustment/print") for _ in range(2)]
    assert [p.status_code for p in prints] == [200, 200]
    assert [p.headers["X-Hedui-Print-No"] for p in prints] == ["1", "2"]
    letter = _text(prints[1].data)
    assert "经济状况复核委托书" in letter and "第2次打印" in letter and "现委托贵中心对其经济状况进行复核" in letter
    assert [p["print_no"] for p in _records(app, "document_printed")] == [1, 2]
    assert "（已打印 2 次）" in client.get(f"/rechecks/{number}").get_data(as_text=True)
    assert client.get(f"/rechecks/{number}/documents/authorisation.pdf").status_code == 404


def test_recheck_documents_refuse_other_jurisdictions_and_staff_without_a_duty(app, client) -> None:  # type: ignore[no-untyped-def]
    number = _entrusted(app, client)
    login(client, "ng_intake")  # 南关区: outside the jurisdiction, the recheck does not exist
    assert client.get(f"/rechecks/{number}/documents/recheck_form.pdf").status_code == 404
    assert post(client, f"/rechecks/{number}/documents/recheck_form/print").status_code == 404
    login(client, "auditor")  # inside it, but no duty that needs full ID numbers
    assert client.get(f"/rechecks/{number}").status_code == 200
    refused = client.get(f"/rechecks/{number}/documents/recheck_form.pdf")
    assert refused.status_code == 403
    assert "没有下载或打印复核表、复核委托书的职责" in client.get(f"/rechecks/{number}").get_data(as_text=True)
    assert _records(app, "document_downloaded") == [] and _records(app, "document_printed") == []


def test_recheck_documents_through_the_api(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _case(app, client, verified=False)
    clerk = _token(client, "hq_street_clerk")
    created = client.post("/api/v1/rechecks", headers=clerk,
                          json=_recheck(case_no, trigger="home_visit", reason="入户发现新购车辆")).json
    base = f"/api/v1/rechecks/{created['recheck_no']}/documents"
    assert client.get(f"{base}/recheck_entrustment.pdf", headers=clerk).status_code == 404  # not decided yet
    form = client.get(f"{base}/recheck_form.pdf", headers=clerk)
    assert form.status_code == 200 and "入户调查与核对结果不符" in _text(form.data)
    assert _records(app, "document_downloaded")[0]["via"] == "api"
    assert client.get(f"{base}/recheck_form.pdf", headers=_token(client, "ng_intake")).status_code == 404
    auditor = client.get(f"{base}/recheck_form.pdf", headers=_token(client, "auditor"))
    assert (auditor.status_code, auditor.json["error"]) == (403, "duty_required")
    assert "/rechecks/{recheck_no}/documents/{which}.pdf" in client.get("/api/v1/openapi.json").json["paths"]


def test_the_reverification_report_in_the_pages_and_the_api(app, client) -> None:  # type: ignore[no-untyped-def]
    """DO-8: the original case lists the 复核报告; its page says 复核报告 and links the recheck and the original."""
    ctx = app.extensions["hedui"].new_context()
    ctx.policy_profile = "baoji"  # its decision feedback stays within the test calendar's years
    prepare(ctx)
    [household] = enrol(ctx)
    verify(ctx, household)
    recheck = reverify(ctx, household)
    original, linked, number = household.case_no, recheck.verification_household.case_no, recheck.number
    ctx.session.commit()
    clerk = _token(client, "hq_street_clerk")
    reports = client.get(f"/api/v1/cases/{original}/reports", headers=clerk).json["reports"]
    assert [(r["kind"], r["case_no"]) for r in reports] == [("verification", original), ("reverification", linked)]
    review = reports[1]
    assert client.get(f"/api/v1/rechecks/{number}", headers=clerk).json["report_id"] == review["id"]
    login(client, "hq_street_clerk")
    case_page = client.get(f"/cases/{original}").get_data(as_text=True)
    assert f"/cases/{linked}/reports/{review['id']}" in case_page and f"复核案件 {linked}" in case_page
    report_page = client.get(f"/cases/{linked}/reports/{review['id']}").get_data(as_text=True)
    assert f"复核报告 {review['number']}" in report_page and "居民家庭（个人）经济状况复核报告" in report_page
    assert f"/rechecks/{number}" in report_page and f"/cases/{original}/reports/{reports[0]['id']}" in report_page
    assert "复核事由：群众投诉、举报" in report_page and "超期未反馈" in report_page
    recheck_page = client.get(f"/rechecks/{number}").get_data(as_text=True)
    assert f"/cases/{linked}/reports/{review['id']}" in recheck_page and review["number"] in recheck_page
    # the PDF goes to its addressee, the county department that entrusted the re-verification
    pdf = client.get(f"/api/v1/reports/{review['id']}.pdf", headers=_token(client, "cy_assistance"))
    assert pdf.status_code == 200 and "经济状况复核报告" in _text(pdf.data)
    # full ID numbers: an auditor in the jurisdiction reads the page but gets no PDF, as in the browser (SEC-13)
    refused = client.get(f"/api/v1/reports/{review['id']}.pdf", headers=_token(client, "auditor"))
    assert (refused.status_code, refused.json["error"]) == (403, "duty_required")
