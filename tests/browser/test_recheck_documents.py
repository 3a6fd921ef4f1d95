"""The recheck page's 复核文书 in real Chromium (DO-8): the 复核表 downloaded as a PDF with Chinese text, the
复核委托书 printed and counted, the copies recorded."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from engine.models import Event
from engine.models.case import Household
from engine.services.deploy import deploy_files
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.org import get_unit_by_code
from engine.services.rechecks import file_recheck
from tests.browser.conftest import LiveServer
from tests.browser.test_inbox import sign_in
from tests.engine.recheck_factory import ADMIN
from tests.engine.recheck_factory import BPMN_DIR
from tests.engine.recheck_factory import as_user

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def _entrusted(live_server: LiveServer) -> str:
    """A complaint on the first household, entrusted to the county agency: the recheck number."""
    with live_server.ctx() as ctx:
        path = BPMN_DIR / "individual_recheck.bpmn"
        deploy_files(ctx, {path.name: path.read_bytes()}, actor=ADMIN)
        household = ctx.session.execute(select(Household).order_by(Household.id)).scalars().first()
        assert household is not None
        recheck = file_recheck(ctx, case_no=household.case_no, initiating_unit=get_unit_by_code(ctx, "HQ-MZB"),
                               form={"trigger": "complaint", "requester_name": "匿名", "reason": "举报隐瞒经营收入",
                                     "requested_on": ctx.now().date().isoformat()},
                               actor=as_user(ctx, "hq_street_clerk", "assistance_officer"))
        [decide] = list_open_tasks(ctx, instance_id=recheck.instance_id)
        complete_task(ctx, decide.id, {"decision": "recheck", "agency_level": "county"},
                      actor=as_user(ctx, "cy_assistance", "assistance_officer"))
        return recheck.number


def test_download_the_form_and_print_the_letter(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    number = _entrusted(live_server)
    sign_in(page, "cy_assistance")
    page.goto(f"/rechecks/{number}")
    papers = page.get_by_role("region", name="复核文书")
    expect(papers).to_contain_text("复核表：")
    expect(papers).to_contain_text("复核委托书：")
    with page.expect_download() as info:
        page.locator("#download-recheck_form").click()
    download = info.value
    assert download.suggested_filename == f"复核表-{number}.pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(download.path().read_bytes())).pages)
    assert "经济状况核对复核表" in text and "举报隐瞒经营收入" in text
    with page.expect_popup() as popup:
        papers.locator("form[action$='/documents/recheck_entrustment/print'] button").click()
    popup.value.wait_for_load_state()
    page.reload()
    letter = page.get_by_role("region", name="复核文书").locator("li").filter(has_text="复核委托书：")
    expect(letter).to_contain_text("（已打印 1 次）")
    with live_server.ctx() as ctx:
        copies = ctx.session.execute(select(Event.kind, Event.payload).where(
            Event.kind.in_(["document_downloaded", "document_printed"])).order_by(Event.id)).all()
    assert [(k, p["document"], p["print_no"]) for k, p in copies] == [
        ("document_downloaded", "recheck_form", None), ("document_printed", "recheck_entrustment", 1)]
