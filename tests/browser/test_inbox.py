"""我的待办 in real Chromium: sign in, claim with the keyboard, open the task, see the diagram, submit the
form with an error and then correctly; and the SD-1 refusal explained to a user who holds every role."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import User
from engine.services.demo import DEMO_PASSWORD
from engine.services.instances import complete_task
from tests.browser.conftest import LiveServer
from tests.web.inbox_cases import INTAKE_OK
from tests.web.inbox_cases import entrust

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

#: the one focus-walk that finds the claim button of the first claimable row
FOCUSED_CLAIM = """() => {
  const el = document.activeElement;
  return !!el && el.tagName === 'BUTTON' && el.textContent.trim().startsWith('认领')
      && el.closest('tr[data-task-id]') === document.querySelector('tr[data-task-id]');
}"""


def sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_label("密码").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("您好")


def test_claim_with_the_keyboard_then_fill_in_and_complete(page: Any) -> None:
    sign_in(page, "cy_intake")
    page.get_by_role("link", name="我的待办", exact=True).first.click()
    page.get_by_role("link", name=re.compile("^可认领")).click()
    first_row = page.locator("tr[data-task-id]").first
    case_no = first_row.locator("td").first.inner_text().strip()
    assert re.fullmatch(r"HD-CY-HDZX-2026-\d{6}", case_no)
    expect(first_row).to_contain_text("受理初审")
    expect(first_row).to_contain_text("剩余 2 个工作日")
    expect(first_row).to_contain_text(re.compile(r"2201\*{10}\d{3}[\dX]"))  # masked ID number

    page.locator("body").focus()
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED_CLAIM):
            break
    else:
        pytest.fail("the claim button cannot be reached with Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".flash--success")).to_contain_text("已认领任务「受理初审」")
    expect(page.get_by_role("cell", name=case_no)).to_have_count(0)  # no longer claimable

    page.get_by_role("link", name=re.compile("^我认领的")).click()
    page.get_by_role("link", name=case_no, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("受理初审")
    expect(page.get_by_text("由我办理中")).to_be_visible()

    page.get_by_label("受理，转审核复审").check()
    page.get_by_label("退回理由").fill("纸质材料已逐项核对")
    page.get_by_label("纸质委托材料规范、核对对象个人信息完整").check()
    page.get_by_role("button", name="提交并办结").click()
    expect(page.locator(".error-summary")).to_contain_text("表单填写有误")
    expect(page.locator("#f-paper_electronic_consistent-error")).to_have_text(
        "受理前须确认纸质材料与电子数据包一致；否则请退回委托单位")
    expect(page.get_by_label("受理，转审核复审")).to_be_checked()
    expect(page.get_by_label("退回理由")).to_have_value("纸质材料已逐项核对")
    expect(page.get_by_label("纸质委托材料规范、核对对象个人信息完整")).to_be_checked()

    page.get_by_label("纸质材料与电子数据包一致").check()
    page.get_by_role("button", name="提交并办结").click()
    expect(page).to_have_url(re.compile(r"/inbox\?tab=done$"))
    expect(page.locator(".flash--success")).to_contain_text(f"已办结任务「受理初审」（{case_no}）")
    expect(page.locator("a[aria-current=page]")).to_contain_text("我已办结")
    done = page.locator("tr[data-task-id]")
    expect(done).to_have_count(1)
    expect(done.first).to_contain_text(case_no)
    expect(done.first).to_contain_text("按期办结")


def test_task_page_draws_the_pinned_diagram_with_the_current_step(page: Any, vendored_bpmn_js: None) -> None:
    sign_in(page, "cy_intake")
    page.goto("/inbox?tab=claimable")
    page.get_by_role("button", name=re.compile("^认领")).first.click()
    page.goto("/inbox?tab=mine")
    page.locator("tr[data-task-id] td a").first.click()
    diagram = page.locator("#bpmn-diagram")
    expect(diagram).to_have_attribute("data-state", "ready")
    expect(diagram.locator("svg").first).to_be_visible()
    current = diagram.locator('.djs-element.hedui-current[data-element-id="intake_check"]')
    expect(current).to_have_count(1)
    expect(diagram.locator('.djs-element.hedui-done[data-element-id="start"]')).to_have_count(1)
    expect(diagram.locator('.djs-element.hedui-done[data-element-id="review"]')).to_have_count(0)
    stroke = current.locator(".djs-visual > :first-child").evaluate("el => getComputedStyle(el).strokeWidth")
    assert stroke == "4px"


def _review_done_intake_by_cy_all(live_server: LiveServer) -> str:
    """A third case whose 受理初审 cy_all completed; returns its 审核复审 task id."""
    with live_server.ctx() as ctx:
        household = entrust(ctx, 1, first=2).households[0]
        cy_all = ctx.session.execute(select(User).where(User.username == "cy_all")).scalar_one()
        [intake] = ctx.session.execute(select(HumanTask).where(
            HumanTask.instance_id == household.instance_id, HumanTask.status == HumanTaskStatus.OPEN)).scalars()
        complete_task(ctx, intake.id, INTAKE_OK, actor=Actor("cy_all", "intake_officer", cy_all.id))
        [review] = ctx.session.execute(select(HumanTask.id).where(
            HumanTask.instance_id == household.instance_id, HumanTask.bpmn_id == "review")).scalars()
        return str(review)


def test_sd1_refusal_is_a_chinese_message(page: Any, live_server: LiveServer) -> None:
    review_id = _review_done_intake_by_cy_all(live_server)
    sign_in(page, "cy_all")
    page.goto("/inbox?tab=claimable")
    expect(page.locator(f'tr[data-task-id="{review_id}"]')).to_have_count(0)  # not offered to cy_all
    # a page opened before the rule applied still holds a claim button: post it as that page would
    page.evaluate("""([taskId]) => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = `/tasks/${taskId}/claim`;
      for (const [name, value] of [['csrf_token', document.querySelector('input[name=csrf_token]').value],
                                   ['next', '/inbox?tab=claimable']]) {
        const input = document.createElement('input');
        input.type = 'hidden'; input.name = name; input.value = value;
        form.append(input);
      }
      document.body.append(form);
      form.submit();
    }""", [review_id])
    flash = page.locator(".flash--error")
    expect(flash).to_contain_text("认领未成功：您已办理本案的「受理初审」，不能再办理此步骤")
    expect(flash).to_contain_text("SD-1：受理初审、审核复审与出具核对报告须由三名不同人员办理")
    expect(page).to_have_url(re.compile(r"/inbox\?tab=claimable$"))
    response = page.goto(f"/tasks/{review_id}")
    assert response is not None and response.status == 403
    expect(page.locator(".forbidden__reason")).to_contain_text("SD-1")
