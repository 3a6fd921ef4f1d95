"""Every path of 上下分级核对，分级出具报告 (JL 规程 三; BJ 第十六条（四）; PS-5, PS-6) on both policy profiles.

The demo region has sharing units at three levels: 朝阳区残疾人联合会 (county), six 长春市 units (city)
and 吉林省社会保险事业管理局 (province). With ``verification_tiering = tiered`` a 朝阳区 case exchanges
only with its county unit; at 审核复审 the county decides which upper items go up, each upper agency
runs its own case from 审核复审 with its own staff and issues its own report, and the county case waits
(15 working days, BJ 第十六条（四）) and then returns all reports together. ``province`` moves every item
to the province agency. Every command reloads what was saved (``expire_all`` in the helpers).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine.assignment import candidates
from engine.audit import replay_instance
from engine.context import EngineContext
from engine.errors import FormValidationError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import SeparationOfDutiesError
from engine.history import verify_chain
from engine.models import EscalationStatus
from engine.models import Event
from engine.models import Household
from engine.models import HumanTask
from engine.models import InstanceStatus
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.reports.levels import reports_with_levels
from engine.reports.render import cover_sentences
from engine.reports.service import contents
from engine.services.escalations import overdue_escalations
from engine.services.instances import claim_task
from engine.services.instances import complete_task
from engine.services.org import get_unit_by_code
from engine.services.org import grant_role
from engine.services.timers import fire_due_timers
from engine.services.users import create_user
from engine.services.users import get_user
from tests.engine.escalation_factory import ADMIN
from tests.engine.escalation_factory import INTAKE_OK
from tests.engine.escalation_factory import actor
from tests.engine.escalation_factory import do
from tests.engine.escalation_factory import enrol
from tests.engine.escalation_factory import escalations_of
from tests.engine.escalation_factory import exchange
from tests.engine.escalation_factory import open_ids
from tests.engine.escalation_factory import prepare
from tests.engine.escalation_factory import report
from tests.engine.escalation_factory import set_tiering
from tests.engine.escalation_factory import start_data
from tests.engine.escalation_factory import task_of
from tests.engine.escalation_factory import upper_instance
from tests.engine.escalation_factory import upper_walk
from tests.engine.recheck_factory import prepared_once

#: the demo region at every level, every diagram and the demo sharing catalogue, seeded once for the module
SEED_ONCE = prepare

SHANGHAI = ZoneInfo("Asia/Shanghai")
CITY_UNITS = ["CC-BANK", "CC-BDC", "CC-GA", "CC-GJJ", "CC-SCJG", "CC-SW"]
UPPER_UNITS = [*CITY_UNITS, "JL-SBJ"]
HEAD = ["start", "apply_defaults", "gw_entry", "intake_check", "gw_intake", "review", "gw_review", "plan_upper",
        "gw_local"]
LOCAL = ["prepare_exchange", "data_exchange", "summarize_exchange", "confirm_exchange", "issue_report",
         "gw_after_report", "gw_upper"]
UPPER_PATH = ["start", "apply_defaults", "gw_entry", "review", "gw_review", "plan_upper", "gw_local", *LOCAL[:-1],
              "end_reported_upward"]


@pytest.fixture(params=["jilin", "baoji"])
def prepared(ctx: EngineContext, request: pytest.FixtureRequest) -> EngineContext:
    ctx.policy_profile = request.param
    prepared_once(ctx)
    set_tiering(ctx, "tiered")
    return ctx


def _path(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    path: list[str] = []
    for step in load_workflow(ctx, instance).trace():
        if step.process_id == "standard_verification" and (not path or path[-1] != step.bpmn_id):
            path.append(step.bpmn_id)
    return path


def _events(ctx: EngineContext, instance: WorkflowInstance, kind: str) -> list[dict[str, Any]]:
    return list(ctx.session.execute(select(Event.payload).where(Event.instance_id == instance.id, Event.kind == kind)
                                    .order_by(Event.seq)).scalars())


def _review(ctx: EngineContext, household: Household, **form: Any) -> WorkflowInstance:
    county = household.instance
    assert county is not None
    do(ctx, county, "intake_check", INTAKE_OK, "cy_intake")
    do(ctx, county, "review", {"decision": "accept", **form}, "cy_reviewer")
    return county


def _city_item_reported_locally(ctx: EngineContext) -> tuple[Household, WorkflowInstance, Any]:
    """A case sending 长春市公安局 up; the county has issued its own report and waits for the city."""
    [household] = enrol(ctx)
    county = _review(ctx, household, upper_items=["CC-GA"])
    [escalation] = escalations_of(ctx, household)
    exchange(ctx, county, "cy")
    report(ctx, county, "cy")
    return household, county, escalation


def test_tiered_upper_items_are_checked_above_and_all_reports_return_together(prepared: EngineContext) -> None:
    """PS-5, PS-6: the city and the province each run their own case and report; the county returns all three."""
    ctx = prepared
    [household] = enrol(ctx)
    county = household.instance
    start = start_data(ctx, county)
    assert start["sharing_units"] == ["CY-CLH"] and start["upper_units"] == UPPER_UNITS
    assert start["upper_plan"] == {"CC-HDZX": CITY_UNITS, "JL-HDZX": ["JL-SBJ"]} and start["upper_days"] == 15

    _review(ctx, household)  # upper_items omitted: every upper item of the case goes up
    city, province = escalations_of(ctx, household)
    assert (city.target_agency.code, city.items, province.target_agency.code, province.items) == (
        "CC-HDZX", CITY_UNITS, "JL-HDZX", ["JL-SBJ"])
    assert {city.entrustment.number, province.entrustment.number} == {"SJWT-CY-HDZX-2026-000001",
                                                                       "SJWT-CY-HDZX-2026-000002"}
    assert all(e.raised_by == "cy_reviewer" and e.status is EscalationStatus.ENTRUSTED for e in (city, province))
    city_case, province_case = upper_instance(ctx, city), upper_instance(ctx, province)
    for upper, agency, reviewer in ((city_case, "CC-HDZX", "cc_reviewer"), (province_case, "JL-HDZX", "jl_reviewer")):
        review = task_of(ctx, upper, "review")  # PS-6: at 审核复审, assigned to the upper agency's own staff
        assert review.unit_id == get_unit_by_code(ctx, agency).id and review.role_code == "review_officer"
        assert [u.username for u in candidates(ctx, review)] == [reviewer]
    assert open_ids(ctx, county) == ["prepare_exchange"]  # the county checks its own item meanwhile

    exchange(ctx, county, "cy")
    report(ctx, county, "cy")
    assert open_ids(ctx, county) == []  # waiting for the upper reports
    upper_walk(ctx, city_case, "cc")
    assert city.status is EscalationStatus.RETURNED and open_ids(ctx, county) == []  # the province is pending
    upper_walk(ctx, province_case, "jl")
    assert province.status is EscalationStatus.RETURNED and open_ids(ctx, county) == ["feedback"]
    do(ctx, county, "feedback", {}, "hq_street_clerk")

    assert county.status is InstanceStatus.COMPLETED
    assert _path(ctx, county) == [*HEAD, *LOCAL, "wait_upper", "receive_upper_reports", "feedback", "end_completed"]
    for upper in (city_case, province_case):
        assert upper.status is InstanceStatus.COMPLETED and _path(ctx, upper) == UPPER_PATH
        done = ctx.session.execute(select(HumanTask.bpmn_id).where(HumanTask.instance_id == upper.id)).scalars()
        assert "feedback" not in set(done)  # no 反馈委托单位 step assigned to the county
    assert [(s.status.value, s.unit.code) for s in city.steps] == [("entrusted", "CC-HDZX"), ("returned", "CY-HDZX")]
    decision = ctx.session.execute(select(WorkflowInstance).where(
        WorkflowInstance.process_id == "decision_feedback")).scalars().all()
    assert [d.business_key for d in decision] == [household.case_no]  # only the original case asks for a decision

    listed = reports_with_levels(ctx, household)
    assert [(r.level, r.agency_code, r.own) for r in listed] == [
        ("县级", "CY-HDZX", True), ("市级", "CC-HDZX", False), ("省级", "JL-HDZX", False)]
    own, from_city, _ = (contents(r.state.report) for r in listed)
    assert [(lv["agency_code"], lv["own"]) for lv in own["levels"]] == [
        ("CY-HDZX", True), ("CC-HDZX", False), ("JL-HDZX", False)]
    assert own["levels"][0]["checked"] == ["朝阳区残疾人联合会"]
    assert any(s.startswith("本次核对实行上下分级核对、分级出具报告：本中心（县级）核对了朝阳区残疾人联合会；"
                            "长春市社会救助家庭经济状况核对中心（市级）核对") for s in cover_sentences(own))
    assert from_city["addressee"]["code"] == "CY-HDZX"  # the upper report goes back to the lower agency
    assert from_city["entrusted_by"]["case_no"] == household.case_no
    assert any("受朝阳区社会救助家庭经济状况核对中心委托" in s for s in cover_sentences(from_city))
    for instance in (county, city_case, province_case):
        assert verify_chain(ctx.session, f"instance:{instance.id}") == []
        assert replay_instance(ctx, instance.id).consistent  # the recorded commands rebuild the saved state


def test_chosen_upper_items_only_and_an_early_upper_report(prepared: EngineContext) -> None:
    """The county chooses one city item; the rest is dropped and recorded. The city reports before the
    county's own report, so the county goes on as soon as its report is issued."""
    ctx = prepared
    [household] = enrol(ctx)
    county = _review(ctx, household, upper_items=["CC-GA"])
    [escalation] = escalations_of(ctx, household)
    assert (escalation.target_agency.code, escalation.items) == ("CC-HDZX", ["CC-GA"])
    [dropped] = _events(ctx, county, "upper_items_dropped")
    assert dropped["items"] == [u for u in UPPER_UNITS if u != "CC-GA"]
    upper_walk(ctx, upper_instance(ctx, escalation), "cc")
    assert escalation.status is EscalationStatus.RETURNED
    exchange(ctx, county, "cy")
    report(ctx, county, "cy")
    assert open_ids(ctx, county) == ["feedback"]
    assert _path(ctx, county) == [*HEAD, *LOCAL, "wait_upper", "receive_upper_reports"]


