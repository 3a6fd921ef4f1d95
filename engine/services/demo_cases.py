"""Demo cases in several stages (idempotent; synthetic people only: fake names, valid check digits).

Entrusted by 红旗街道民政办 to 朝阳区核对中心: one waiting at 受理初审, one at 审核复审, one in data
exchange with one sharing unit answered (its 支出调查, DO-9, concluded: a car and a trip abroad, explained),
one verified and waiting for the assistance decision.
The answers come from the simulated sharing units through the real exchange path
(``engine.exchange.demo``). The verification of the last one has ended with its 核对报告 issued (DO-7), so
its archive, which holds the report, is sealed (AR-1).
That last household also has two re-verifications (个案复核, PS-9), filed by the street office and
entrusted by 朝阳区民政局 to 朝阳区核对中心: a finished one (a home visit that contradicted the result;
its linked case issued its 复核报告, the department recorded the result) and a tip-off (举报) in
progress, its linked case at 受理初审. The tip-off came from a complaint e-mailed to the street office and
referred from the complaint register (举报投诉, AU-2); a second complaint, phoned in to 朝阳区民政局,
waits for triage.
A fifth household is an escalated case (上下分级核对, PS-5) registered in tiered mode with the
长春市 units only: after 审核复审 they went up with a generated upward 委托书, its case at
长春市核对中心 waits at 审核复审, and the county case (nothing of its own to check) waits for it.
"""

from __future__ import annotations

from datetime import date
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from engine.archives.seal import seal_closed
from engine.context import Actor
from engine.context import EngineContext
from engine.exchange.catalogue import seed_demo_catalogue
from engine.exchange.demo import answer_units
from engine.models import MessageSubscription
from engine.models import Recheck
from engine.models import WorkflowInstance
from engine.models.case import Household
from engine.services.cases import create_entrustment
from engine.services.demo import REGISTERED_FROM
from engine.services.deploy import get_current_definition
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.packages import DocumentIn
from engine.services.spending import add_item
from engine.services.spending import conclude
from engine.services.spending import open_inquiry
from engine.services.users import get_user
from forms.ids import check_char

#: the smallest file the content check accepts as a PDF: a stand-in for a scanned 授权书
DEMO_SCAN = b"%PDF-1.4\n% Hedui demo scan (synthetic)\n%%EOF\n"
SURNAMES = "张王李赵"
INTAKE_OK = {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True}


def _id(birth: date, serial: int, male: bool) -> str:
    first17 = f"220104{birth:%Y%m%d}{serial * 2 + (1 if male else 0):03d}"
    return first17 + check_char(first17)


def _person(name: str, number: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "id_number": number, "residence_address": "红旗街道和平小区", "signature": "signed",
            "hukou_location": "吉林省长春市朝阳区红旗街道", **extra}


def demo_household(i: int, signed_on: date) -> dict[str, Any]:
    s = SURNAMES[i % len(SURNAMES)]
    return {
        "business_type": "dibao", "region_code": "220104001", "address": f"红旗街道和平小区{i + 1}栋2单元301室",
        "members": [
            _person(f"{s}演示户主", _id(date(1968, 4, 12), 40 + 3 * i, True), relation="self",
                    rule="BJ9-APPLICANT", included=True),
            _person(f"刘演示配偶{i + 1}", _id(date(1970, 8, 3), 41 + 3 * i, False), relation="spouse",
                    rule="BJ9-IN-1", included=True),
            _person(f"{s}演示子女", _id(date(2012, 1, 20), 42 + 3 * i, True), relation="son", rule="BJ9-IN-1",
                    included=True, signature="guardian_signed", signed_by=f"刘演示配偶{i + 1}"),
        ],
        "authorisation": {"business_types": ["dibao"], "signed_on": signed_on.isoformat(), "handler_name": "周敏",
                          "statement_copied": True},
    }


def seed_demo_cases(ctx: EngineContext, *, actor: Actor, finished_recheck: bool = True) -> int:
    """Create the demo cases unless some case exists already; returns how many were created.

    :param finished_recheck: also run the finished re-verification (its linked case is a second closed
        case with a second report; the archive and report tests leave it out to count one of each).
    """
    if get_current_definition(ctx, "standard_verification") is None:
        return 0
    if ctx.session.execute(select(Household.id).limit(1)).first() is not None:
        return 0
    seed_demo_catalogue(ctx, actor=actor, valid_from=REGISTERED_FROM)
    signed_on = ctx.now().date() - timedelta(days=3)
    entrustment = create_entrustment(
        ctx, entrusting_unit="HQ-MZB", agency_unit="CY-HDZX",
        households=[demo_household(i, signed_on) for i in range(4)],
        documents=[[DocumentIn("authorisation", "授权书.pdf", DEMO_SCAN)] for _ in range(4)],
        contact_name="周敏", contact_phone="0431-88886666", actor=_as(ctx, "hq_street_clerk", "street_clerk"))
    cases = [h.instance for h in entrustment.households]
    _advance(ctx, cases[1], stop_after="intake_check")
    _escalated(ctx, signed_on)
    # the fully answered cases first: a batch takes every open request of its unit
    _advance(ctx, cases[3], stop_after="prepare_exchange")
    _answer(ctx, cases[3])
    _advance(ctx, cases[3], stop_after="feedback")
    rechecks = get_current_definition(ctx, "individual_recheck") is not None
    if rechecks and finished_recheck:
        _finished_recheck(ctx, entrustment.households[3])
    _advance(ctx, cases[2], stop_after="prepare_exchange")
    _answer(ctx, cases[2], limit=1)
    _spending_inquiry(ctx, entrustment.households[2])
    seal_closed(ctx)
    if rechecks:
        _complaint_recheck(ctx, entrustment.households[3])
    _waiting_complaint(ctx)
    return len(cases) + 1


