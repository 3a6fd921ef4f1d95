"""The escalation contract (engine/services/escalations.py) shared by tiered (PS-5, PS-6) and cross-city (PS-7)
verification: the upward 委托书 (DO-5), the upper agency's case, the steps, the return to the original case.

Synthetic households of the demo region; every command is followed by ``expire_all()``.
"""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from engine.context import EngineContext
from engine.documents.printing import render_case_document
from engine.errors import InvalidStateError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.models import EntrustmentSource
from engine.models import EscalationKind
from engine.models import EscalationStatus
from engine.models import Event
from engine.models import Household
from engine.models import InstanceStatus
from engine.persistence import load_workflow
from engine.services.authorisations import end_authorisation
from engine.services.escalations import new_escalation
from engine.services.escalations import on_upper_case_finished
from engine.services.escalations import open_upward_entrustment
from engine.services.escalations import record_step
from engine.services.escalations import return_to_origin
from engine.services.escalations import start_upper_case
from engine.services.org import get_unit_by_code
from tests.engine.escalation_factory import INTAKE_OK
from tests.engine.escalation_factory import actor
from tests.engine.escalation_factory import do
from tests.engine.escalation_factory import enrol
from tests.engine.escalation_factory import escalations_of
from tests.engine.escalation_factory import exchange
from tests.engine.escalation_factory import open_ids
from tests.engine.escalation_factory import prepare
from tests.engine.escalation_factory import report
from tests.engine.escalation_factory import task_of
from tests.engine.escalation_factory import upper_instance
from tests.engine.recheck_factory import prepared_once

#: the demo region at every level, every diagram and the demo sharing catalogue, seeded once for the module
SEED_ONCE = prepare


@pytest.fixture
def prepared(ctx: EngineContext) -> EngineContext:
    return prepared_once(ctx)


def _history(ctx: EngineContext, instance_id: int, kind: str) -> list[dict]:
    rows = ctx.session.execute(select(Event.payload).where(Event.instance_id == instance_id, Event.kind == kind)
                               .order_by(Event.seq)).scalars()
    return list(rows)


def _tiered(ctx: EngineContext, household: Household, target: str = "CC-HDZX", items: tuple[str, ...] = ("CC-GA",)):
    reviewer = actor(ctx, "cy_reviewer", "review_officer")
    return new_escalation(ctx, kind=EscalationKind.TIERED, origin=household, target=get_unit_by_code(ctx, target),
                          items=list(items), actor=reviewer)


def test_upward_entrustment_is_generated_with_its_subject_list(prepared: EngineContext) -> None:
    """DO-5: the upward 委托书 is numbered by the system, counts from the original cases, its PDF lists them."""
    ctx = prepared
    first, second = enrol(ctx, 2)
    county, city = get_unit_by_code(ctx, "CY-HDZX"), get_unit_by_code(ctx, "CC-HDZX")
    escalations = [_tiered(ctx, first), _tiered(ctx, second)]
    assert [e.number for e in escalations] == ["SJ-CY-HDZX-2026-000001", "SJ-CY-HDZX-2026-000002"]
    reviewer = actor(ctx, "cy_reviewer", "review_officer")
    letter = open_upward_entrustment(ctx, from_unit=county, to_unit=city, escalations=escalations, actor=reviewer)
    ctx.session.expire_all()
    assert letter.number == "SJWT-CY-HDZX-2026-000001" and letter.source is EntrustmentSource.UPWARD
    assert (letter.entrusting_unit.code, letter.agency_unit.code) == ("CY-HDZX", "CC-HDZX")
    assert (letter.household_count, letter.person_count) == (2, 6)  # three included members each
    assert letter.contact_name == "王磊（朝阳区核对中心）"
    assert letter.contact_phone == "0431-80000003"  # the entrusting agency's phone, as the demo region sets it
    assert all(e.entrustment_id == letter.id for e in escalations)

    uppers = [start_upper_case(ctx, e, letter, actor=reviewer) for e in escalations]
    ctx.session.expire_all()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(render_case_document(
        ctx, uppers[0], "entrustment", actor=reviewer, viewer="王磊", unit="朝阳区核对中心",
        printing=False).content)).pages).replace("\n", "")
    assert "长春市社会救助家庭经济状况核对中心：" in text and "共2户6人" in text
    assert "经办人：王磊（朝阳区核对中心）联系电话：0431-80000003" in text
    assert all(h.case_no in text for h in uppers)  # the subject list names every upper case