def test_no_upper_items_keeps_the_case_local(prepared: EngineContext) -> None:
    """Nothing chosen for the upper agencies: no escalation, no wait; the upper items are dropped."""
    ctx = prepared
    [household] = enrol(ctx)
    county = _review(ctx, household, upper_items=[])
    assert escalations_of(ctx, household) == []
    assert _events(ctx, county, "upper_items_dropped")[0]["items"] == UPPER_UNITS
    exchange(ctx, county, "cy")
    report(ctx, county, "cy")
    do(ctx, county, "feedback", {}, "hq_street_clerk")
    assert _path(ctx, county) == [*HEAD, *LOCAL, "feedback", "end_completed"]
    [own] = reports_with_levels(ctx, household)
    content = contents(own.state.report)
    assert own.own and len(content["levels"]) == 1 and "entrusted_by" not in content
    assert not any("分级" in s for s in cover_sentences(content))


def test_province_fully_connected_moves_every_item_and_the_report_up(prepared: EngineContext) -> None:
    """省级全联通 is a setting: the county only forwards, the province checks everything and reports."""
    ctx = prepared
    set_tiering(ctx, "province")
    [household] = enrol(ctx)
    county = household.instance
    start = start_data(ctx, county)
    assert start["sharing_units"] == [] and start["upper_plan"] == {"JL-HDZX": [*CITY_UNITS, "CY-CLH", "JL-SBJ"]}
    _review(ctx, household)
    [escalation] = escalations_of(ctx, household)
    assert escalation.target_agency.code == "JL-HDZX" and len(escalation.items) == 8
    assert open_ids(ctx, county) == []  # no local exchange, no local report
    upper_walk(ctx, upper_instance(ctx, escalation), "jl")
    assert open_ids(ctx, county) == ["feedback"]
    do(ctx, county, "feedback", {}, "hq_street_clerk")
    assert _path(ctx, county) == [*HEAD, "gw_upper", "wait_upper", "receive_upper_reports", "feedback",
                                  "end_completed"]
    [listed] = reports_with_levels(ctx, household)
    assert (listed.level, listed.own) == ("省级", False)
    assert len({s["unit_code"] for s in contents(listed.state.report)["sources"]}) == 8


