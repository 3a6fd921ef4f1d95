"""An auditor in real Chromium: signs in, opens a case from the audit list, steps through its replay (links
and the keyboard) and sees the diagram's marks move; the page is photographed at 1366x768.

The screenshot goes to the git-ignored ``artifacts/`` directory on every run; set
``HEDUI_UPDATE_SCREENSHOTS=1`` to also refresh the README's ``docs/screenshots/audit-replay.png``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models.case import Household
from engine.services.instances import complete_task
from tests.browser.conftest import LiveServer
from tests.browser.test_inbox import sign_in
from tests.web.inbox_cases import INTAKE_OK

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "artifacts"
README_IMAGE = ROOT / "docs" / "screenshots" / "audit-replay.png"
STEPS = [("intake_check", INTAKE_OK, Actor("cy_intake", "intake_officer")),
         ("review", {"decision": "accept"}, Actor("cy_reviewer", "review_officer")),
         ("prepare_exchange", {"batch_checked": True}, Actor("cy_exchange_1", "exchange_officer"))]


def _progress(live_server: LiveServer) -> str:
    """Take the first case through 受理初审, 审核复审 and 发起数据交换 (a few hours apart); return its case number."""
    with live_server.ctx() as ctx:
        household = ctx.session.execute(select(Household).order_by(Household.id)).scalars().first()
        case_no, instance_id = household.case_no, household.instance_id
    for bpmn_id, data, actor in STEPS:
        live_server.clock.advance(hours=3)
        with live_server.ctx() as ctx:
            task = ctx.session.execute(select(HumanTask).where(
                HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id,
                HumanTask.status == HumanTaskStatus.OPEN)).scalar_one()
            complete_task(ctx, task.id, data, actor=actor)
    return case_no


def _marked(page: Any, marker: str) -> list[str]:
    return sorted(page.eval_on_selector_all(
        f"#bpmn-diagram .djs-element.{marker}", "els => els.map(e => e.getAttribute('data-element-id'))"))


def _ready(page: Any, step: int) -> None:
    diagram = page.locator("#bpmn-diagram")
    expect(diagram).to_have_attribute("data-step", str(step))
    expect(diagram).to_have_attribute("data-state", "ready")


def test_an_auditor_steps_through_a_replay_and_the_diagram_changes(page: Any, live_server: LiveServer,
                                                                   vendored_bpmn_js: None) -> None:
    case_no = _progress(live_server)
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, "auditor")
    page.get_by_role("link", name="审计监督", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("审计监督：辖区内案件")
    row = page.locator("tr", has=page.get_by_role("link", name=case_no, exact=True))
    expect(row).to_contain_text("通过")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "audit-cases.png"))
    row.get_by_role("link", name=case_no, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"案件 {case_no}：审计时间线")
    expect(page.locator(".verdict")).to_contain_text("一致，未发现篡改")
    expect(page.locator("#event-1")).to_contain_text("启动案件")
    page.screenshot(path=str(ARTIFACTS / "audit-timeline.png"), full_page=True)
    page.get_by_role("link", name="逐步重放", exact=True).click()

    expect(page.locator(".stepper__position")).to_have_text(re.compile(r"第\s*1\s*步，共\s*4\s*步"))
    _ready(page, 1)
    assert _marked(page, "hedui-active") == ["intake_check"]
    assert "intake_check" not in _marked(page, "hedui-done")

    page.get_by_role("link", name="下一步 →").click()  # the link
    _ready(page, 2)
    expect(page.locator("#step-title")).to_have_text("本步：办结任务「受理初审」")
    assert "intake_check" in _marked(page, "hedui-done") and _marked(page, "hedui-active") == ["review"]
    assert _marked(page, "hedui-current") == ["intake_check"]

    page.locator("body").press("ArrowRight")  # and the keyboard
    _ready(page, 3)
    page.locator("body").press("ArrowRight")
    _ready(page, 4)
    expect(page.locator("#step-title")).to_have_text("本步：办结任务「发起数据交换」")
    assert {"intake_check", "review", "prepare_exchange"} <= set(_marked(page, "hedui-done"))
    assert _marked(page, "hedui-waiting") == ["receive_delay", "receive_result", "reply_timeout"]
    assert _marked(page, "hedui-running") == ["data_exchange"]  # the data-exchange sub-process they sit in
    expect(page.locator(".replay-open")).to_contain_text("等待消息")

    page.locator(".verdict").evaluate("el => el.scrollIntoView()")
    shot = ARTIFACTS / "audit-replay.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    if os.environ.get("HEDUI_UPDATE_SCREENSHOTS") == "1":
        README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, README_IMAGE)

    page.locator("body").press("ArrowLeft")
    _ready(page, 3)
    expect(page.locator(".stepper__position")).to_have_text(re.compile(r"第\s*3\s*步，共\s*4\s*步"))

    page.goto("/audit/access")
    expect(page.get_by_role("heading", level=1)).to_have_text("个人信息访问记录")
    expect(page.locator("table.access-log tbody tr").first).to_contain_text("审计查阅")  # this very replay
    page.screenshot(path=str(ARTIFACTS / "audit-access.png"))