def _escalated(ctx: EngineContext, signed_on: date) -> None:
    """A 朝阳区 case in tiered mode whose 长春市 items go to 长春市核对中心 (PS-5): nothing of its own to
    check, so after 审核复审 it waits for the city's case, which is at 审核复审."""
    from engine.models import Unit
    from engine.models import UnitKind

    city_items = list(ctx.session.execute(select(Unit.code).where(
        Unit.kind == UnitKind.SHARING_UNIT, Unit.region_code == "220100", Unit.is_active.is_(True))
        .order_by(Unit.code)).scalars())
    entrustment = create_entrustment(
        ctx, entrusting_unit="HQ-MZB", agency_unit="CY-HDZX", households=[demo_household(4, signed_on)],
        documents=[[DocumentIn("authorisation", "授权书.pdf", DEMO_SCAN)]], contact_name="周敏",
        contact_phone="0431-88886666", actor=_as(ctx, "hq_street_clerk", "street_clerk"), sharing_units=city_items,
        tiering="tiered")
    _advance(ctx, entrustment.households[0].instance, stop_after="review")


def _recheck(ctx: EngineContext, household: Household, form: dict[str, Any] | None = None) -> Recheck:
    """A tip-off (举报) filed by the street office and entrusted by the county department (SoD: two people)."""
    from engine.services.org import get_unit_by_code
    from engine.services.rechecks import file_recheck

    form = form or {"trigger": "complaint", "requester_name": "匿名", "requested_on": ctx.today().isoformat(),
                    "reason": "群众举报：该户家庭成员经营网店，收入未申报（演示）"}
    recheck = file_recheck(ctx, case_no=household.case_no, form=form, initiating_unit=get_unit_by_code(ctx, "HQ-MZB"),
                           actor=_as(ctx, "hq_street_clerk", "assistance_officer"))
    [decide] = list_open_tasks(ctx, instance_id=recheck.instance_id)
    complete_task(ctx, decide.id, {"decision": "recheck", "agency_level": "county"},
                  actor=_as(ctx, "cy_assistance", "assistance_officer"))
    return recheck


def _complaint_recheck(ctx: EngineContext, household: Household) -> Recheck:
    """The tip-off (举报, AU-2) as it arrived: an e-mail registered by the street office, referred to
    re-verification (the recheck links back to it), then entrusted by the county department."""
    from engine.services.complaints import refer_complaint
    from engine.services.complaints import register_complaint
    from engine.services.org import get_unit_by_code

    clerk = _as(ctx, "hq_street_clerk", None)
    complaint = register_complaint(ctx, unit=get_unit_by_code(ctx, "HQ-MZB"), actor=clerk, form={
        "channel": "email", "channel_detail": "红旗街道民政办公开邮箱", "received_at": ctx.now().isoformat(),
        "case_no": household.case_no, "content": "群众举报：该户家庭成员经营网店，收入未申报（演示）"})
    refer_complaint(ctx, complaint.number, actor=clerk)
    assert complaint.recheck is not None
    recheck = complaint.recheck
    [decide] = list_open_tasks(ctx, instance_id=recheck.instance_id)
    complete_task(ctx, decide.id, {"decision": "recheck", "agency_level": "county"},
                  actor=_as(ctx, "cy_assistance", "assistance_officer"))
    return recheck


def _waiting_complaint(ctx: EngineContext) -> None:
    """A phone complaint registered at 朝阳区民政局, waiting for triage (the household named by address only)."""
    from engine.services.complaints import register_complaint
    from engine.services.org import get_unit_by_code

    register_complaint(ctx, unit=get_unit_by_code(ctx, "CY-MZJ"), actor=_as(ctx, "cy_mzj_head", None), form={
        "channel": "phone", "channel_detail": "12345 政务服务热线转办",
        "received_at": (ctx.now() - timedelta(hours=2)).isoformat(), "complainant_name": "李演示",
        "complainant_contact": "139****0000（演示）", "subject_text": "红旗街道和平小区2栋2单元301室 王姓住户",
        "content": "来电反映该户有一辆出租车在营运，收入未如实申报（演示）"})


