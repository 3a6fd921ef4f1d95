"""上下分级核对 in the browser and the API (PS-5, PS-6): the 审核复审 page offers the case's upper items
(pre-filled as configured), the case page shows each escalation with its steps and the reports of every
level, ``GET /api/v1/cases/{case_no}/reports`` returns them with their level, the inbox warns of an
overdue upper report."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from engine.context import Actor
from engine.models import Escalation
from engine.models import Household
from engine.models import WorkflowInstance
from engine.policy import set_override
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.messages import deliver_message
from engine.services.timers import fire_due_timers
from tests.web.test_api_cases import _body
from tests.web.test_api_cases import _setup
from tests.web.test_api_tasks import _token
from tests.web.test_inbox import _post as post
from tests.web.test_inbox import login
from tests.web.test_login import assert_valid_html

ADMIN = Actor("admin", "admin")
INTAKE_OK = {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True}


def _tiered_case(app: Any, client: Any) -> str:
    _setup(app)
    ctx = app.extensions["hedui"].new_context()
    set_override(ctx, "verification_tiering", "tiered", actor=ADMIN)
    ctx.session.commit()
    case_no = client.post("/api/v1/entrustments", headers=_token(client, "hq_street_clerk"),
                          json=_body(1)).json["cases"][0]["case_no"]
    _steps(app, case_no, [("intake_check", INTAKE_OK, "cy_intake")])
    return case_no


def _steps(app: Any, case_no: str, steps: list[tuple[str, dict[str, Any], str]]) -> None:
    """Complete steps through the engine; an exchange step's units answer (no result rows: empty report)."""
    ctx = app.extensions["hedui"].new_context()
    instance = ctx.session.execute(select(WorkflowInstance).where(
        WorkflowInstance.business_key == case_no)).scalar_one()
    for bpmn_id, data, who in steps:
        task = next(t for t in list_open_tasks(ctx, instance_id=instance.id) if t.bpmn_id == bpmn_id)
        complete_task(ctx, task.id, data, actor=Actor(who, task.role_code))
        if bpmn_id == "prepare_exchange":
            for key in _waiting(ctx, instance.id):
                deliver_message(ctx, "exchange_result", key, {"result_id": 1}, actor=Actor("unit"))
    ctx.session.commit()


def _waiting(ctx: Any, instance_id: int) -> list[str]:
    from engine.models import MessageSubscription

    return sorted(ctx.session.execute(select(MessageSubscription.correlation_key).where(
        MessageSubscription.instance_id == instance_id, MessageSubscription.message_name == "exchange_result"))
        .scalars())


def _exchange_and_report(app: Any, case_no: str, staff: str) -> None:
    _steps(app, case_no, [("prepare_exchange", {"batch_checked": True}, f"{staff}_exchange_1"),
                          ("confirm_exchange", {"statuses_checked": True}, f"{staff}_exchange_2"),
                          ("issue_report", {}, f"{staff}_reporter")])


def _escalation(app: Any) -> Escalation:
    session = app.extensions["hedui"].new_context().session
    return session.execute(select(Escalation)).scalar_one()


def _review_task(app: Any, case_no: str) -> str:
    ctx = app.extensions["hedui"].new_context()
    instance = ctx.session.execute(select(WorkflowInstance).where(
        WorkflowInstance.business_key == case_no)).scalar_one()
    return next(t.id for t in list_open_tasks(ctx, instance_id=instance.id) if t.bpmn_id == "review")


