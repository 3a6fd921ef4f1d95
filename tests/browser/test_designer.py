"""流程定义 in real Chromium (designer tools: versions, comparing, rollback): the designer finds the page in
the header, sees the current version's diagram drawn, compares two versions and rolls back with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.context import Actor
from engine.services.deploy import deploy_files
from tests.browser.conftest import LiveServer
from tests.browser.test_inbox import sign_in

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

BPMN = Path(__file__).parents[2] / "bpmn" / "standard_verification.bpmn"


def _deploy_v2(live_server: LiveServer) -> None:
    text = BPMN.read_text(encoding="utf-8").replace('name="受理初审"', 'name="受理与初审"', 1)
    with live_server.ctx() as ctx:
        deploy_files(ctx, {"standard_verification.bpmn": text.encode("utf-8")},
                     actor=Actor("designer", "process_designer"))


def test_designer_compares_versions_and_rolls_back(page: Any, live_server: LiveServer, shoot: Any,
                                                   vendored_bpmn_js: None) -> None:
    _deploy_v2(live_server)
    sign_in(page, "designer")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="流程定义").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("流程定义")
    shoot("processes")
    page.get_by_role("link", name="标准核对流程").click()
    diagram = page.locator("#bpmn-diagram")
    expect(diagram).to_have_attribute("data-state", "ready")
    expect(diagram.locator('.djs-element[data-element-id="intake_check"]')).to_have_count(1)
    shoot("process")
    page.get_by_role("link", name="与上一版本比较").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("第 1 版 → 第 2 版")
    expect(page.locator("ins", has_text="受理与初审")).to_be_visible()
    shoot("compare")
    page.goto("/designer/processes/standard_verification/versions/1")
    reason = page.get_by_label("原因")
    reason.fill("第 2 版名称有误，先回退")
    reason.press("Tab")
    page.keyboard.press("Enter")  # the 设为当前版本 button, reached with the keyboard
    expect(page.locator(".flash--success")).to_contain_text("第 1 版已设为当前版本")
    expect(page.locator('[data-table="history"]')).to_contain_text("第 2 版名称有误，先回退")
    shoot("rolled-back")