def _finished_recheck(ctx: EngineContext, household: Household) -> None:
    """An earlier re-verification of the same household, finished (PS-9, DO-8): a home visit that contradicted
    the result, its linked case verified by 朝阳区核对中心 with its 复核报告 issued and fed back to
    朝阳区民政局, which recorded the result."""
    recheck = _recheck(ctx, household, {
        "trigger": "home_visit", "requester_name": "周敏", "requested_on": ctx.today().isoformat(),
        "reason": "入户调查发现该户新购置车辆一辆，与核对结果不符（演示）"})
    linked = recheck.verification_household
    assert linked is not None
    _advance(ctx, linked.instance, stop_after="prepare_exchange")
    _answer(ctx, linked.instance)
    _advance(ctx, linked.instance, stop_after="issue_report")
    [feedback] = list_open_tasks(ctx, instance_id=linked.instance_id)
    complete_task(ctx, feedback.id, {}, actor=_as(ctx, "cy_assistance", feedback.role_code))
    [record] = list_open_tasks(ctx, instance_id=recheck.instance_id)
    complete_task(ctx, record.id, {"result": "复核查明该户车辆登记信息与原核对结果一致，无新增车辆（演示）"},
                  actor=_as(ctx, "cy_assistance", record.role_code))


#: step, data, who (``{agency}`` is the demo staff prefix of the case's agency: cy, cc or jl)
STEPS: list[tuple[str, dict[str, Any], str]] = [
    ("intake_check", INTAKE_OK, "{agency}_intake"), ("review", {"decision": "accept"}, "{agency}_reviewer"),
    ("prepare_exchange", {"batch_checked": True}, "{agency}_exchange_1"),
    ("confirm_exchange", {"statuses_checked": True}, "{agency}_exchange_2"),
    ("issue_report", {"report_no": "朝核报〔2026〕1号"}, "{agency}_reporter"), ("feedback", {}, "hq_street_clerk")]


def _spending_inquiry(ctx: EngineContext, household: Household) -> None:
    """A concluded 支出调查 (DO-9) with two items on the case still exchanging data (its report carries 附表四)."""
    reviewer = _as(ctx, "cy_reviewer", None)
    open_inquiry(ctx, household, {"basis": "入户调查发现该户近期购置家用轿车一辆，与申报收入明显不符（演示）",
                                  "declared_monthly_income": "1850.00"}, actor=reviewer)
    spent_on = ctx.now().date() - timedelta(days=40)
    add_item(ctx, household, {"category": "vehicle", "description": "购买家用轿车一辆（演示）", "amount": "86800.00",
                              "spent_on": spent_on.isoformat(), "source": "home_visit"}, actor=reviewer)
    add_item(ctx, household, {"category": "travel", "description": "出境旅游一次（演示）", "amount": "12400.00",
                              "source": "tip_off"}, actor=_as(ctx, "cy_intake", None))
    account = "申请人提供购车借款合同及亲属转账记录，出境旅游费用由子女支付，有转账记录佐证（演示）"
    conclude(ctx, household, {"outcome": "explained", "conclusion": account}, actor=reviewer)


def _as(ctx: EngineContext, username: str, role: str | None) -> Actor:
    return Actor(username, role, get_user(ctx, username).id)


def _advance(ctx: EngineContext, case: WorkflowInstance | None, *, stop_after: str, staff: str = "cy",
             review: dict[str, Any] | None = None) -> None:
    """Complete the case's steps in order up to ``stop_after`` (``review``: the 审核复审 form, default accept)."""
    assert case is not None
    for bpmn_id, data, who in STEPS:
        open_tasks = {t.bpmn_id: t for t in list_open_tasks(ctx, instance_id=case.id)}
        if bpmn_id in open_tasks:
            task = open_tasks[bpmn_id]
            values = review if bpmn_id == "review" and review is not None else data
            complete_task(ctx, task.id, values, actor=_as(ctx, who.format(agency=staff), task.role_code))
        if bpmn_id == stop_after:
            return


def _answer(ctx: EngineContext, case: WorkflowInstance | None, limit: int | None = None, staff: str = "cy") -> None:
    """Sharing units answer through the real exchange path: batches by two officers, simulated units."""
    assert case is not None
    keys = ctx.session.execute(select(MessageSubscription.correlation_key).where(
        MessageSubscription.instance_id == case.id, MessageSubscription.message_name == "exchange_result")
        .order_by(MessageSubscription.correlation_key)).scalars().all()
    units = [key.split(":", 1)[1] for key in keys[:limit]]
    answer_units(ctx, units, first=_as(ctx, f"{staff}_exchange_1", "exchange_officer"),
                 second=_as(ctx, f"{staff}_exchange_2", "exchange_officer"))