def test_review_page_prefills_the_upper_items_and_sends_the_chosen_ones(  # type: ignore[no-untyped-def]
        app, client) -> None:
    case_no = _tiered_case(app, client)
    task_id = _review_task(app, case_no)
    login(client, "cy_reviewer")
    assert post(client, f"/tasks/{task_id}/claim").status_code == 302
    html = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert_valid_html(html)
    ticked = re.findall(r'name="upper_items" value="([A-Z-]+)" checked', html)
    assert ticked == ["CC-BANK", "CC-BDC", "CC-GA", "CC-GJJ", "CC-SCJG", "CC-SW", "JL-SBJ"]  # as configured
    assert "长春市公安局（由长春市社会救助家庭经济状况核对中心核对）" in html
    assert 'name="cross_city_items" value="JLS-BDC"' in html and 'value="CC-GA" checked' in html
    response = post(client, f"/tasks/{task_id}/complete", {"decision": "accept", "upper_items__shown": "1",
                                                            "upper_items": "CC-GA", "cross_city_items__shown": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)
    escalation = _escalation(app)
    assert (escalation.items, escalation.target_agency.code) == (["CC-GA"], "CC-HDZX")
    # PS-6: the city's case starts at 审核复审 and has nothing to send further up: no such fields on its page
    upper_no = app.extensions["hedui"].new_context().session.get(Household, escalation.upper_household_id).case_no
    upper_task = _review_task(app, upper_no)
    login(client, "cc_reviewer")
    assert post(client, f"/tasks/{upper_task}/claim").status_code == 302
    upper = client.get(f"/tasks/{upper_task}").get_data(as_text=True)
    assert_valid_html(upper)
    assert 'name="decision"' in upper
    assert not any(f'name="{n}' in upper for n in ("upper_items", "cross_city_items", "cross_city_reason"))
    assert post(client, f"/tasks/{upper_task}/complete", {"decision": "accept"}).status_code == 302


def test_review_page_refuses_a_cross_city_request_without_reason(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _tiered_case(app, client)
    task_id = _review_task(app, case_no)
    login(client, "cy_reviewer")
    assert post(client, f"/tasks/{task_id}/claim").status_code == 302
    response = post(client, f"/tasks/{task_id}/complete", {"decision": "accept", "upper_items__shown": "1",
                                                            "cross_city_items__shown": "1",
                                                            "cross_city_items": "JLS-BDC"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "提出跨地市核对时必须说明理由" in html
    assert 'value="JLS-BDC" checked' in html  # what was ticked is kept
    assert app.extensions["hedui"].new_context().session.execute(select(Escalation)).first() is None


def test_case_page_and_api_show_every_level(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _tiered_case(app, client)
    _steps(app, case_no, [("review", {"decision": "accept", "upper_items": ["CC-GA"]}, "cy_reviewer")])
    _exchange_and_report(app, case_no, "cy")
    upper_no = app.extensions["hedui"].new_context().session.get(Household, _escalation(app).upper_household_id).case_no
    _steps(app, upper_no, [("review", {"decision": "accept"}, "cc_reviewer")])
    _exchange_and_report(app, upper_no, "cc")

    reports = client.get(f"/api/v1/cases/{case_no}/reports", headers=_token(client, "hq_street_clerk")).json["reports"]
    assert [(r["level"], r["agency"]["code"], r["own"], r["case_no"]) for r in reports] == [
        ("县级", "CY-HDZX", True, case_no), ("市级", "CC-HDZX", False, upper_no)]
    assert reports[1]["escalation_no"] == _escalation(app).number
    login(client, "cy_reviewer")
    html = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert_valid_html(html)
    assert "上级核对" in html and _escalation(app).number in html and "已反馈原核对机构" in html
    assert 'data-report-level="市级"' in html and "长春市社会救助家庭经济状况核对中心（市级）" in html
    assert html.count("<tr><td>") >= 2  # the escalation's steps: entrusted at the city, returned to the county
    login(client, "cc_reviewer")
    upper = client.get(f"/cases/{upper_no}").get_data(as_text=True)
    assert 'id="upper-of"' in upper and case_no in upper
    origin = upper.split('id="upper-of"')[1].split("</p>")[0]
    assert "返回原核对机构" in origin and "汇总委托" not in origin  # tiered: no city batch in between


def test_inbox_warns_of_an_overdue_upper_report(app, client, clock) -> None:  # type: ignore[no-untyped-def]
    case_no = _tiered_case(app, client)
    _steps(app, case_no, [("review", {"decision": "accept", "upper_items": ["CC-GA"]}, "cy_reviewer")])
    _exchange_and_report(app, case_no, "cy")
    clock.set(datetime(2026, 12, 15, 9, tzinfo=ZoneInfo("Asia/Shanghai")))
    ctx = app.extensions["hedui"].new_context()
    assert fire_due_timers(ctx) >= 1
    ctx.session.commit()
    login(client, "cy_reviewer")
    html = client.get("/inbox").get_data(as_text=True)
    assert 'id="upper-overdue"' in html and case_no in html and _escalation(app).number in html
    login(client, "ng_reviewer")  # another county's staff are not told
    assert 'id="upper-overdue"' not in client.get("/inbox").get_data(as_text=True)


def test_the_api_completes_the_review_with_the_same_form(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _tiered_case(app, client)
    task_id = _review_task(app, case_no)
    reviewer = _token(client, "cy_reviewer")
    refused = client.post(f"/api/v1/tasks/{task_id}/complete", headers=reviewer,
                          json={"data": {"decision": "accept", "upper_items": ["CY-CLH"]}})
    assert refused.status_code == 422
    assert refused.json["details"]["fields"]["upper_items"] == ["以下事项不属于本案可由上级核对的事项：CY-CLH"]
    done = client.post(f"/api/v1/tasks/{task_id}/complete", headers=reviewer,
                       json={"data": {"decision": "accept", "upper_items": ["JL-SBJ"]}})
    assert done.status_code == 200, done.json
    assert (_escalation(app).target_agency.code, _escalation(app).items) == ("JL-HDZX", ["JL-SBJ"])


def test_a_recheck_case_is_tiered_and_lists_every_levels_reverification_report(  # type: ignore[no-untyped-def]
        app, client) -> None:
    """PS-5 with PS-9: the recheck's case offers its upper items at 审核复审 like a standard case; the original
    case's report list and the recheck show the 复核报告 of each level."""
    from tests.web.test_rechecks import _case
    from tests.web.test_rechecks import _recheck

    case_no = _case(app, client)  # verified under ``single``
    ctx = app.extensions["hedui"].new_context()
    set_override(ctx, "verification_tiering", "tiered", actor=ADMIN)
    ctx.session.commit()
    clerk, assistance = _token(client, "hq_street_clerk"), _token(client, "cy_assistance")
    created = client.post("/api/v1/rechecks", headers=clerk, json=_recheck(case_no, trigger="complaint")).json
    decided = client.post(f"/api/v1/tasks/{created['open_task_id']}/complete", headers=assistance,
                          json={"data": {"decision": "recheck", "agency_level": "county"}})
    assert decided.status_code == 200, decided.json
    recheck_case = client.get(f"/api/v1/rechecks/{created['recheck_no']}",
                              headers=assistance).json["verification_case_no"]
    _steps(app, recheck_case, [("intake_check", INTAKE_OK, "cy_intake")])
    task_id = _review_task(app, recheck_case)
    login(client, "cy_reviewer")
    assert post(client, f"/tasks/{task_id}/claim").status_code == 302
    html = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert_valid_html(html)
    ticked = re.findall(r'name="upper_items" value="([A-Z-]+)" checked', html)
    assert ticked == ["CC-BANK", "CC-BDC", "CC-GA", "CC-GJJ", "CC-SCJG", "CC-SW", "JL-SBJ"]
    response = post(client, f"/tasks/{task_id}/complete", {"decision": "accept", "upper_items__shown": "1",
                                                            "upper_items": "CC-GA", "cross_city_items__shown": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)
    escalation = _escalation(app)
    assert (escalation.items, escalation.target_agency.code) == (["CC-GA"], "CC-HDZX")
    upper_no = app.extensions["hedui"].new_context().session.get(Household, escalation.upper_household_id).case_no
    _exchange_and_report(app, recheck_case, "cy")
    _steps(app, upper_no, [("review", {"decision": "accept"}, "cc_reviewer")])
    _exchange_and_report(app, upper_no, "cc")
    _steps(app, recheck_case, [("feedback", {}, "cy_assistance")])

    reports = client.get(f"/api/v1/cases/{case_no}/reports", headers=clerk).json["reports"]
    assert [(r["kind"], r["level"], r["agency"]["code"], r["own"], r["case_no"]) for r in reports] == [
        ("verification", "县级", "CY-HDZX", True, case_no), ("reverification", "县级", "CY-HDZX", True, recheck_case),
        ("reverification", "市级", "CC-HDZX", False, upper_no)]
    detail = client.get(f"/api/v1/rechecks/{created['recheck_no']}", headers=assistance).json
    assert detail["report_no"] == reports[1]["number"]
    login(client, "cy_assistance")
    page = client.get(f"/rechecks/{created['recheck_no']}").get_data(as_text=True)
    assert_valid_html(page)
    listed = re.findall(r'>([^<>]+)</a>（[^；]+；([^，]+)，(\S\S)(?:，上级核对 ([^）]+))?）', page)
    assert listed == [(reports[1]["number"], "朝阳区社会救助家庭经济状况核对中心", "县级", ""),
                      (reports[2]["number"], "长春市社会救助家庭经济状况核对中心", "市级", escalation.number)], listed
    assert f'id="recheck-report">{reports[1]["number"]}<' in page