def test_upper_case_terminated_at_its_review_returns_with_the_reason(prepared: EngineContext) -> None:
    ctx = prepared
    household, county, escalation = _city_item_reported_locally(ctx)
    do(ctx, upper_instance(ctx, escalation), "review", {"decision": "terminate", "reason": "授权书已过期，无法核对"},
       "cc_reviewer")
    assert escalation.status is EscalationStatus.CANCELLED and escalation.report_id is None
    assert escalation.steps[-1].note == "上级核对机构终止核对：授权书已过期，无法核对"
    assert open_ids(ctx, county) == ["feedback"]
    assert [r.own for r in reports_with_levels(ctx, household)] == [True]


def test_overdue_upper_report_is_recorded_and_the_case_keeps_waiting(prepared: EngineContext, clock: Any) -> None:
    """15 working days (BJ 第十六条（四）): the lapse is on the case's history; the case waits on."""
    ctx = prepared
    household, county, escalation = _city_item_reported_locally(ctx)
    clock.set(datetime(2026, 12, 14, 23, 59, 59, tzinfo=SHANGHAI))
    county_agency = [escalation.origin_agency_unit_id]
    assert fire_due_timers(ctx) == 0 and overdue_escalations(ctx, agency_unit_ids=county_agency) == []
    clock.set(datetime(2026, 12, 15, 9, tzinfo=SHANGHAI))
    fire_due_timers(ctx)
    ctx.session.expire_all()
    [late] = _events(ctx, county, "upper_reports_overdue")
    assert late["escalations"][0]["escalation_no"] == escalation.number
    assert overdue_escalations(ctx, agency_unit_ids=county_agency) == [escalation]
    assert overdue_escalations(ctx, user_id=get_user(ctx, "cy_intake").id) == [escalation]
    assert overdue_escalations(ctx, user_id=get_user(ctx, "ng_intake").id) == []
    assert open_ids(ctx, county) == [] and county.status is InstanceStatus.RUNNING
    upper_walk(ctx, upper_instance(ctx, escalation), "cc")
    assert open_ids(ctx, county) == ["feedback"]
    assert _path(ctx, county)[-4:] == ["wait_upper", "upper_overdue", "record_upper_overdue",
                                       "receive_upper_reports_late"]


