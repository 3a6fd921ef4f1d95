"""The archive viewer in real Chromium (AR-4): from the case page to the sealed archive, the digests
and their verification status, and the archived 授权书 downloaded as a PDF, the download recorded."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from engine.archives.seal import seal_closed
from engine.context import Actor
from engine.exchange.catalogue import seed_demo_catalogue
from engine.models import Event
from engine.models.case import Household
from engine.models.exchange import ExchangeProfile
from engine.services.demo import REGISTERED_FROM
from engine.services.demo_cases import _advance
from engine.services.demo_cases import _answer
from tests.browser.conftest import LiveServer
from tests.browser.test_inbox import sign_in


def ensure_catalogue(ctx: Any) -> None:
    """The sharing units' exchange settings, as the demo seeds them (the browser fixture has only the org)."""
    if not ctx.session.execute(select(ExchangeProfile.id)).first():
        seed_demo_catalogue(ctx, actor=Actor("admin", "admin"), valid_from=REGISTERED_FROM)


expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def _close_and_seal(live_server: LiveServer) -> tuple[str, str]:
    """Run the first case to 核对完成 (as the demo does) and seal it; returns (case number, applicant name)."""
    with live_server.ctx() as ctx:
        household = ctx.session.execute(select(Household).order_by(Household.id)).scalars().first()
        assert household is not None and household.applicant is not None
        ensure_catalogue(ctx)
        _advance(ctx, household.instance, stop_after="prepare_exchange")
        _answer(ctx, household.instance)
        _advance(ctx, household.instance, stop_after="feedback")
        assert seal_closed(ctx) == 1
        return household.case_no, household.applicant.name


def test_open_the_archive_and_download_the_authorisation(page: Any, live_server: LiveServer) -> None:
    case_no, applicant = _close_and_seal(live_server)
    sign_in(page, "cy_intake")
    page.goto(f"/cases/{case_no}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(case_no)
    page.get_by_role("link", name="查看案件档案").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"案件档案 {case_no}")
    expect(page.locator("#archive-status")).to_contain_text(
        re.compile(r"核验通过：全部 \d+ 个项目的 SHA-256 与清单一致"))
    row = page.locator("tbody tr", has_text="授权书（归档生成）")
    expect(row).to_contain_text("一致")
    expect(row.locator("code.digest")).to_have_text(re.compile(r"^[0-9a-f]{16}…$"))
    with page.expect_download() as info:
        row.get_by_role("link", name=re.compile("^下载")).click()
    download = info.value
    assert download.suggested_filename == f"授权书-{case_no}.pdf"
    content = download.path().read_bytes()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages).replace("\n", "")
    assert "居民家庭（个人）经济状况核对授权书" in text and applicant in text
    assert "仅供本行政区域内社会救助审核使用" in text
    with live_server.ctx() as ctx:
        kinds = ctx.session.execute(select(Event.kind, Event.actor).where(Event.kind.like("archive_%"))
                                    .order_by(Event.id)).all()
    assert [tuple(k) for k in kinds] == [("archive_sealed", "archive"), ("archive_viewed", "cy_intake"),
                                         ("archive_item_downloaded", "cy_intake")]
