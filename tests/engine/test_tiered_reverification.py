"""Re-verification (复核) under the tiering policy: 上下分级核对，分级出具报告 (PS-5, PS-6) for the cases of an
individual recheck (PS-9, DO-8) and of a batch re-verification (PS-8).

A re-verification case is planned like a standard case: with ``verification_tiering = tiered`` the
朝阳区 agency checks its own unit, the county's 审核复审 sends the upper items to the city and the
province (one escalation, one upward 委托书 and one upper case each), the county case waits for their
reports, and every level issues its own 复核报告 — compared with the original report only for the items
that level checked. ``province`` moves every item up; ``single`` keeps the old behaviour. The original
household is verified under ``single`` first (the policy changed since). Every command reloads what was
saved (``expire_all`` in the helpers).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine.audit import replay_instance
from engine.context import EngineContext
from engine.history import verify_chain
from engine.models import EscalationStatus
from engine.models import Event
from engine.models import Household
from engine.models import InstanceStatus
from engine.models import Recheck
from engine.models import RecheckStatus
from engine.models import WorkflowInstance
from engine.models.report import ReportKind
from engine.persistence import load_workflow
from engine.reports.levels import reports_with_levels
from engine.reports.render import OWN_ITEMS_ONLY
from engine.reports.render import review_sentences
from engine.reports.service import contents
from engine.reports.service import current_report
from engine.services import tiering
from engine.services.instances import list_open_tasks
from engine.services.org import get_unit_by_code
from engine.services.recheck_batches import create_batch
from engine.services.recheck_batches import run_batch
from engine.services.rechecks import file_recheck
from tests.engine.escalation_factory import INTAKE_OK
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
from tests.engine.recheck_factory import as_user
from tests.engine.recheck_factory import prepared_once
from tests.engine.recheck_factory import verify

#: the demo region at every level, every diagram and the demo sharing catalogue, seeded once for the module
SEED_ONCE = prepare

CITY_UNITS = ["CC-BANK", "CC-BDC", "CC-GA", "CC-GJJ", "CC-SCJG", "CC-SW"]
ALL_UNITS = [*CITY_UNITS, "CY-CLH", "JL-SBJ"]


@pytest.fixture(params=["jilin", "baoji"])
def original(ctx: EngineContext, request: pytest.FixtureRequest) -> Household:
    """A household verified to its report under ``single``; then the policy turns to ``tiered``."""
    ctx.policy_profile = request.param
    prepared_once(ctx)
    [household] = enrol(ctx)
    verify(ctx, household)
    ctx.session.expire_all()
    set_tiering(ctx, "tiered")
    return household


def _entrust(ctx: EngineContext, household: Household) -> tuple[Recheck, Household]:
    """A complaint (举报) on the household, decided by the county department: a 复核委托书 to 朝阳区核对中心."""
    recheck = file_recheck(ctx, case_no=household.case_no, initiating_unit=get_unit_by_code(ctx, "HQ-MZB"),
                           form={"trigger": "complaint", "requester_name": "匿名", "reason": "举报隐瞒存款",
                                 "requested_on": ctx.today().isoformat()},
                           actor=as_user(ctx, "hq_street_clerk", "assistance_officer"))
    ctx.session.expire_all()
    do(ctx, recheck.instance, "decide_recheck", {"decision": "recheck", "agency_level": "county"}, "cy_assistance")
    recheck = ctx.session.get(Recheck, recheck.id)
    assert recheck is not None and recheck.status is RecheckStatus.ENTRUSTED
    case = recheck.verification_household
    assert case is not None and case.instance is not None
    return recheck, case


def _reviewed(ctx: EngineContext, case: Household, **form: Any) -> WorkflowInstance:
    county = case.instance
    assert county is not None
    do(ctx, county, "intake_check", INTAKE_OK, "cy_intake")
    do(ctx, county, "review", {"decision": "accept", **form}, "cy_reviewer")
    return county


def _outcome(ctx: EngineContext, recheck: Recheck) -> dict[str, Any]:
    """What 登记复核结果 is shown: the linked case's end and report."""
    instance = recheck.instance
    assert instance is not None and open_ids(ctx, instance) == ["record_result"]
    return dict(load_workflow(ctx, instance).task_data(task_of(ctx, instance, "record_result").id)
                ["verification_outcome"])


