"""The new-entrustment wizard in real Chromium: ID numbers checked as they are typed, person rows added and
removed, a reload keeps what was typed (saved to the server draft while typing), and the whole wizard from
the start page to the registered case."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.test_inbox import sign_in
from tests.browser.walk import fill_household
from tests.engine.package_factory import PDF
from tests.engine.package_factory import make_id

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

APPLICANT = make_id(date(1970, 1, 5), 40, male=True)
SPOUSE = make_id(date(1972, 3, 8), 41, male=False)


def start_wizard(page: Any) -> str:
    """From the home page to step 1 of a new draft; returns the draft's base URL."""
    sign_in(page, "hq_street_clerk")
    page.get_by_role("link", name="新建委托").click()
    page.get_by_role("button", name="开始填写").click()
    expect(page).to_have_url(re.compile(r"/intake/drafts/\d+/business$"))
    return page.url.rsplit("/", 1)[0]


def test_id_numbers_are_checked_as_they_are_typed(page: Any) -> None:
    base = start_wizard(page)
    page.goto(f"{base}/members")
    field = page.locator("#f-members-0-id_number")
    check = page.locator("#f-members-0-id_number-check")
    field.press_sequentially(APPLICANT[:6])
    expect(check).to_have_text("已输入 6 / 18 位")
    field.press_sequentially(APPLICANT[6:])
    expect(check).to_have_text("校验通过：出生日期 1970-01-05，男")
    expect(field).not_to_have_attribute("aria-invalid", "true")
    field.press("Backspace")
    field.press_sequentially("0" if APPLICANT[-1] != "0" else "1")
    expect(check).to_have_text("身份证号码校验位不正确，请核对后重新填写")
    expect(field).to_have_attribute("aria-invalid", "true")
    field.fill("22010419701305001X")
    expect(check).to_have_text("身份证号码中的出生日期无效")
    field.fill("2201a4")
    expect(check).to_have_text("身份证号码前 17 位应为数字")
    field.fill(APPLICANT.lower()[:-1] + APPLICANT[-1].lower())
    expect(check).to_contain_text("校验通过")


def test_the_server_checks_again_what_the_script_let_through(page: Any) -> None:
    base = start_wizard(page)
    page.goto(f"{base}/members")
    page.evaluate("() => { window.HeduiIdCheck = null; }")  # the script's verdict is only advice
    page.locator("#f-members-0-name").fill("赵一测试")
    page.locator("#f-members-0-id_number").fill(APPLICANT[:-1] + ("0" if APPLICANT[-1] != "0" else "1"))
    page.get_by_role("button", name="保存并继续").click()
    expect(page.locator("#f-members-0-id_number-error")).to_have_text(re.compile("身份证号码校验位不正确"))
    expect(page.locator("#f-members-0-name")).to_have_value("赵一测试")


def test_person_rows_are_added_and_removed(page: Any) -> None:
    base = start_wizard(page)
    page.goto(f"{base}/members")
    page.locator("#f-members-0-name").fill("赵一测试")
    page.get_by_role("button", name="添加家庭成员").click()
    expect(page.locator("fieldset.person")).to_have_count(2)
    page.locator("#f-members-1-name").fill("钱二测试")
    page.locator("#f-members-1-relation").select_option("spouse")
    page.get_by_role("button", name="添加家庭成员").click()
    page.locator("#f-members-2-name").fill("孙三测试")
    page.get_by_role("button", name="添加义务人").click()
    page.locator("#f-obligors-0-name").fill("李四测试")
    expect(page.locator("fieldset.person")).to_have_count(4)
    page.get_by_role("button", name=re.compile(r"删除此人\s*（家庭成员 2）")).click()
    expect(page.locator("fieldset.person")).to_have_count(3)
    expect(page.locator("#f-members-0-name")).to_have_value("赵一测试")
    expect(page.locator("#f-members-1-name")).to_have_value("孙三测试")
    expect(page.locator("#f-obligors-0-name")).to_have_value("李四测试")
    page.get_by_role("button", name=re.compile(r"删除此人\s*（义务人 1）")).click()
    expect(page.get_by_text("暂无义务人。")).to_be_visible()


def test_a_reload_keeps_the_draft(page: Any) -> None:
    base = start_wizard(page)
    page.locator("#f-contact_name").fill("周敏")
    page.locator("#f-address").fill("红旗街道幸福小区3栋")
    expect(page.locator("[data-autosave-status]")).to_contain_text("草稿已自动保存")
    page.reload()
    expect(page.locator("#f-contact_name")).to_have_value("周敏")
    expect(page.locator("#f-address")).to_have_value("红旗街道幸福小区3栋")

    page.goto(f"{base}/members")
    page.locator("#f-members-0-name").fill("赵一测试")
    page.locator("#f-members-0-id_number").fill(APPLICANT)
    expect(page.locator("form[data-autosaved]")).to_have_count(1)
    page.reload()
    expect(page.locator("#f-members-0-name")).to_have_value("赵一测试")
    expect(page.locator("#f-members-0-id_number")).to_have_value(APPLICANT)
    expect(page.locator("#f-members-0-id_number-check")).to_contain_text("校验通过")
    # and the start page offers the draft again
    page.goto("/intake/new")
    expect(page.get_by_role("cell", name="赵一测试", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"继续填写\s*（赵一测试）"))).to_be_visible()


def test_the_whole_wizard_registers_a_case(page: Any, live_server: LiveServer, tmp_path: Path) -> None:
    base = start_wizard(page)
    fill_household(page, base)

    page.get_by_role("button", name="添加家庭成员").click()
    for index, (name, number, relation, rule) in enumerate([
            ("赵一测试", APPLICANT, "self", "BJ9-APPLICANT"), ("钱二测试", SPOUSE, "spouse", "BJ9-IN-1")]):
        page.locator(f"#f-members-{index}-name").fill(name)
        page.locator(f"#f-members-{index}-id_number").fill(number)
        page.locator(f"#f-members-{index}-relation").select_option(relation)
        page.locator(f"#f-members-{index}-rule").select_option(rule)
        page.locator(f"#f-members-{index}-residence_address").fill("红旗街道幸福小区3栋")
        page.locator(f"#f-members-{index}-hukou_location").fill("吉林省长春市朝阳区")
    page.get_by_role("button", name="保存并继续").click()
    expect(page).to_have_url(f"{base}/documents")

    scan = tmp_path / "授权书扫描.pdf"
    scan.write_bytes(PDF)
    page.get_by_label("选择文件").set_input_files(str(scan))
    page.get_by_role("button", name="下一步：预览委托书").click()
    expect(page).to_have_url(f"{base}/letter")
    expect(page.locator("[data-letter-text]")).to_contain_text("对赵一测试等1户2人开展经济状况核对")
    page.get_by_role("button", name="确认并提交委托").click()
    expect(page).to_have_url(re.compile(r"/cases/HD-CY-HDZX-2026-\d{6}$"))
    expect(page.locator(".flash--success")).to_contain_text("已登记委托书")
    expect(page.get_by_role("cell", name="赵一测试", exact=True)).to_be_visible()
    expect(page.get_by_text(APPLICANT)).to_have_count(0)  # masked on the case page
