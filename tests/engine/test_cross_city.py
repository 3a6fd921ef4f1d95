"""Cross-city verification (跨地市核对, PS-7, BJ 第十八条): gathering, the batch process, review and relay.

Every path of ``bpmn/cross_city_batch.bpmn``: requests gathered per city (idempotent, two
cities never mixed), 市级审核 with its separation of duties (the county requester may not review,
even with a city membership, SD-1), a refused request back at once, all refused, the accepted
ones entrusted in one 委托书 with a province case each, the reports back at the city (in time
or after the overdue timer) and relayed to the counties. Every command is followed by
``expire_all()`` so the next one reads what was saved; both policy profiles run.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.assignment import candidates
from engine.audit import replay_instance
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import DeploymentError
from engine.errors import FormValidationError
from engine.errors import NotFoundError
from engine.errors import SeparationOfDutiesError
from engine.models import Event
from engine.models import Household
from engine.models import InstanceStatus
from engine.models import WorkflowInstance
from engine.models.escalation import CrossCityBatch
from engine.models.escalation import CrossCityBatchStatus
from engine.models.escalation import Escalation
from engine.models.escalation import EscalationStatus
from engine.persistence import load_workflow
from engine.services.cross_city import gather_requests
from engine.services.cross_city_queries import batch_view
from engine.services.cross_city_queries import upper_origin
from engine.services.demo_cross_city import seed_cross_city_demo
from engine.services.deploy import deploy_files
from engine.services.instances import claim_task
from engine.services.instances import complete_task
from engine.services.timers import fire_due_timers
from tests.engine.cross_city_factory import open_task
from tests.engine.cross_city_factory import raise_request
from tests.engine.cross_city_factory import second_city
from tests.engine.cross_city_factory import staff
from tests.engine.cross_city_factory import unit
from tests.engine.escalation_factory import INTAKE_OK
from tests.engine.escalation_factory import do
from tests.engine.escalation_factory import escalations_of
from tests.engine.escalation_factory import exchange
from tests.engine.escalation_factory import open_ids
from tests.engine.escalation_factory import report
from tests.engine.escalation_factory import upper_instance
from tests.engine.recheck_factory import as_user
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare
from tests.engine.recheck_factory import prepared_once
from tests.engine.test_street_intake import check_diagram_interchange

#: the demo region at every level, every diagram and the demo sharing catalogue, seeded once for the module
SEED_ONCE = prepare


BPMN = Path(__file__).parents[2] / "bpmn" / "cross_city_batch.bpmn"
MAIN_PATH = ["start", "check_start", "city_review", "gw_review", "receive_entrusted", "set_due", "wait_reports",
             "receive_reports", "relay_reports", "end_returned"]
GATHERER = Actor.system("job:cross_city_gather")


@pytest.fixture(params=["jilin", "baoji"])
def prepared(request: pytest.FixtureRequest, ctx: EngineContext) -> EngineContext:
    ctx.policy_profile = request.param
    return prepared_once(ctx)


def _gather(ctx: EngineContext, **kwargs: Any) -> list[CrossCityBatch]:
    batches = gather_requests(ctx, actor=GATHERER, **kwargs)
    ctx.session.expire_all()
    return [ctx.session.get(CrossCityBatch, b.id) for b in batches]


def _reviewer(ctx: EngineContext) -> Actor:
    return as_user(ctx, "cc_reviewer", "review_officer")


def _do(ctx: EngineContext, batch: CrossCityBatch, bpmn_id: str, data: dict[str, Any], actor: Actor) -> None:
    complete_task(ctx, open_task(ctx, batch, bpmn_id).id, data, actor=actor)
    ctx.session.expire_all()


def _reload(ctx: EngineContext, obj: Any) -> Any:
    ctx.session.expire_all()
    return ctx.session.get(type(obj), obj.id)


def _path(ctx: EngineContext, batch: CrossCityBatch) -> list[str]:
    wf = load_workflow(ctx, ctx.session.get(WorkflowInstance, batch.instance_id))
    return [s.bpmn_id for s in wf.trace() if s.state == "COMPLETED"]


def _province_reports(ctx: EngineContext, escalation: Escalation) -> None:
    """The province case of ``escalation`` runs with the province's own staff: 审核复审, exchange, report."""
    province_case = upper_instance(ctx, _reload(ctx, escalation))
    assert province_case.agency_unit_id == unit(ctx, "JL-HDZX").id
    do(ctx, province_case, "review", {"decision": "accept"}, "jl_reviewer")
    exchange(ctx, province_case, "jl")
    report(ctx, province_case, "jl")
    assert _reload(ctx, escalation).status == EscalationStatus.REPORTED


