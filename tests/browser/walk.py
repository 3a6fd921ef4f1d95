"""Steps shared by the browser walks: sign in and out through the login page, claim a case's step from the
inbox, open it, and let the sharing units answer (in-process, as the exchange transport will deliver them).

Every person is synthetic (tests/engine/package_factory.py).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import MessageSubscription
from engine.models import WorkflowInstance
from engine.services.demo import DEMO_PASSWORD
from engine.services.messages import deliver_message
from tests.browser.conftest import LiveServer
from tests.engine.package_factory import PDF
from tests.engine.package_factory import make_id

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

APPLICANT = make_id(date(1970, 1, 5), 40, male=True)
SPOUSE = make_id(date(1972, 3, 8), 41, male=False)
#: the applicant's number with a wrong check digit
BAD_APPLICANT = APPLICANT[:-1] + ("0" if APPLICANT[-1] != "0" else "1")

#: the claim form a page opened before a rule applied would still hold (the inbox no longer offers it)
POST_CLAIM = """([taskId, next]) => {
  const form = document.createElement('form');
  form.method = 'post';
  form.action = `/tasks/${taskId}/claim`;
  for (const [name, value] of [['csrf_token', document.querySelector('input[name=csrf_token]').value],
                               ['next', next]]) {
    const input = document.createElement('input');
    input.type = 'hidden'; input.name = name; input.value = value;
    form.append(input);
  }
  document.body.append(form);
  form.submit();
}"""


def sign_in(page: Any, username: str) -> None:
    """Through the login page, as a person would."""
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("您好")


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/login"))


def claim_and_open(page: Any, case_no: str, step: str) -> None:
    """Claim ``step`` of ``case_no`` with its one-click button in 可认领, then open it from 我认领的."""
    page.goto("/inbox?tab=claimable")
    page.get_by_role("button", name=re.compile(rf"^认领\s*：{step}（{case_no}）$")).click()
    expect(page.locator(".flash--success")).to_contain_text(f"已认领任务「{step}」（{case_no}）")
    page.get_by_role("link", name=re.compile("^我认领的")).click()
    page.get_by_role("link", name=re.compile(rf"^办理\s*：{step}（{case_no}）$")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(step)
    expect(page.get_by_text("由我办理中")).to_be_visible()


def submit_task(page: Any, case_no: str, step: str) -> None:
    page.get_by_role("button", name="提交并办结").click()
    expect(page).to_have_url(re.compile(r"/inbox\?tab=done$"))
    expect(page.locator(".flash--success")).to_contain_text(f"已办结任务「{step}」（{case_no}）")


def post_claim(page: Any, task_id: str, next_url: str) -> None:
    page.evaluate(POST_CLAIM, [task_id, next_url])


def open_task_id(live_server: LiveServer, case_no: str, bpmn_id: str) -> str:
    with live_server.ctx() as ctx:
        return str(ctx.session.execute(
            select(HumanTask.id).join(WorkflowInstance, WorkflowInstance.id == HumanTask.instance_id)
            .where(WorkflowInstance.business_key == case_no, HumanTask.bpmn_id == bpmn_id,
                   HumanTask.status == HumanTaskStatus.OPEN)).scalar_one())


def sharing_units_answer(live_server: LiveServer, case_no: str) -> int:
    """Every sharing unit asked for this case answers (as the exchange API would deliver it); returns how many."""
    with live_server.ctx() as ctx:
        keys = ctx.session.execute(
            select(MessageSubscription.correlation_key)
            .join(WorkflowInstance, WorkflowInstance.id == MessageSubscription.instance_id)
            .where(WorkflowInstance.business_key == case_no, MessageSubscription.message_name == "exchange_result")
            .order_by(MessageSubscription.correlation_key)).scalars().all()
        for n, key in enumerate(keys):
            unit = key.split(":", 1)[1]
            deliver_message(ctx, "exchange_result", key, {"result_id": 2000 + n}, actor=Actor.system(f"unit:{unit}"))
        return len(keys)


def fill_household(page: Any, base: str) -> None:
    """Step 1 of the wizard: business type, authorisation, address."""
    page.locator("#f-contact_name").fill("周敏")
    page.locator("#f-contact_phone").fill("0431-88886666")
    page.locator("#f-business_type").select_option("dibao")
    page.locator("#f-rule_set").select_option("baoji_2020")
    page.get_by_label("城乡低保").check()
    page.locator("#f-signed_on").fill("2026-11-20")
    page.get_by_label("第一申请人已抄写并确认授权声明").check()
    page.locator("#f-region_code").select_option("220104001")
    page.locator("#f-address").fill("红旗街道幸福小区3栋")
    page.get_by_role("button", name="保存并继续").click()
    expect(page).to_have_url(f"{base}/members")


def fill_members(page: Any, applicant_number: str) -> None:
    """Step 2: the applicant and the spouse."""
    page.get_by_role("button", name="添加家庭成员").click()
    for index, (name, number, relation, rule) in enumerate([
            ("赵一测试", applicant_number, "self", "BJ9-APPLICANT"), ("钱二测试", SPOUSE, "spouse", "BJ9-IN-1")]):
        page.locator(f"#f-members-{index}-name").fill(name)
        page.locator(f"#f-members-{index}-id_number").fill(number)
        page.locator(f"#f-members-{index}-relation").select_option(relation)
        page.locator(f"#f-members-{index}-rule").select_option(rule)
        page.locator(f"#f-members-{index}-residence_address").fill("红旗街道幸福小区3栋")
        page.locator(f"#f-members-{index}-hukou_location").fill("吉林省长春市朝阳区")


def attach_scan(page: Any, tmp_path: Path) -> None:
    """Step 3: the signed 授权书 scan."""
    scan = tmp_path / "授权书扫描.pdf"
    scan.write_bytes(PDF)
    page.get_by_label("选择文件").set_input_files(str(scan))
