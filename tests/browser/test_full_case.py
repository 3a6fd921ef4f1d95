"""The "done when" of issue #5 in real Chromium: a standard case from the street office to the end, each
step done by the person whose job it is, each signing in through the login page (PS-2–PS-4, SD-1, SD-2);
and the paths that must explain themselves: a refused claim, an invalid ID number, a return to the
entrusting unit, an overdue task. Each test saves screenshots of the pages it visits
(test-artifacts/screenshots/<test>/, git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.walk import APPLICANT
from tests.browser.walk import BAD_APPLICANT
from tests.browser.walk import attach_scan
from tests.browser.walk import claim_and_open
from tests.browser.walk import fill_household
from tests.browser.walk import fill_members
from tests.browser.walk import open_task_id
from tests.browser.walk import post_claim
from tests.browser.walk import sharing_units_answer
from tests.browser.walk import sign_in
from tests.browser.walk import sign_out
from tests.browser.walk import submit_task

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

Shoot = Callable[[str], Path]


def _street_clerk_submits(page: Any, shoot: Shoot, tmp_path: Path) -> str:
    """红旗街道's clerk enters the entrustment in the wizard; an invalid ID number is refused on the way."""
    sign_in(page, "hq_street_clerk")
    page.get_by_role("link", name="新建委托").click()
    shoot("intake-start")
    page.get_by_role("button", name="开始填写").click()
    expect(page).to_have_url(re.compile(r"/intake/drafts/\d+/business$"))
    base = page.url.rsplit("/", 1)[0]
    fill_household(page, base)
    fill_members(page, BAD_APPLICANT)
    expect(page.locator("#f-members-0-id_number-check")).to_have_text("身份证号码校验位不正确，请核对后重新填写")
    page.get_by_role("button", name="保存并继续").click()
    expect(page.locator("#f-members-0-id_number-error")).to_have_text(re.compile("身份证号码校验位不正确"))
    expect(page.locator("#f-members-1-name")).to_have_value("钱二测试")  # nothing typed is lost
    shoot("intake-members-invalid-id")
    page.locator("#f-members-0-id_number").fill(APPLICANT)
    expect(page.locator("#f-members-0-id_number-check")).to_contain_text("校验通过")
    page.get_by_role("button", name="保存并继续").click()
    expect(page).to_have_url(f"{base}/documents")
    attach_scan(page, tmp_path)
    page.get_by_role("button", name="下一步：预览委托书").click()
    expect(page.locator("[data-letter-text]")).to_contain_text("对赵一测试等1户2人开展经济状况核对")
    shoot("intake-letter")
    page.get_by_role("button", name="确认并提交委托").click()
    expect(page).to_have_url(re.compile(r"/cases/HD-CY-HDZX-2026-\d{6}$"))
    expect(page.locator(".flash--success")).to_contain_text("已登记委托书")
    case_no = page.url.rsplit("/", 1)[1]
    # the step is shown, but not as a link: the clerk may not open the agency's 受理初审 (it would be a 403)
    expect(page.locator("#tasks-title + .link-list")).to_contain_text("受理初审")
    expect(page.get_by_role("link", name="受理初审")).to_have_count(0)
    sign_out(page)
    return case_no