def test_the_county_reviewer_cannot_review_the_upper_case(prepared: EngineContext) -> None:
    """Issue #7: whoever raised the escalation cannot review it at the city, even holding the role there."""
    ctx = prepared
    [household] = enrol(ctx)
    _review(ctx, household, upper_items=["CC-GA"])
    [escalation] = escalations_of(ctx, household)
    upper = upper_instance(ctx, escalation)
    user = actor(ctx, "cy_reviewer", "review_officer")
    grant_role(ctx, get_user(ctx, "cy_reviewer"), get_unit_by_code(ctx, "CC-HDZX"), "review_officer", actor=ADMIN)
    review = task_of(ctx, upper, "review")
    assert [u.username for u in candidates(ctx, review)] == ["cc_reviewer"]
    for attempt in (claim_task, lambda c, t, actor: complete_task(c, t, {"decision": "accept"}, actor=actor)):
        with pytest.raises(SeparationOfDutiesError) as refused:
            attempt(ctx, review.id, actor=user)
        assert refused.value.details["rule"] == "SD-1"
    do(ctx, upper, "review", {"decision": "accept"}, "cc_reviewer")


def test_jurisdiction_holds_across_levels(prepared: EngineContext) -> None:
    """An upper officer cannot act on the county's steps, nor a county officer on the upper case's;
    another city's agency does not even see them (OR-3)."""
    ctx = prepared
    [household] = enrol(ctx)
    county = household.instance
    do(ctx, county, "intake_check", INTAKE_OK, "cy_intake")
    with pytest.raises(PermissionDeniedError) as refused:
        complete_task(ctx, task_of(ctx, county, "review").id, {"decision": "accept"},
                      actor=actor(ctx, "cc_reviewer", "review_officer"))
    assert refused.value.code == "role_required"
    do(ctx, county, "review", {"decision": "accept", "upper_items": ["CC-GA"]}, "cy_reviewer")
    [escalation] = escalations_of(ctx, household)
    upper = upper_instance(ctx, escalation)
    do(ctx, upper, "review", {"decision": "accept"}, "cc_reviewer")
    with pytest.raises(PermissionDeniedError):
        claim_task(ctx, task_of(ctx, upper, "prepare_exchange").id, actor=actor(ctx, "cy_exchange_1",
                                                                                  "exchange_officer"))
    with pytest.raises(PermissionDeniedError):
        claim_task(ctx, task_of(ctx, county, "prepare_exchange").id, actor=actor(ctx, "cc_exchange_1",
                                                                                   "exchange_officer"))
    stranger = create_user(ctx, "jls_reviewer", "吉林市核对中心复审", "hedui-demo-pass", actor=ADMIN)
    grant_role(ctx, stranger, get_unit_by_code(ctx, "JLS-HDZX"), "review_officer", actor=ADMIN)
    for instance in (county, upper):
        with pytest.raises(NotFoundError):
            claim_task(ctx, task_of(ctx, instance, "prepare_exchange").id,
                       actor=actor(ctx, "jls_reviewer", "exchange_officer"))