def _finish(ctx: EngineContext, recheck: Recheck) -> Recheck:
    do(ctx, recheck.instance, "record_result", {"result": "复核完成"}, "cy_assistance")
    done = ctx.session.get(Recheck, recheck.id)
    assert done is not None and done.status is RecheckStatus.COMPLETED
    return done


def _consistent(ctx: EngineContext, *instances: WorkflowInstance | None) -> None:
    for instance in instances:
        assert instance is not None
        assert verify_chain(ctx.session, f"instance:{instance.id}") == []
        assert replay_instance(ctx, instance.id).consistent


def test_tiered_recheck_checks_upper_items_above_and_every_level_issues_a_reverification_report(
        ctx: EngineContext, original: Household) -> None:
    """PS-5, PS-6, PS-9, DO-8: planned like a standard case; the county's 复核报告 is linked, the upper ones listed."""
    recheck, case = _entrust(ctx, original)
    start = start_data(ctx, case.instance)
    assert start["sharing_units"] == ["CY-CLH"] and start["upper_units"] == [*CITY_UNITS, "JL-SBJ"]
    assert start["upper_plan"] == {"CC-HDZX": CITY_UNITS, "JL-HDZX": ["JL-SBJ"]}
    assert (start["verification_days"], start["upper_days"]) == (15, 15)  # 复核: 15 working days (PS-10)

    county = _reviewed(ctx, case)  # upper_items omitted: every upper item goes up
    city, province = escalations_of(ctx, case)
    assert [(e.target_agency.code, e.items, e.status) for e in (city, province)] == [
        ("CC-HDZX", CITY_UNITS, EscalationStatus.ENTRUSTED), ("JL-HDZX", ["JL-SBJ"], EscalationStatus.ENTRUSTED)]
    assert [e.entrustment.number for e in (city, province)] == ["SJWT-CY-HDZX-2026-000001",
                                                                 "SJWT-CY-HDZX-2026-000002"]
    city_case, province_case = upper_instance(ctx, city), upper_instance(ctx, province)
    for upper, agency in ((city_case, "CC-HDZX"), (province_case, "JL-HDZX")):
        assert open_ids(ctx, upper) == ["review"]  # PS-6: at 审核复审, with the upper agency's staff
        assert task_of(ctx, upper, "review").unit_id == get_unit_by_code(ctx, agency).id
    assert open_ids(ctx, county) == ["prepare_exchange"]

    exchange(ctx, county, "cy")
    report(ctx, county, "cy")
    assert open_ids(ctx, county) == [] and open_ids(ctx, recheck.instance) == []  # both wait for the upper reports
    upper_walk(ctx, city_case, "cc")
    assert open_ids(ctx, county) == []
    upper_walk(ctx, province_case, "jl")
    assert open_ids(ctx, county) == ["feedback"]
    do(ctx, county, "feedback", {}, "cy_assistance")  # back to the department that entrusted the 复核
    assert county.status is InstanceStatus.COMPLETED

    own = current_report(ctx, case.case_no)
    assert own is not None and own.report.kind is ReportKind.REVERIFICATION
    assert _outcome(ctx, recheck) == {"case_no": case.case_no, "end": "end_completed", "report_no": own.report.number}
    recheck = _finish(ctx, recheck)
    assert recheck.report_no == own.report.number

    listed = reports_with_levels(ctx, case)
    assert [(r.level, r.agency_code, r.own, r.state.report.kind) for r in listed] == [
        ("县级", "CY-HDZX", True, ReportKind.REVERIFICATION), ("市级", "CC-HDZX", False, ReportKind.REVERIFICATION),
        ("省级", "JL-HDZX", False, ReportKind.REVERIFICATION)]
    bodies = [contents(r.state.report) for r in listed]
    assert [(lv["agency_code"], lv["own"]) for lv in bodies[0]["levels"]] == [
        ("CY-HDZX", True), ("CC-HDZX", False), ("JL-HDZX", False)]
    first_report = current_report(ctx, original.case_no)
    assert first_report is not None
    for body in bodies:
        review = body["reverification"]
        assert review["trigger"]["recheck_no"] == recheck.number
        assert review["original"]["number"] == first_report.report.number
        # each level compares only its own items: the others are not "（未核对）" in its report
        assert review["scope"] == "own_items" and review["differences"] == []
        assert OWN_ITEMS_ONLY in review_sentences(review)
    assert bodies[1]["entrusted_by"]["case_no"] == case.case_no

    # the original case lists its report, the county's 复核报告 and those of the upper agencies
    assert [(r.agency_code, r.own, r.state.report.kind) for r in reports_with_levels(ctx, original)] == [
        ("CY-HDZX", True, ReportKind.VERIFICATION), ("CY-HDZX", True, ReportKind.REVERIFICATION),
        ("CC-HDZX", False, ReportKind.REVERIFICATION), ("JL-HDZX", False, ReportKind.REVERIFICATION)]
    [linked] = ctx.session.execute(select(Event.payload).where(
        Event.instance_id == original.instance_id, Event.kind == "recheck_report_issued")).scalars().all()
    assert linked["number"] == own.report.number
    assert linked["upper_reports"] == [r.state.report.number for r in listed[1:]]
    _consistent(ctx, county, city_case, province_case, recheck.instance)


