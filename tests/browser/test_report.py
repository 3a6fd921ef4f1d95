"""The 核对报告 in real Chromium (DO-7, RPT-06): from the case page's report list to the report (cover and
annex tables, masked ID numbers), the PDF downloaded with Chinese text, the download counted and recorded.

With ``HEDUI_UPDATE_SCREENSHOTS=1`` the test also writes the README image ``docs/screenshots/report.png``
(1366x768).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from engine.models import Event
from engine.models.case import Household
from engine.services.demo_cases import _advance
from engine.services.demo_cases import _answer
from tests.browser.conftest import LiveServer
from tests.browser.test_archive import ensure_catalogue
from tests.browser.test_inbox import sign_in

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect
SCREENSHOT = Path(__file__).parents[2] / "docs" / "screenshots" / "report.png"


def _verify(live_server: LiveServer) -> tuple[str, str, list[str]]:
    """Run the first case through 出具核对报告 (as the demo does); returns (case number, applicant, ID numbers)."""
    with live_server.ctx() as ctx:
        household = ctx.session.execute(select(Household).order_by(Household.id)).scalars().first()
        assert household is not None and household.applicant is not None
        ensure_catalogue(ctx)
        _advance(ctx, household.instance, stop_after="prepare_exchange")
        _answer(ctx, household.instance)
        _advance(ctx, household.instance, stop_after="issue_report")
        return (household.case_no, household.applicant.name,
                [p.id_number for p in household.persons if p.id_number])


def test_open_the_report_and_download_it(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    case_no, applicant, numbers = _verify(live_server)
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, "cy_reporter")
    page.goto(f"/cases/{case_no}")
    reports = page.locator("#case-reports")
    expect(reports).to_contain_text("朝阳核字〔2026〕第0001号")
    expect(reports.locator("tbody tr")).to_have_attribute("data-report-status", "有效")
    reports.get_by_role("link", name="朝阳核字〔2026〕第0001号").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("核对报告 朝阳核字〔2026〕第0001号")
    expect(page.locator("#report-state")).to_contain_text("有效")
    expect(page.get_by_role("heading", name="居民家庭（个人）经济状况核对报告")).to_be_visible()
    expect(page.locator(".report-paper")).to_contain_text("仅作为相关业务部门作出行政审批决定的参考，不作其他用途")
    expect(page.get_by_role("heading", name="附表二　各信息共享单位核对结果")).to_be_visible()
    expect(page.locator("tr[data-source-status='found']").first).to_be_visible()
    body = page.content()
    assert applicant in body and all(n not in body for n in numbers)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)  # the whole report renders
    if os.environ.get("HEDUI_UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
    with page.expect_download() as info:
        page.get_by_role("link", name="下载 PDF").click()
    download = info.value
    assert download.suggested_filename == "核对报告-朝阳核字〔2026〕第0001号.pdf"
    reader = PdfReader(io.BytesIO(download.path().read_bytes()))
    text = "".join(p.extract_text() for p in reader.pages).replace("\n", "")
    assert "居民家庭（个人）经济状况核对报告" in text and applicant in text and f"共{len(reader.pages)}页" in text
    page.reload()
    expect(page.locator("#download-count")).to_have_text(re.compile("已下载 1 次"))
    with live_server.ctx() as ctx:
        kinds = ctx.session.execute(select(Event.kind, Event.actor).where(Event.kind.like("report_%"))
                                    .order_by(Event.id)).all()
    assert [tuple(k) for k in kinds] == [("report_issued", "cy_reporter"), ("report_viewed", "cy_reporter"),
                                         ("report_downloaded", "cy_reporter"), ("report_viewed", "cy_reporter")]