def _county_request(ctx: EngineContext) -> tuple[Household, Escalation]:
    """A 朝阳区 case whose 审核复审 asks for 吉林市不动产登记中心's data; it checks its own items, reports and waits."""
    [household] = enrol(ctx)
    county = household.instance
    do(ctx, county, "intake_check", INTAKE_OK, "cy_intake")
    do(ctx, county, "review", {"decision": "accept", "cross_city_items": ["JLS-BDC"],
                               "cross_city_reason": "户主在吉林市有房产登记线索"}, "cy_reviewer")
    [request] = escalations_of(ctx, household)
    exchange(ctx, county, "cy")
    report(ctx, county, "cy")
    assert open_ids(ctx, county) == []  # waits for the province's report
    return household, request


def _two_requests(ctx: EngineContext) -> tuple[list[Household], list[Escalation]]:
    households = enrol(ctx, 2)
    requests = [raise_request(ctx, h) for h in households]
    ctx.session.expire_all()
    return households, requests


# --- the diagram ---------------------------------------------------------------------------------------------


def test_diagram_has_lanes_shapes_and_edges_for_every_node() -> None:
    check_diagram_interchange(BPMN, MAIN_PATH)


def test_deploy_refuses_an_unknown_raiser_source(prepared: EngineContext) -> None:
    content = BPMN.read_bytes().replace(b'value="cross_city_requests"', b'value="someone_else"')
    with pytest.raises(DeploymentError, match="sodNotRaisedBy"):
        deploy_files(prepared, {"cross_city_batch.bpmn": content}, actor=Actor("designer"))


# --- gathering -----------------------------------------------------------------------------------------------


def test_gathering_puts_a_citys_waiting_requests_into_one_numbered_batch(prepared: EngineContext) -> None:
    """PS-7: the city agency gathers its counties' requests periodically into one batch, reviewed at the city."""
    ctx = prepared
    _, requests = _two_requests(ctx)
    [batch] = _gather(ctx)
    assert batch.number == "KS-CC-HDZX-2026-000001"
    assert batch.status == CrossCityBatchStatus.GATHERED
    assert (batch.city_agency.code, batch.province_agency.code) == ("CC-HDZX", "JL-HDZX")
    assert [e.number for e in batch.escalations] == [r.number for r in requests]
    for escalation in batch.escalations:
        assert escalation.status == EscalationStatus.GATHERED
        assert [(s.status, s.unit.code) for s in escalation.steps][-1] == (EscalationStatus.GATHERED, "CC-HDZX")
    assert open_task(ctx, batch, "city_review").unit_id == unit(ctx, "CC-HDZX").id
    assert batch.instance.business_key == batch.number
    assert _gather(ctx) == []  # idempotent: nothing waits any more


def test_two_cities_requests_are_never_mixed(prepared: EngineContext) -> None:
    ctx = prepared
    city2, county2 = second_city(ctx)
    [h1, h2] = enrol(ctx, 2)
    cc_request = raise_request(ctx, h1)
    other = raise_request(ctx, h2, origin=county2.code, via=city2.code, raised_by="someone_in_chuanying")
    batches = _gather(ctx)
    assert sorted((b.city_agency.code, [e.number for e in b.escalations]) for b in batches) == sorted(
        [("CC-HDZX", [cc_request.number]), (city2.code, [other.number])])
    assert {b.number for b in batches} == {"KS-CC-HDZX-2026-000001", f"KS-{city2.code}-2026-000001"}