def test_a_standard_case_from_the_street_office_to_the_end(page: Any, live_server: LiveServer, shoot: Shoot,
                                                           tmp_path: Path) -> None:
    case_no = _street_clerk_submits(page, shoot, tmp_path)

    # 受理初审 (PS-2) by the intake officer
    sign_in(page, "cy_intake")
    page.get_by_role("link", name="我的待办", exact=True).first.click()
    page.get_by_role("link", name=re.compile("^可认领")).click()
    row = page.locator("tr[data-task-id]", has_text=case_no)
    expect(row).to_contain_text("受理初审")
    expect(row).to_contain_text("赵一测试")
    expect(row).to_contain_text(APPLICANT[:4] + "*" * 10)  # masked in the list
    shoot("inbox-claimable")
    claim_and_open(page, case_no, "受理初审")
    shoot("task-intake-check")
    page.get_by_label("受理，转审核复审").check()
    page.get_by_label("纸质委托材料规范、核对对象个人信息完整").check()
    page.get_by_label("纸质材料与电子数据包一致").check()
    submit_task(page, case_no, "受理初审")
    shoot("inbox-done")
    sign_out(page)

    # 审核复审 (PS-3) by a second county officer
    sign_in(page, "cy_reviewer")
    claim_and_open(page, case_no, "审核复审")
    expect(page.locator("table.history")).to_contain_text("受理初审")
    page.get_by_label("通过").check()
    shoot("task-review")
    submit_task(page, case_no, "审核复审")
    sign_out(page)

    # 发起数据交换 by one exchange officer ...
    sign_in(page, "cy_exchange_1")
    claim_and_open(page, case_no, "发起数据交换")
    page.get_by_label("已核对核对对象名单与拟交换的信息共享单位").check()
    submit_task(page, case_no, "发起数据交换")
    assert sharing_units_answer(live_server, case_no) >= 1
    # ... who may not also confirm the results (SD-2): not offered, and refused with the reason when tried
    confirm_id = open_task_id(live_server, case_no, "confirm_exchange")
    page.goto("/inbox?tab=claimable")
    expect(page.locator(f'tr[data-task-id="{confirm_id}"]')).to_have_count(0)
    post_claim(page, confirm_id, "/inbox?tab=claimable")
    flash = page.locator(".flash--error")
    expect(flash).to_contain_text("认领未成功：")
    expect(flash).to_contain_text("SD-2")
    shoot("inbox-sod-refused")
    response = page.goto(f"/tasks/{confirm_id}")
    assert response is not None and response.status == 403
    expect(page.locator(".forbidden__reason")).to_contain_text("SD-2")
    shoot("task-sod-forbidden")
    sign_out(page)

    # 确认数据交换结果 by the second exchange officer
    sign_in(page, "cy_exchange_2")
    claim_and_open(page, case_no, "确认数据交换结果")
    page.get_by_label("已逐一核对各信息共享单位的反馈状态").check()
    shoot("task-confirm-exchange")
    submit_task(page, case_no, "确认数据交换结果")
    sign_out(page)

    # 出具核对报告 (PS-4) by a third county officer
    sign_in(page, "cy_reporter")
    claim_and_open(page, case_no, "出具核对报告")
    page.get_by_label("本机构发文文号（可选）").fill("朝核报〔2026〕8号")
    shoot("task-issue-report")
    submit_task(page, case_no, "出具核对报告")
    sign_out(page)

    # the entrusting unit acknowledges the report: the case ends
    sign_in(page, "hq_street_clerk")
    claim_and_open(page, case_no, "反馈委托单位")
    submit_task(page, case_no, "反馈委托单位")
    page.get_by_role("link", name="案件查询").click()
    page.get_by_label("核对业务编号或身份证号码").fill(case_no)
    shoot("search")
    page.get_by_role("button", name="查询").click()
    expect(page).to_have_url(re.compile(f"/cases/{case_no}$"))
    expect(page.get_by_text(re.compile(r"朝阳核字〔2026〕第\d{4}号")).first).to_be_visible()  # the issued report
    expect(page.get_by_text("当前没有待办环节。")).to_be_visible()
    expect(page.locator(".case-status, p.muted").first).to_contain_text("已结案")
    expect(page.get_by_text(APPLICANT)).to_have_count(0)  # masked on the case page
    shoot("case-closed")
    with page.expect_download() as download:  # the clerk's duty covers the original scan; the download is recorded
        page.get_by_role("link", name=re.compile(r"^下载\s*授权书")).click()
    assert download.value.suggested_filename == "授权书扫描.pdf"
    sign_out(page)

    sign_in(page, "admin")
    page.get_by_role("link", name="系统管理").click()
    shoot("admin")


def test_the_intake_officer_returns_an_entrustment(page: Any, shoot: Shoot) -> None:
    sign_in(page, "cy_intake")
    page.goto("/inbox?tab=claimable")
    case_no = page.locator("tr[data-task-id] td a").first.inner_text().strip()
    claim_and_open(page, case_no, "受理初审")
    page.get_by_label("退回委托单位").check()
    page.get_by_role("button", name="提交并办结").click()
    expect(page.locator(".error-summary")).to_contain_text("表单填写有误")
    expect(page.get_by_label("退回委托单位")).to_be_checked()
    shoot("task-return-missing-reason")
    page.get_by_label("退回理由").fill("授权书缺少配偶签名，请补正后重新委托")
    submit_task(page, case_no, "受理初审")
    page.get_by_role("link", name="案件查询").click()
    page.get_by_label("核对业务编号或身份证号码").fill(case_no)
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_text("当前没有待办环节。")).to_be_visible()
    expect(page.locator(".case-status, p.muted").first).to_contain_text("已退回委托单位")
    shoot("case-returned")


def test_an_overdue_task_is_red_in_the_inbox(page: Any, live_server: LiveServer, shoot: Shoot) -> None:
    # 受理初审 is due in 2 working days: from Monday T0, Thursday morning is past it
    live_server.clock.advance(timedelta(days=3))
    sign_in(page, "cy_intake")
    page.get_by_role("link", name=re.compile("^已超期")).click()
    rows = page.locator("tr.inbox-row--overdue")
    expect(rows).to_have_count(2)
    due = rows.first.locator(".due--overdue")
    expect(due).to_contain_text("已超期")
    expect(due).to_have_css("color", "rgb(180, 35, 24)")  # --danger
    expect(page.locator(".tabs__count--alert")).to_have_text("2")
    shoot("inbox-overdue")