def test_province_wide_recheck_is_checked_and_reported_by_the_province(ctx: EngineContext,
                                                                       original: Household) -> None:
    """省级全联通: the county only forwards; the province's 复核报告 is the one the recheck links."""
    set_tiering(ctx, "province")
    recheck, case = _entrust(ctx, original)
    start = start_data(ctx, case.instance)
    assert start["sharing_units"] == [] and start["upper_plan"] == {"JL-HDZX": ALL_UNITS}
    county = _reviewed(ctx, case)
    [escalation] = escalations_of(ctx, case)
    assert escalation.target_agency.code == "JL-HDZX" and sorted(escalation.items) == sorted(ALL_UNITS)
    assert open_ids(ctx, county) == []  # no local exchange, no local report
    province_case = upper_instance(ctx, escalation)
    upper_walk(ctx, province_case, "jl")
    do(ctx, county, "feedback", {}, "cy_assistance")

    assert current_report(ctx, case.case_no) is None
    upper = current_report(ctx, escalation.upper_household.case_no)
    assert upper is not None and upper.report.kind is ReportKind.REVERIFICATION
    assert _outcome(ctx, recheck)["report_no"] == upper.report.number
    recheck = _finish(ctx, recheck)
    assert recheck.report_no == upper.report.number
    review = contents(upper.report)["reverification"]
    # the province checked every item of the original report: compared in full, totals included
    assert review["trigger"]["recheck_no"] == recheck.number and "scope" not in review
    [(level, own)] = [(r.level, r.own) for r in reports_with_levels(ctx, case)]
    assert (level, own) == ("省级", False)
    _consistent(ctx, county, province_case, recheck.instance)


def test_single_mode_recheck_is_unchanged(ctx: EngineContext, original: Household) -> None:
    set_tiering(ctx, "single")
    _, case = _entrust(ctx, original)
    start = start_data(ctx, case.instance)
    assert start["sharing_units"] == ALL_UNITS and start["upper_units"] == []
    county = _reviewed(ctx, case)
    assert escalations_of(ctx, case) == [] and open_ids(ctx, county) == ["prepare_exchange"]