def test_gathering_now_for_one_city_leaves_the_others_waiting(prepared: EngineContext) -> None:
    ctx = prepared
    city2, county2 = second_city(ctx)
    [h1, h2] = enrol(ctx, 2)
    raise_request(ctx, h1)
    other = raise_request(ctx, h2, origin=county2.code, via=city2.code)
    [batch] = _gather(ctx, city_agency=unit(ctx, "CC-HDZX"))
    assert batch.city_agency.code == "CC-HDZX"
    assert _reload(ctx, other).status == EscalationStatus.REQUESTED
    assert _reload(ctx, other).batch_id is None


def test_the_batch_numbers_count_per_city_and_year(prepared: EngineContext) -> None:
    ctx = prepared
    [h1, h2] = enrol(ctx, 2)
    raise_request(ctx, h1)
    [first] = _gather(ctx)
    raise_request(ctx, h2)
    [second] = _gather(ctx)
    assert (first.number, second.number) == ("KS-CC-HDZX-2026-000001", "KS-CC-HDZX-2026-000002")


# --- review: separation of duties ----------------------------------------------------------------------------


def test_the_county_requester_may_not_review_the_batch_even_with_a_city_membership(prepared: EngineContext) -> None:
    """SD-1 across levels (PS-7): whoever raised a request of the batch is refused, with the rule named."""
    ctx = prepared
    _two_requests(ctx)
    [batch] = _gather(ctx)
    requester = staff(ctx, "cy_reviewer", "CC-HDZX")  # the county reviewer who raised both requests
    task = open_task(ctx, batch, "city_review")
    assert "cy_reviewer" not in [u.username for u in candidates(ctx, task)]
    assert "cc_reviewer" in [u.username for u in candidates(ctx, task)]
    with pytest.raises(SeparationOfDutiesError) as refused:
        claim_task(ctx, task.id, actor=requester)
    assert refused.value.details["rule"] == "SD-1"
    with pytest.raises(SeparationOfDutiesError):
        complete_task(ctx, task.id, {}, actor=requester)
    ctx.session.expire_all()
    assert _reload(ctx, batch).status == CrossCityBatchStatus.GATHERED
    kinds = ctx.session.execute(select(Event.kind).where(Event.instance_id == batch.instance_id)).scalars().all()
    assert "refused" in kinds


def test_another_citys_reviewer_cannot_act_on_the_batch(prepared: EngineContext) -> None:
    ctx = prepared
    city2, _ = second_city(ctx)
    _two_requests(ctx)
    [batch] = _gather(ctx)
    outsider = staff(ctx, "jls_reviewer", city2.code)
    with pytest.raises(NotFoundError):
        complete_task(ctx, open_task(ctx, batch, "city_review").id, {}, actor=outsider)


# --- review outcomes -----------------------------------------------------------------------------------------


def test_a_refused_request_goes_back_at_once_the_accepted_one_is_entrusted(prepared: EngineContext) -> None:
    ctx = prepared
    _, [kept, refused] = _two_requests(ctx)
    [batch] = _gather(ctx)
    _do(ctx, batch, "city_review", {"refused": [f"{refused.number} 本市已能核对该项目"], "note": "部分同意"},
        _reviewer(ctx))
    batch = _reload(ctx, batch)
    refused, kept = _reload(ctx, refused), _reload(ctx, kept)
    assert refused.status == EscalationStatus.CANCELLED
    assert "本市已能核对该项目" in (refused.steps[-1].note or "")
    assert refused.upper_household_id is None
    assert kept.status == EscalationStatus.ENTRUSTED and kept.upper_household_id is not None
    assert batch.status == CrossCityBatchStatus.ENTRUSTED
    assert (batch.reviewed_by, batch.review_note) == ("cc_reviewer", "部分同意")
    assert batch.entrustment.entrusting_unit.code == "CC-HDZX"
    assert batch.entrustment.agency_unit.code == "JL-HDZX"
    assert kept.entrustment_id == batch.entrustment_id
    assert _path(ctx, batch)[-2:] == ["receive_entrusted", "set_due"]