def test_review_refuses_items_that_are_not_the_cases(prepared: EngineContext) -> None:
    """Validation in Chinese; nothing of a refused review is kept."""
    ctx = prepared
    [household] = enrol(ctx)
    county = household.instance
    do(ctx, county, "intake_check", INTAKE_OK, "cy_intake")
    bad = [({"upper_items": ["CY-CLH", "CC-XX"]}, "upper_items", "以下事项不属于本案可由上级核对的事项：CY-CLH、CC-XX"),
           ({"cross_city_items": ["CC-GA"], "cross_city_reason": "x"}, "cross_city_items",
            "以下事项本案已在本地或上级核对，不需跨地市核对：CC-GA"),
           ({"cross_city_items": ["JLS-HDZX"], "cross_city_reason": "x"}, "cross_city_items",
            "以下不是本省其他地市的信息共享单位：JLS-HDZX"),
           ({"cross_city_items": ["JLS-BDC"]}, "cross_city_reason", "提出跨地市核对时必须说明理由")]
    for form, field, message in bad:
        with pytest.raises(FormValidationError) as refused:  # checked before anything is written
            complete_task(ctx, task_of(ctx, county, "review").id, {"decision": "accept", **form},
                          actor=actor(ctx, "cy_reviewer", "review_officer"))
        ctx.session.expire_all()
        assert refused.value.details["fields"][field] == [message]
        assert open_ids(ctx, county) == ["review"] and escalations_of(ctx, household) == []


def test_single_mode_is_unchanged(prepared: EngineContext) -> None:
    """The default of both profiles: the county exchanges with every unit at its level and above."""
    ctx = prepared
    set_tiering(ctx, "single")
    [household] = enrol(ctx)
    start = start_data(ctx, household.instance)
    assert start["sharing_units"] == [*CITY_UNITS, "CY-CLH", "JL-SBJ"] and start["upper_units"] == []
    county = _review(ctx, household)
    assert escalations_of(ctx, household) == [] and open_ids(ctx, county) == ["prepare_exchange"]