def test_terminated_reviews_of_a_tiered_recheck(ctx: EngineContext, original: Household) -> None:
    """The county ends the 复核 at 审核复审: nothing goes up, the recheck learns it without a report. An upper
    agency ends its part: the escalation comes back cancelled and the county's 复核报告 alone is linked."""
    recheck, case = _entrust(ctx, original)
    do(ctx, case.instance, "intake_check", INTAKE_OK, "cy_intake")
    do(ctx, case.instance, "review", {"decision": "terminate", "reason": "该户已迁出本县"}, "cy_reviewer")
    assert escalations_of(ctx, case) == []
    assert _outcome(ctx, recheck) == {"case_no": case.case_no, "end": "end_terminated", "report_no": None}
    recheck = _finish(ctx, recheck)
    assert recheck.report_no is None

    recheck, case = _entrust(ctx, original)
    county = _reviewed(ctx, case, upper_items=["CC-GA"])
    [escalation] = escalations_of(ctx, case)
    do(ctx, upper_instance(ctx, escalation), "review", {"decision": "terminate", "reason": "授权书已过期"},
       "cc_reviewer")
    assert escalation.status is EscalationStatus.CANCELLED
    exchange(ctx, county, "cy")
    report(ctx, county, "cy")
    do(ctx, county, "feedback", {}, "cy_assistance")
    own = current_report(ctx, case.case_no)
    assert own is not None and _outcome(ctx, recheck)["report_no"] == own.report.number
    assert [lv["agency_code"] for lv in contents(own.report)["levels"]] == ["CY-HDZX"]  # the city reported nothing
    assert [r.own for r in reports_with_levels(ctx, case)] == [True]
    linked = ctx.session.execute(select(Event.payload).where(
        Event.instance_id == original.instance_id, Event.kind == "recheck_report_issued")).scalars().all()
    assert linked[-1]["number"] == own.report.number and "upper_reports" not in linked[-1]


def test_batch_recheck_plans_the_tier_once_and_each_case_escalates(
        ctx: EngineContext, original: Household, monkeypatch: pytest.MonkeyPatch) -> None:
    """PS-8 with PS-5: one plan for the batch (same agency for every household), one escalation per case."""
    households = [original, *enrol(ctx, 2, first=1)]
    calls: list[str] = []
    real = tiering.plan_checks

    def counted(*args: Any, **kwargs: Any) -> tiering.TierPlan:
        calls.append(args[1].code)
        return real(*args, **kwargs)

    monkeypatch.setattr(tiering, "plan_checks", counted)
    batch = create_batch(ctx, entrusting_unit=get_unit_by_code(ctx, "CY-MZJ"),
                         agency_unit=get_unit_by_code(ctx, "CY-HDZX"), title="2026 年度低保对象复核",
                         actor=as_user(ctx, "cy_assistance", "assistance_officer"),
                         case_nos=[h.case_no for h in households])
    assert run_batch(ctx, batch.id, commit=ctx.session.commit, chunk_size=2) == "completed"
    ctx.session.expire_all()
    assert calls == ["CY-HDZX"]  # planned once for the batch, not per household or per chunk
    cases = list(ctx.session.execute(select(Household).where(Household.entrustment_id == batch.entrustment_id)
                                     .order_by(Household.id)).scalars())
    assert len(cases) == 3
    numbers = []
    for case in cases:
        start = start_data(ctx, case.instance)
        assert start["sharing_units"] == ["CY-CLH"] and start["upper_plan"]["CC-HDZX"] == CITY_UNITS
        _reviewed(ctx, case, upper_items=["CC-GA", "JL-SBJ"])
        city, province = escalations_of(ctx, case)
        assert [(e.target_agency.code, e.items) for e in (city, province)] == [("CC-HDZX", ["CC-GA"]),
                                                                               ("JL-HDZX", ["JL-SBJ"])]
        assert all(open_ids(ctx, upper_instance(ctx, e)) == ["review"] for e in (city, province))
        numbers += [city.entrustment.number, province.entrustment.number]
    assert len(set(numbers)) == 6  # one upward 委托书 per escalation

    county = cases[0].instance
    assert county is not None
    exchange(ctx, county, "cy")
    report(ctx, county, "cy")
    city, province = escalations_of(ctx, cases[0])
    upper_walk(ctx, upper_instance(ctx, city), "cc")
    upper_walk(ctx, upper_instance(ctx, province), "jl")
    do(ctx, county, "feedback", {}, "cy_assistance")
    assert county.status is InstanceStatus.COMPLETED
    assert [(r.level, r.own) for r in reports_with_levels(ctx, cases[0])] == [
        ("县级", True), ("市级", False), ("省级", False)]
    # the other cases check their own item meanwhile; their upper cases wait at 审核复审
    assert [t.bpmn_id for t in list_open_tasks(ctx, instance_id=cases[1].instance_id)] == ["prepare_exchange"]