def test_all_requests_refused_ends_the_batch(prepared: EngineContext) -> None:
    ctx = prepared
    _, requests = _two_requests(ctx)
    [batch] = _gather(ctx)
    _do(ctx, batch, "city_review", {"refused": [f"{r.number}：材料不足" for r in requests]}, _reviewer(ctx))
    batch = _reload(ctx, batch)
    assert batch.status == CrossCityBatchStatus.REFUSED and batch.entrustment_id is None
    assert batch.instance.status == InstanceStatus.COMPLETED
    assert "end_refused" in _path(ctx, batch)
    assert {e.status for e in batch.escalations} == {EscalationStatus.CANCELLED}


def test_a_refusal_of_a_request_outside_the_batch_writes_nothing(prepared: EngineContext) -> None:
    ctx = prepared
    _two_requests(ctx)
    [batch] = _gather(ctx)
    with pytest.raises(FormValidationError) as invalid:
        complete_task(ctx, open_task(ctx, batch, "city_review").id, {"refused": ["SJ-XX-2026-000009 无"]},
                      actor=_reviewer(ctx))
    assert "不在本批次中" in invalid.value.details["fields"]["refused"][0]


def test_a_refusal_without_a_reason_is_refused_by_the_form(prepared: EngineContext) -> None:
    ctx = prepared
    _, [request, _] = _two_requests(ctx)
    [batch] = _gather(ctx)
    with pytest.raises(FormValidationError):
        complete_task(ctx, open_task(ctx, batch, "city_review").id, {"refused": [request.number]},
                      actor=_reviewer(ctx))


# --- reports back and relay ----------------------------------------------------------------------------------


def test_reports_back_at_the_city_are_relayed_to_the_counties(prepared: EngineContext) -> None:
    """PS-7 up and back: gathered → reviewed → province cases → reports at the city → relayed → county."""
    ctx = prepared
    _, requests = _two_requests(ctx)
    [batch] = _gather(ctx)
    _do(ctx, batch, "city_review", {}, _reviewer(ctx))
    _province_reports(ctx, requests[0])
    assert _path(ctx, batch)[-1] == "set_due"  # one report still out
    _province_reports(ctx, requests[1])
    assert open_task(ctx, batch, "relay_reports").unit_id == unit(ctx, "CC-HDZX").id
    _do(ctx, batch, "relay_reports", {"note": "请查收省级核对报告"}, _reviewer(ctx))
    batch = _reload(ctx, batch)
    assert batch.status == CrossCityBatchStatus.RETURNED and batch.finished_at is not None
    assert _path(ctx, batch) == MAIN_PATH
    for escalation in batch.escalations:
        assert escalation.status == EscalationStatus.RETURNED
        assert escalation.steps[-1].unit.code == "CY-HDZX"
    assert replay_instance(ctx, batch.instance_id).consistent


def test_reports_late_are_marked_overdue_and_still_relayed(prepared: EngineContext, clock: Any) -> None:
    ctx = prepared
    _, requests = _two_requests(ctx)
    [batch] = _gather(ctx)
    _do(ctx, batch, "city_review", {}, _reviewer(ctx))
    due = max(_reload(ctx, r).due_at for r in requests)
    clock.set(due + timedelta(hours=1))
    assert fire_due_timers(ctx) >= 1  # the batch's, and the province cases' own limits
    ctx.session.expire_all()
    assert "mark_overdue" in _path(ctx, batch)
    assert batch_view(ctx, _reload(ctx, batch)).overdue
    for request in requests:
        _province_reports(ctx, request)
    _do(ctx, batch, "relay_reports", {}, _reviewer(ctx))
    batch = _reload(ctx, batch)
    assert batch.status == CrossCityBatchStatus.RETURNED
    assert "receive_reports_late" in _path(ctx, batch)
    assert replay_instance(ctx, batch.instance_id).consistent


# --- end to end from the county's 审核复审 -------------------------------------------------------------------


