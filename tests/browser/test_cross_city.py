"""跨地市核对 (PS-7, SD-1) in real Chromium, each step by the person whose job it is: the 朝阳区 reviewer raises
a cross-city request in 审核复审's form, 长春市's officer gathers it now (「立即汇总」), the county reviewer —
though given a city membership — is refused the city's 市级审核 (SD-1), the city's own reviewer accepts on
逐项审核, the province case reaches the province's staff, the city relays the report (转送县级) and the
county case page shows every step of the request with where it is. Screenshots in
test-artifacts/screenshots/<test>/ (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import Household
from engine.models.escalation import Escalation
from tests.browser.conftest import LiveServer
from tests.browser.walk import claim_and_open
from tests.browser.walk import sign_in
from tests.browser.walk import sign_out
from tests.browser.walk import submit_task
from tests.engine.cross_city_factory import staff
from tests.engine.escalation_factory import INTAKE_OK
from tests.engine.escalation_factory import do
from tests.engine.escalation_factory import exchange
from tests.engine.escalation_factory import report
from tests.engine.escalation_factory import upper_instance
from tests.engine.recheck_factory import prepare

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

Shoot = Callable[[str], Path]
CASE = "HD-CY-HDZX-2026-000001"
BATCH = "KS-CC-HDZX-2026-000001"
REQUEST = "SJ-CY-HDZX-2026-000001"
REASON = "户主在吉林市有房产登记线索"
#: how many lines an element's text is laid out on
LINES = "e => { const r = document.createRange(); r.selectNodeContents(e); return r.getClientRects().length; }"


def _county_case(live_server: LiveServer) -> None:
    """Every diagram deployed; 朝阳区's case 1 past 受理初审; the county reviewer also in 长春市 as reviewer."""
    with live_server.ctx() as ctx:
        prepare(ctx)  # every diagram, the sharing units' catalogue
        staff(ctx, "cy_reviewer", "CC-HDZX")  # the county reviewer also holds a city membership (SD-1)
        household = ctx.session.execute(select(Household).where(Household.case_no == CASE)).scalar_one()
        do(ctx, household.instance, "intake_check", INTAKE_OK, "cy_intake")


def _county_and_province_work(live_server: LiveServer, *, county: bool, province: bool) -> None:
    """The steps the pages add nothing new to: the cases' exchanges and reports (tests/browser/test_full_case.py)."""
    with live_server.ctx() as ctx:
        household = ctx.session.execute(select(Household).where(Household.case_no == CASE)).scalar_one()
        if county:
            exchange(ctx, household.instance, "cy")
            report(ctx, household.instance, "cy")
        if province:
            case = upper_instance(ctx, ctx.session.execute(
                select(Escalation).where(Escalation.number == REQUEST)).scalar_one())
            do(ctx, case, "review", {"decision": "accept"}, "jl_reviewer")
            exchange(ctx, case, "jl")
            report(ctx, case, "jl")


def test_a_cross_city_request_up_to_the_province_and_back(page: Any, live_server: LiveServer, shoot: Shoot) -> None:
    _county_case(live_server)

    # 审核复审 at 朝阳区 raises the request (PS-7) in the task's own form
    sign_in(page, "cy_reviewer")
    claim_and_open(page, CASE, "审核复审")
    page.get_by_label("通过").check()
    page.locator("#f-cross_city_items input[value='JLS-BDC']").check()
    page.locator("#f-cross_city_reason").fill(REASON)
    shoot("task-review-cross-city")
    submit_task(page, CASE, "审核复审")
    page.goto("/cross-city/")
    expect(page.locator("#own-title + table, #own-title ~ *").first).to_contain_text(REQUEST)
    expect(page.get_by_text("待市级汇总").first).to_be_visible()
    sign_out(page)
    _county_and_province_work(live_server, county=True, province=False)

    # 长春市 gathers now
    sign_in(page, "cc_reviewer")
    page.get_by_role("link", name="跨地市核对").first.click()
    expect(page.get_by_role("heading", level=2, name="待汇总的请求")).to_be_visible()
    expect(page.locator("main")).to_contain_text(REQUEST)
    gather = page.get_by_role("button", name="立即汇总")
    assert gather.evaluate(LINES) == 1  # at 1366x768 the note beside it does not squeeze it onto two lines
    gather.click()
    expect(page.locator(".flash--success")).to_contain_text(f"已汇总为批次 {BATCH}")
    shoot("cross-city-city")
    sign_out(page)

    # the county reviewer, though holding the city's role, may not review its own request (SD-1)
    sign_in(page, "cy_reviewer")
    response = page.goto(f"/cross-city/batches/{BATCH}/review")
    assert response is not None and response.status == 403
    expect(page.locator(".forbidden__reason")).to_contain_text("SD-1")
    shoot("review-sod-forbidden")
    page.goto("/inbox?tab=claimable")
    expect(page.locator("tr[data-task-id]", has_text=BATCH)).to_have_count(0)
    sign_out(page)

    # the city's own reviewer accepts on 逐项审核
    sign_in(page, "cc_reviewer")
    page.goto(f"/cross-city/batches/{BATCH}")
    shoot("batch-gathered")
    page.get_by_role("link", name="逐项审核").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(BATCH)
    expect(page.locator("main")).to_contain_text("吉林市不动产登记中心（JLS-BDC）")  # items by name
    page.get_by_label("同意，委托省级核对机构").check()
    assert page.get_by_label("不同意的理由").bounding_box()["width"] > 400  # styled like the task form's
    shoot("batch-review")
    page.get_by_role("button", name=re.compile("提交")).click()
    expect(page.locator(".flash--success")).to_contain_text(f"已完成批次 {BATCH} 的市级审核")
    expect(page.locator("main")).to_contain_text("上级核对中")
    shoot("batch-entrusted")
    sign_out(page)

    # the province case is the province's: in its staff's inbox, with where it came from
    with live_server.ctx() as ctx:
        province_case = upper_instance(ctx, ctx.session.execute(
            select(Escalation).where(Escalation.number == REQUEST)).scalar_one()).business_key
    sign_in(page, "jl_reviewer")
    page.goto("/cross-city/")
    expect(page.locator("main")).to_contain_text(BATCH)
    page.goto("/inbox?tab=claimable")
    expect(page.locator("tr[data-task-id]", has_text=province_case)).to_contain_text("审核复审")
    page.goto(f"/cases/{province_case}")
    expect(page.locator("#upper-of")).to_contain_text(f"上级核对编号 {REQUEST}），原案件 {CASE}，经")
    expect(page.locator("#upper-of")).to_contain_text(BATCH)
    expect(page.locator("#crosscity-title")).to_have_count(0)  # the origin is shown once
    sign_out(page)
    _county_and_province_work(live_server, county=False, province=True)

    # 转送县级 at the city
    sign_in(page, "cc_reviewer")
    claim_and_open(page, BATCH, "转送县级")
    submit_task(page, BATCH, "转送县级")
    page.goto(f"/cross-city/batches/{BATCH}")
    shoot("batch-returned")
    sign_out(page)

    # the county sees every step of its request, and where it is
    sign_in(page, "cy_reviewer")
    page.goto(f"/cases/{CASE}")
    section = page.locator(f"#escalation-{REQUEST}")
    expect(section).to_contain_text("跨地市核对")
    steps = section.locator("tbody tr")
    expect(steps).to_have_count(5)
    for n, status in enumerate(["待市级汇总", "市级审核中", "上级核对中", "上级已出具报告", "已反馈原核对机构"]):
        expect(steps.nth(n)).to_contain_text(status)
    shoot("county-case")
