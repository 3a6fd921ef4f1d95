"""支出调查 pages (DO-9; BJ 第十四条): open, record, void and conclude from the case; the task page and the
report show it; only the case agency's investigating staff write; bad input keeps what was typed.

Synthetic people only (the demo cases).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.models import Event
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models.case import Household
from engine.models.spending import SpendingInquiry
from engine.services.demo_cases import _advance
from engine.services.demo_cases import _answer
from tests.engine.archive_factory import households
from tests.engine.archive_factory import seed
from tests.engine.archive_factory import seeded
from tests.web.test_api_tasks import _token
from tests.web.test_inbox import _post as post
from tests.web.test_inbox import login
from tests.web.test_login import assert_valid_html

#: the demo region, the diagrams and the four demo cases, seeded once for the module
SEED_ONCE = seed


def _case(app: Any, *, to_report: bool = False) -> str:
    """The first demo case (at 受理初审), or walked on to 出具核对报告."""
    ctx = app.extensions["hedui"].new_context()
    seeded(ctx)
    household = households(ctx)[0]
    if to_report:
        _advance(ctx, household.instance, stop_after="prepare_exchange")
        _answer(ctx, household.instance)
        _advance(ctx, household.instance, stop_after="confirm_exchange")
    ctx.session.commit()
    return household.case_no


def _html(response: Any) -> str:
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


def _inquiry(app: Any, case_no: str) -> SpendingInquiry | None:
    """The case's inquiry (the demo has one of its own on another case)."""
    with app.extensions["hedui"].session_factory() as session:
        inquiry = session.execute(select(SpendingInquiry).join(Household).where(
            Household.case_no == case_no)).scalar_one_or_none()
        if inquiry is not None:
            _ = inquiry.items
            session.expunge_all()
        return inquiry


def test_open_record_void_conclude_from_the_case_page(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _case(app)
    login(client, "cy_intake")
    html = _html(client.get(f"/cases/{case_no}"))
    assert "启动支出调查" in html and f'href="/cases/{case_no}/spending"' in html
    page = client.get(f"/cases/{case_no}/spending")
    assert page.status_code == 200 and "调查缘由" in _html(page)
    assert_valid_html(_html(page))
    bad = post(client, f"/cases/{case_no}/spending/open", {"basis": "发现购车记录", "declared_monthly_income": "八百"})
    assert bad.status_code == 422 and "请填写数字金额（元）" in _html(bad) and "发现购车记录</textarea>" in _html(bad)
    assert _inquiry(app, case_no) is None  # nothing half-written
    ok = post(client, f"/cases/{case_no}/spending/open", {"basis": "发现购车记录", "declared_monthly_income": "800"})
    assert ok.status_code == 302 and ok.headers["Location"] == f"/cases/{case_no}/spending"
    item = {"category": "vehicle", "description": "购买轿车", "amount": "158000", "source": "data_match"}
    bad = post(client, f"/cases/{case_no}/spending/items", {**item, "amount": "12.345"})
    assert bad.status_code == 422 and "金额最多保留两位小数" in _html(bad) and 'value="12.345"' in _html(bad)
    assert post(client, f"/cases/{case_no}/spending/items", item).status_code == 302
    assert post(client, f"/cases/{case_no}/spending/items", {**item, "description": "重复登记"}).status_code == 302
    inquiry = _inquiry(app, case_no)
    assert inquiry is not None and len(inquiry.items) == 2
    duplicate = inquiry.items[1].id
    bad = post(client, f"/cases/{case_no}/spending/items/{duplicate}/void", {"reason": " "})
    assert bad.status_code == 422 and "请填写作废原因" in _html(bad)
    assert post(client, f"/cases/{case_no}/spending/items/{duplicate}/void", {"reason": "重复登记"}).status_code == 302
    html = _html(client.get(f"/cases/{case_no}/spending"))
    assert "查实的支出（1 项，合计 158000.00 元）" in html and "已作废：重复登记" in html
    login(client, "cy_reviewer")
    bad = post(client, f"/cases/{case_no}/spending/conclude", {"outcome": "explained", "conclusion": ""})
    assert bad.status_code == 422 and "请填写调查情况说明" in _html(bad) and 'value="explained" selected' in _html(bad)
    assert post(client, f"/cases/{case_no}/spending/conclude",
                {"outcome": "explained", "conclusion": "系亲属赠与"}).status_code == 302
    html = _html(client.get(f"/cases/{case_no}/spending"))
    assert "（已办结）" in html and "支出已作出合理说明" in html and "登记支出" not in html
    late = post(client, f"/cases/{case_no}/spending/items", item)
    assert late.status_code == 409 and "支出调查已办结" in _html(late)
    api = client.get(f"/api/v1/cases/{case_no}", headers=_token(client, "cy_reviewer")).json["spending_inquiry"]
    assert (api["status"], api["outcome"], api["items"], api["total"]) == ("concluded", "explained", 1, "158000.00")
    with app.extensions["hedui"].session_factory() as session:
        views = session.execute(select(Event.payload).where(Event.kind == "personal_data_viewed")).scalars().all()
    assert any(v.get("page") == "spending" for v in views)  # the page is in the access log (SEC-12)


def test_others_read_but_may_not_write(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _case(app)
    login(client, "hq_street_clerk")  # the entrusting street office sees the case, not the agency's inquiry tools
    assert "启动支出调查" not in _html(client.get(f"/cases/{case_no}"))
    page = client.get(f"/cases/{case_no}/spending")
    assert page.status_code == 200 and "本案未启动支出调查" in _html(page)
    assert "<form" not in _html(page).split("</nav>", 2)[-1]  # no form for them (the header's sign-out aside)
    refused = post(client, f"/cases/{case_no}/spending/open", {"basis": "x"})
    assert refused.status_code == 403 and _inquiry(app, case_no) is None
    login(client, "ng_intake")  # another county: the case does not exist for them (OR-3)
    assert client.get(f"/cases/{case_no}/spending").status_code == 404


def test_the_report_task_shows_an_open_inquiry_and_refuses_until_it_is_concluded(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _case(app, to_report=True)
    login(client, "cy_intake")
    post(client, f"/cases/{case_no}/spending/open", {"basis": "发现大额消费"})
    with app.extensions["hedui"].session_factory() as session:
        task = session.execute(select(HumanTask).where(HumanTask.bpmn_id == "issue_report",
                                                       HumanTask.status == HumanTaskStatus.OPEN)).scalar_one()
    login(client, "cy_reporter")
    html = _html(client.get(f"/tasks/{task.id}"))
    assert 'id="spending-open"' in html and "出具核对报告前须办结" in html
    assert post(client, f"/tasks/{task.id}/claim").status_code == 302
    refused = post(client, f"/tasks/{task.id}/complete", {"report_no": "朝核报〔2026〕9号"})
    assert refused.status_code == 302
    assert "本案的支出调查尚未办结" in _html(client.get(refused.headers["Location"]))
    post(client, f"/cases/{case_no}/spending/conclude", {"outcome": "inconclusive", "conclusion": "无法取得消费记录"})
    assert post(client, f"/tasks/{task.id}/complete", {"report_no": "朝核报〔2026〕9号"}).status_code == 302
    case_html = _html(client.get(f"/cases/{case_no}"))
    report_link = case_html.split(f'href="/cases/{case_no}/reports/', 1)[1].split('"', 1)[0]
    report = _html(client.get(f"/cases/{case_no}/reports/{report_link}"))
    assert "附表四　支出调查情况" in report and "无法查明" in report and "无法取得消费记录" in report
    assert_valid_html(report)