def test_upward_entrustment_without_an_agency_phone_leaves_a_line_to_fill_in(prepared: EngineContext) -> None:
    """DO-5: an agency with no phone on record gets a blank 联系电话 line, and a wrong phone is refused."""
    from engine.services.org import set_unit_phone

    ctx = prepared
    [household] = enrol(ctx)
    county, reviewer = get_unit_by_code(ctx, "CY-HDZX"), actor(ctx, "cy_reviewer", "review_officer")
    with pytest.raises(ValidationError) as refused:
        set_unit_phone(ctx, county, "电话", actor=reviewer)
    assert refused.value.details["fields"] == {"contact_phone": ["联系电话格式不正确"]}
    set_unit_phone(ctx, county, None, actor=reviewer)
    escalation = _tiered(ctx, household)
    letter = open_upward_entrustment(ctx, from_unit=county, to_unit=get_unit_by_code(ctx, "CC-HDZX"),
                                     escalations=[escalation], actor=reviewer)
    upper = start_upper_case(ctx, escalation, letter, actor=reviewer)
    ctx.session.expire_all()
    assert letter.contact_phone == ""
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(render_case_document(
        ctx, upper, "entrustment", actor=reviewer, viewer="王磊", unit="朝阳区核对中心",
        printing=False).content)).pages).replace("\n", "")
    assert "联系电话：＿＿＿＿＿＿" in text


def test_upward_entrustment_refuses_a_unit_that_is_not_above(prepared: EngineContext) -> None:
    ctx = prepared
    [household] = enrol(ctx)
    escalation = _tiered(ctx, household)
    reviewer = actor(ctx, "cy_reviewer", "review_officer")
    county = get_unit_by_code(ctx, "CY-HDZX")
    for to_unit in ("NG-HDZX", "CY-HDZX", "JLS-HDZX", "CC-GA"):
        with pytest.raises(ValidationError) as refused:
            open_upward_entrustment(ctx, from_unit=county, to_unit=get_unit_by_code(ctx, to_unit),
                                    escalations=[escalation], actor=reviewer)
        assert refused.value.code == "escalation_invalid"
    with pytest.raises(ValidationError):  # the province is above, but the escalation targets the city
        open_upward_entrustment(ctx, from_unit=county, to_unit=get_unit_by_code(ctx, "JL-HDZX"),
                                escalations=[escalation], actor=reviewer)
    with pytest.raises(ValidationError):
        open_upward_entrustment(ctx, from_unit=county, to_unit=get_unit_by_code(ctx, "CC-HDZX"), escalations=[],
                                actor=reviewer)


def test_upper_case_copies_the_household_and_starts_at_review(prepared: EngineContext) -> None:
    """PS-6: the upper case starts at 审核复审, checks only the escalation's items; PR-1 holds for the copy."""
    ctx = prepared
    [household] = enrol(ctx)
    escalation = _tiered(ctx, household, items=("CC-GA", "CC-BANK"))
    reviewer = actor(ctx, "cy_reviewer", "review_officer")
    letter = open_upward_entrustment(ctx, from_unit=get_unit_by_code(ctx, "CY-HDZX"),
                                     to_unit=get_unit_by_code(ctx, "CC-HDZX"), escalations=[escalation], actor=reviewer)
    upper = start_upper_case(ctx, escalation, letter, actor=reviewer)
    ctx.session.expire_all()
    assert upper.case_no == "HD-CC-HDZX-2026-000001" and upper.entrustment_id == letter.id
    assert [(p.name, p.id_number) for p in upper.persons] == [(p.name, p.id_number) for p in household.persons]
    [authorisation] = upper.authorisations
    assert {row.person_id for row in authorisation.persons} == {p.id for p in upper.persons}
    assert upper.note == f"上级核对：原案件 {household.case_no}"
    instance = upper.instance
    assert (instance.agency_unit_id, instance.entrusting_unit_id) == (letter.agency_unit_id, letter.entrusting_unit_id)
    assert open_ids(ctx, instance) == ["review"]
    data = load_workflow(ctx, instance).task_data(task_of(ctx, instance, "review").id)
    assert data["sharing_units"] == ["CC-GA", "CC-BANK"] and data["from_lower_agency"] is True
    assert data["escalation_no"] == escalation.number and data["verification_days"] == 15  # BJ 第十六条（四）
    assert (escalation.upper_household_id, escalation.status) == (upper.id, EscalationStatus.ENTRUSTED)
    assert escalation.due_at is not None and escalation.due_at.isoformat().startswith("2026-12-14")
    # the upper case's own statutory deadline is the same instant, as a column (PS-10)
    assert instance.due_at == escalation.due_at
    assert [(s.status, s.unit.code, s.actor) for s in escalation.steps] == [
        (EscalationStatus.ENTRUSTED, "CC-HDZX", "cy_reviewer")]
    [step] = _history(ctx, household.instance_id, "escalation_step")
    assert (step["escalation_no"], step["status"], step["unit"]) == (escalation.number, "entrusted", "CC-HDZX")
    with pytest.raises(InvalidStateError) as again:
        start_upper_case(ctx, escalation, letter, actor=reviewer)
    assert again.value.code == "escalation_started"


