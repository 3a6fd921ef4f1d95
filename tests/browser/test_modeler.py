"""在线建模 in real Chromium (designer tools): the demo designer opens standard_verification in the bpmn-js
modeler, selects 受理初审, changes its 办理时限 in the Hedui properties panel, checks (no errors) and deploys
with a 部署说明 — version 2 carries the changed property and the reason; nothing else of the diagram is lost.

Skipped with the reason when the vendored modeler bundle is missing (`make assets` needs npm).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import Event
from engine.services.deploy import get_current_definition
from tests.browser.conftest import VENDOR
from tests.browser.conftest import LiveServer
from tests.browser.test_inbox import sign_in

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

BPMN = Path(__file__).parents[2] / "bpmn" / "standard_verification.bpmn"


@pytest.fixture
def vendored_modeler() -> None:
    missing = [name for name in ("bpmn-modeler.production.min.js", "bpmn-font/css/bpmn.css")
               if not (VENDOR / name).exists()]
    if missing:
        pytest.skip(f"the bpmn-js modeler is not in web/static/vendor/ ({', '.join(missing)}): run `make assets`")


def test_designer_edits_a_due_time_checks_and_deploys_version_two(
        page: Any, live_server: LiveServer, vendored_modeler: None) -> None:
    sign_in(page, "designer")
    page.goto("/designer/edit/")
    page.locator('a[href="/designer/edit/model/standard_verification"]').click()
    expect(page.locator("#modeler-canvas")).to_have_attribute("data-state", "ready")
    expect(page.locator("#p-process-id")).to_have_value("standard_verification")  # nothing selected: the process

    page.locator('.djs-element[data-element-id="intake_check"]').first.click()
    expect(page.locator("#p-element-id")).to_have_value("intake_check")
    expect(page.locator("#p-prop-formKey")).to_have_value("intake_check")
    due = page.get_by_label("办理时限（工作日，dueWorkingDays）")
    expect(due).to_have_value("2")
    due.fill("3")
    due.press("Tab")
    expect(page.locator("#modeler-undo")).to_be_enabled()

    page.get_by_role("button", name="检查", exact=True).click()
    expect(page.locator("#modeler-findings-summary")).to_have_attribute("data-ok", "true")
    expect(page.locator("#modeler-findings-list .finding--error")).to_have_count(0)
    page.get_by_role("button", name="部署", exact=True).click()
    page.get_by_label("部署说明").fill("受理初审时限改为 3 个工作日（在线建模）")
    page.get_by_role("button", name="确认部署").click()
    expect(page.locator('#modeler-result li[data-process="standard_verification"]')).to_have_text(
        "standard_verification：新版本 v2")
    expect(page.locator("#modeler-result a")).to_have_attribute("href", "/designer/")

    with live_server.ctx() as ctx:
        current = get_current_definition(ctx, "standard_verification")
        assert current is not None and current.version == 2
        tasks = {t["bpmn_id"]: t for t in current.task_catalogue["user_tasks"]}
        assert tasks["intake_check"]["properties"]["dueWorkingDays"] == "3"
        # the round trip through bpmn-js kept every other Hedui property and the process's own
        assert tasks["review"]["properties"] == {"formKey": "verification_review", "dueWorkingDays": "2",
                                                 "allowedDecisions": "accept,terminate", "sodNotSameAs": "intake_check",
                                                 "sodNotRaisedBy": "escalation", "sodRule": "SD-1"}
        assert current.task_catalogue["process_properties"] == {"instanceDueVariable": "verification_due"}
        [xml] = [f.content for f in current.files if f.filename == "standard_verification.bpmn"]
        assert xml.count("<spiffworkflow:messagePayload>") == BPMN.read_text(encoding="utf-8").count(
            "<spiffworkflow:messagePayload>")
        [event] = ctx.session.execute(select(Event).where(Event.kind == "deployed").order_by(Event.id.desc())
                                      .limit(1)).scalars()
        assert event.actor == "designer" and event.payload["reason"] == "受理初审时限改为 3 个工作日（在线建模）"


def test_undo_restores_the_property_and_the_findings_select_elements(
        page: Any, live_server: LiveServer, vendored_modeler: None) -> None:
    """撤销 goes through the modeler's command stack; a finding's button selects its element in the canvas."""
    sign_in(page, "designer")
    page.goto("/designer/edit/model/standard_verification")
    expect(page.locator("#modeler-canvas")).to_have_attribute("data-state", "ready")
    page.locator('.djs-element[data-element-id="review"]').first.click()
    form_key = page.locator("#p-prop-formKey")
    form_key.select_option("")  # a user task without a form: deploy would refuse it
    expect(page.locator("#modeler-undo")).to_be_enabled()
    page.get_by_role("button", name="检查", exact=True).click()
    expect(page.locator("#modeler-findings-summary")).to_have_attribute("data-ok", "false")
    expect(page.get_by_role("button", name="部署", exact=True)).to_be_disabled()
    finding = page.locator("#modeler-findings-list .finding--error button").first
    finding.focus()
    finding.press("Enter")  # keyboard users reach the element too
    expect(page.locator("#p-element-id")).to_have_value("review")
    page.get_by_role("button", name="撤销").click()
    expect(page.locator("#p-prop-formKey")).to_have_value("verification_review")


def test_leaving_with_unsaved_changes_asks_first(page: Any, live_server: LiveServer, vendored_modeler: None) -> None:
    sign_in(page, "designer")
    page.goto("/designer/edit/model/standard_verification")
    expect(page.locator("#modeler-canvas")).to_have_attribute("data-state", "ready")
    # nothing changed yet: leaving does not ask (an unanswered question would keep us on the page); the click
    # on the panel counts as the user interaction Chromium wants before it ever asks
    page.locator("#modeler-panel-title").click()
    page.get_by_role("link", name="检查与部署").last.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("检查与部署")
    page.go_back()
    expect(page.locator("#modeler-canvas")).to_have_attribute("data-state", "ready")
    page.locator('.djs-element[data-element-id="review"]').first.click()
    name = page.get_by_label("名称", exact=True)
    name.fill("审核复审（改）")
    name.press("Tab")
    with page.expect_event("dialog") as asked:
        page.close(run_before_unload=True)
    assert asked.value.type == "beforeunload"
    asked.value.dismiss()
    expect(page.locator("#modeler-canvas")).to_be_visible()  # dismissed: still on the page, the edit kept
    expect(page.get_by_label("名称", exact=True)).to_have_value("审核复审（改）")


def test_every_shipped_diagram_survives_the_modeler_round_trip(
        page: Any, live_server: LiveServer, vendored_modeler: None) -> None:
    """Opened in bpmn-js (with our spiffworkflow descriptor) and written back, every diagram in bpmn/ imports
    without warnings and still passes the check: nothing of ours is dropped on the way."""
    from engine.context import Actor
    from engine.services.deploy import deploy_files

    shipped = {path.name: path.read_bytes() for path in sorted(BPMN.parent.glob("*.bpmn"))}
    with live_server.ctx() as ctx:
        deploy_files(ctx, shipped, actor=Actor("designer", "process_designer"))
    sign_in(page, "designer")
    for name in shipped:
        page.goto(f"/designer/edit/model/{name.removesuffix('.bpmn')}")
        expect(page.locator("#modeler-canvas")).to_have_attribute("data-state", "ready")
        expect(page.locator("#modeler-status")).to_have_text("图已打开。")
        page.get_by_role("button", name="检查", exact=True).click()
        expect(page.locator("#modeler-findings-summary")).to_have_attribute("data-ok", "true")


def test_without_the_vendored_modeler_the_page_says_so(page: Any, live_server: LiveServer) -> None:
    """As when npm was missing at `make assets`: no bundle, a clear message, no buttons that cannot work."""
    page.route("**/static/vendor/bpmn-modeler.production.min.js", lambda route: route.fulfill(status=404))
    sign_in(page, "designer")
    page.goto("/designer/edit/model/standard_verification")
    expect(page.locator("#modeler-status")).to_contain_text("在线建模组件未安装")
    expect(page.locator("#modeler-canvas")).to_have_attribute("data-state", "error")
    expect(page.get_by_role("button", name="检查", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="部署", exact=True)).to_be_disabled()


def test_a_gateway_flow_shows_and_edits_its_condition(
        page: Any, live_server: LiveServer, vendored_modeler: None) -> None:
    """The outgoing flows of 初审结论: the return flow's condition, the accept flow as the default one."""
    sign_in(page, "designer")
    page.goto("/designer/edit/model/standard_verification")
    expect(page.locator("#modeler-canvas")).to_have_attribute("data-state", "ready")
    select = "id => heduiModeler.get('selection').select(heduiModeler.get('elementRegistry').get(id))"
    page.evaluate(select, "f_intake_return")  # flows are thin lines: selected as a finding's button would
    condition = page.get_by_label("条件表达式")
    expect(condition).to_have_value('decision == "return"')
    expect(page.get_by_label("网关的默认流")).not_to_be_checked()
    condition.fill('decision == "return" and not materials_complete')
    condition.press("Tab")
    page.evaluate(select, "f_intake_accept")
    expect(page.get_by_label("网关的默认流")).to_be_checked()
    expect(page.get_by_label("条件表达式")).to_have_value("")
    xml = page.evaluate("heduiModeler.saveXML().then(r => r.xml)")
    assert 'decision == "return" and not materials_complete</bpmn:conditionExpression>' in xml
    assert 'default="f_intake_accept"' in xml
