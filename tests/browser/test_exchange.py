"""The media exchange in real Chromium: prepare → confirm (a second officer) → export and download →
upload the unit's answer package → confirm the import (a second officer) → results on the case page (SD-2, DX-2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.exchange.catalogue import seed_demo_catalogue
from engine.exchange.requests import collect_requests
from engine.exchange.simulate import answer_package
from engine.models.case import Household
from engine.models.exchange import ExchangeBatch
from engine.services.demo import REGISTERED_FROM
from engine.services.demo_cases import _advance
from tests.browser.conftest import LiveServer
from tests.browser.test_inbox import sign_in
from tests.engine.exchange_factory import ADMIN
from tests.engine.exchange_factory import IN_WINDOW

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def _case_in_exchange(live_server: LiveServer) -> str:
    with live_server.ctx() as ctx:
        seed_demo_catalogue(ctx, actor=ADMIN, valid_from=REGISTERED_FROM)
        household = ctx.session.execute(select(Household).order_by(Household.id)).scalars().first()
        _advance(ctx, household.instance, stop_after="prepare_exchange")
        live_server.clock.set(IN_WINDOW)
        collect_requests(ctx)
        return household.case_no


def _switch(page: Any, username: str) -> None:
    page.get_by_role("button", name="退出登录").click()
    sign_in(page, username)
    page.get_by_role("link", name="数据交换").click()


def test_media_exchange_with_two_officers(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    case_no = _case_in_exchange(live_server)
    sign_in(page, "cy_exchange_1")
    page.get_by_role("link", name="数据交换").click()
    page.get_by_label("交换方式").select_option("media")
    page.get_by_role("button", name="组织批次（选择方式）").click()
    expect(page.get_by_text("已组织交换批次")).to_be_visible()
    expect(page.get_by_text("须由另一名交换人员确认").first).to_be_visible()
    _switch(page, "cy_exchange_2")
    page.locator("[data-confirm-batch]").click()
    expect(page.get_by_text("已确认交换批次")).to_be_visible()
    with page.expect_download() as download:
        page.locator("[data-export]").click()
    exported = tmp_path / download.value.suggested_filename
    download.value.save_as(exported)
    assert exported.read_bytes().startswith(b"HEDUIPKG")
    # the bank answers on the disc (the simulated unit writes its answer package)
    with live_server.ctx() as ctx:
        batch = ctx.session.execute(select(ExchangeBatch)).scalar_one()
        answer = tmp_path / "answer.hdpkg"
        answer.write_bytes(answer_package(ctx, batch))
    page.get_by_role("link", name="数据交换").click()  # the batch now waits for its answer
    broken = tmp_path / "broken.hdpkg"
    content = bytearray(answer.read_bytes())
    content[-20] ^= 0x01  # one bit flipped on the way
    broken.write_bytes(bytes(content))
    page.get_by_label("上传反馈数据包（介质交换）").set_input_files(str(broken))
    page.get_by_role("button", name="上传并校验").click()
    expect(page.locator(".flash--error")).to_contain_text("已拒绝导入，未应用任何数据")
    page.get_by_label("上传反馈数据包（介质交换）").set_input_files(str(answer))
    page.get_by_role("button", name="上传并校验").click()
    expect(page.get_by_text("反馈数据包校验通过")).to_be_visible()
    _switch(page, "cy_exchange_1")
    page.locator("[data-confirm-import]").click()
    expect(page.get_by_text("已确认导入，反馈结果已进入各案件")).to_be_visible()
    page.goto(f"/cases/{case_no}")
    results = page.locator("section[aria-labelledby=exchange-title]")
    expect(results).to_contain_text("长春示范商业银行")
    assert results.locator("tr[data-exchange-status=pending]").count() == 0