def test_upper_case_refused_without_an_authorisation_in_force(prepared: EngineContext) -> None:
    """PR-1 先授权，后核对: the copy needs the household's 授权书 still in force."""
    ctx = prepared
    [household] = enrol(ctx)
    end_authorisation(ctx, household.authorisations[0].id, last_day=date(2026, 11, 20), reason="assistance_stopped",
                      actor=actor(ctx, "hq_street_clerk", "street_clerk"))
    escalation = _tiered(ctx, household)
    reviewer = actor(ctx, "cy_reviewer", "review_officer")
    letter = open_upward_entrustment(ctx, from_unit=get_unit_by_code(ctx, "CY-HDZX"),
                                     to_unit=get_unit_by_code(ctx, "CC-HDZX"), escalations=[escalation], actor=reviewer)
    with pytest.raises(PermissionDeniedError) as refused:
        start_upper_case(ctx, escalation, letter, actor=reviewer)
    assert refused.value.code == "authorisation_missing"


def test_cross_city_round_trip_through_the_contract(prepared: EngineContext) -> None:
    """PS-7 as T2 drives it: requested at the city, entrusted to the province, reported, returned by the city."""
    ctx = prepared
    [household] = enrol(ctx)
    county = household.instance
    do(ctx, county, "intake_check", INTAKE_OK, "cy_intake")
    do(ctx, county, "review", {"decision": "accept", "cross_city_items": ["JLS-BDC"],
                               "cross_city_reason": "户主在吉林市有房产登记线索"}, "cy_reviewer")
    [escalation] = escalations_of(ctx, household)
    assert (escalation.kind, escalation.status) == (EscalationKind.CROSS_CITY, EscalationStatus.REQUESTED)
    assert (escalation.target_agency.code, escalation.via_unit.code, escalation.items) == (
        "JL-HDZX", "CC-HDZX", ["JLS-BDC"])
    assert [(s.status, s.unit.code) for s in escalation.steps] == [(EscalationStatus.REQUESTED, "CC-HDZX")]
    exchange(ctx, county, "cy")
    report(ctx, county, "cy")
    assert open_ids(ctx, county) == []  # the county waits for the province's report

    city, province = get_unit_by_code(ctx, "CC-HDZX"), get_unit_by_code(ctx, "JL-HDZX")
    city_reviewer = actor(ctx, "cc_reviewer", "review_officer")
    record_step(ctx, escalation, EscalationStatus.GATHERED, city, city_reviewer, note="KS-CC-HDZX-2026-000001")
    letter = open_upward_entrustment(ctx, from_unit=city, to_unit=province, escalations=[escalation],
                                     actor=city_reviewer)
    upper = start_upper_case(ctx, escalation, letter, actor=city_reviewer)
    ctx.session.expire_all()
    assert letter.entrusting_unit.code == "CC-HDZX" and upper.case_no.startswith("HD-JL-HDZX-")
    province_case = upper_instance(ctx, escalation)
    do(ctx, province_case, "review", {"decision": "accept"}, "jl_reviewer")
    exchange(ctx, province_case, "jl")
    report(ctx, province_case, "jl")
    assert province_case.status is InstanceStatus.COMPLETED
    assert escalation.status is EscalationStatus.REPORTED and escalation.report_id is not None
    assert escalation.steps[-1].unit.code == "CC-HDZX"  # the report waits at the city to be relayed
    assert open_ids(ctx, county) == []

    return_to_origin(ctx, escalation, actor=city_reviewer, note="市级核对机构转交省级核对报告")
    ctx.session.expire_all()
    assert escalation.status is EscalationStatus.RETURNED and escalation.returned_at is not None
    assert [s.status.value for s in escalation.steps] == ["requested", "gathered", "entrusted", "reported", "returned"]
    assert open_ids(ctx, county) == ["feedback"]  # upper_reports_returned delivered
    with pytest.raises(InvalidStateError):
        return_to_origin(ctx, escalation, actor=city_reviewer)
    on_upper_case_finished(ctx, province_case, {"end_reported_upward"}, None)  # a second end changes nothing
    assert escalation.status is EscalationStatus.RETURNED