def test_cross_city_up_and_back_end_to_end(prepared: EngineContext) -> None:
    """PS-7: county request → gathered → reviewed (SoD refusal of the county reviewer) → province case →
    report back at the city → relayed → the county case goes on with every report."""
    ctx = prepared
    household, request = _county_request(ctx)
    [batch] = _gather(ctx)
    requester = staff(ctx, "cy_reviewer", "CC-HDZX")
    with pytest.raises(SeparationOfDutiesError):
        complete_task(ctx, open_task(ctx, batch, "city_review").id, {}, actor=requester)
    ctx.session.expire_all()
    _do(ctx, batch, "city_review", {}, _reviewer(ctx))
    request = _reload(ctx, request)
    assert request.entrustment.source.value == "upward" and request.entrustment.entrusting_unit.code == "CC-HDZX"
    _province_reports(ctx, request)
    request = _reload(ctx, request)
    assert request.steps[-1].unit.code == "CC-HDZX" and request.report_id is not None
    assert upper_origin(ctx, request.upper_household_id).batch_id == batch.id  # the province case's origin
    assert open_ids(ctx, household.instance) == []  # the report waits at the city
    _do(ctx, _reload(ctx, batch), "relay_reports", {}, _reviewer(ctx))
    request = _reload(ctx, request)
    assert [s.status.value for s in request.steps] == ["requested", "gathered", "entrusted", "reported", "returned"]
    assert [s.unit.code for s in request.steps] == ["CC-HDZX", "CC-HDZX", "JL-HDZX", "CC-HDZX", "CY-HDZX"]
    assert open_ids(ctx, household.instance) == ["feedback"]
    batch = _reload(ctx, batch)
    assert batch.status == CrossCityBatchStatus.RETURNED and _path(ctx, batch) == MAIN_PATH
    for instance_id in (batch.instance_id, household.instance_id, upper_instance(ctx, request).id):
        assert replay_instance(ctx, instance_id).consistent, instance_id


def test_a_refused_request_lets_the_county_case_go_on(prepared: EngineContext) -> None:
    ctx = prepared
    household, request = _county_request(ctx)
    [batch] = _gather(ctx)
    _do(ctx, batch, "city_review", {"refused": [f"{request.number} 该项目可由本市协查"]}, _reviewer(ctx))
    request = _reload(ctx, request)
    assert request.status == EscalationStatus.CANCELLED and request.steps[-1].unit.code == "CY-HDZX"
    assert open_ids(ctx, household.instance) == ["feedback"]
    assert _reload(ctx, batch).status == CrossCityBatchStatus.REFUSED
    assert replay_instance(ctx, batch.instance_id).consistent


def test_the_demo_shows_a_batch_under_review_at_the_city(prepared: EngineContext) -> None:
    ctx = prepared
    number = seed_cross_city_demo(ctx)
    ctx.session.expire_all()
    assert number == "KS-CC-HDZX-2026-000001"
    [batch] = ctx.session.execute(select(CrossCityBatch)).scalars().all()
    [request] = batch.escalations
    assert (request.origin_agency.code, request.items, request.status) == (
        "CY-HDZX", ["JLS-BDC"], EscalationStatus.GATHERED)
    assert [u.username for u in candidates(ctx, open_task(ctx, batch, "city_review"))] == ["cc_reviewer"]
    assert seed_cross_city_demo(ctx) == number  # idempotent
    assert ctx.session.execute(select(CrossCityBatch)).scalars().all() == [batch]


def test_a_province_case_terminated_at_its_review_comes_back_cancelled_with_the_reason(
        prepared: EngineContext) -> None:
    ctx = prepared
    household, request = _county_request(ctx)
    [batch] = _gather(ctx)
    _do(ctx, batch, "city_review", {}, _reviewer(ctx))
    province_case = upper_instance(ctx, _reload(ctx, request))
    do(ctx, province_case, "review", {"decision": "terminate", "reason": "核对对象已迁出本省"}, "jl_reviewer")
    request = _reload(ctx, request)
    assert request.status == EscalationStatus.REPORTED and request.report_id is None
    _do(ctx, _reload(ctx, batch), "relay_reports", {}, _reviewer(ctx))
    request = _reload(ctx, request)
    assert request.status == EscalationStatus.CANCELLED and "核对对象已迁出本省" in (request.steps[-1].note or "")
    assert open_ids(ctx, household.instance) == ["feedback"]
