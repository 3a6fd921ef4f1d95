"""Cases in known states for the statistics tests (AN-1, AU-4), built through the real services and diagrams.

Every person is synthetic (tests/engine/package_factory.py). The clock starts on Friday 11 December
2026 (inside Jilin's exchange window) and the working-day calendar sets every due time:

====  =========  ======  ============================================================  =================
case  agency     type    what happens                                                  sharing units
====  =========  ======  ============================================================  =================
A     朝阳区     低保    report issued on Monday 14th, every step on time                CC-BANK in time
B     朝阳区     特困    report issued; 确认数据交换结果 completed 3 working days late    CC-SW with a delay
                                                                                        notice, in time;
                                                                                        CC-GA never answers
C     朝阳区     特困    returned at 受理初审 (PS-2)                                     —
D     朝阳区     低保    terminated at 审核复审 (PS-3)                                   —
E     朝阳区     低保    untouched: 受理初审 overdue at the end                           —
F     南关区     低保    returned at 受理初审 by 南关区核对中心                           —
====  =========  ======  ============================================================  =================
"""

from __future__ import annotations

from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.exchange.batches import confirm_batch
from engine.exchange.batches import prepare_batch
from engine.exchange.delays import find_request
from engine.exchange.delays import record_delay_notice
from engine.exchange.demo import answer_units
from engine.exchange.results import confirm_import
from engine.exchange.results import mark_overdue
from engine.exchange.simulate import post_results
from engine.exchange.system_mode import send_due_batches
from engine.models import Household
from engine.models import WorkflowInstance
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeImport
from engine.services.cases import create_entrustment
from engine.services.demo_cases import _advance
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.packages import DocumentIn
from engine.services.timers import fire_due_timers
from engine.services.users import get_user
from tests.engine.exchange.test_system_mode import FlakyTransport
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import SHANGHAI
from tests.engine.exchange_factory import officer
from tests.engine.exchange_factory import setup_exchange
from tests.engine.package_factory import PDF
from tests.engine.package_factory import synthetic_household

NOTICE = b"%PDF-1.4\n% delay notice\n%%EOF\n"
#: the period the tests ask about: December 2026
FIRST, LAST = date(2026, 12, 1), date(2026, 12, 31)
#: where :func:`build` leaves the clock: Monday 28 December 2026
END = datetime(2026, 12, 28, 9, 0, tzinfo=SHANGHAI)


def _as(ctx: EngineContext, username: str, role: str) -> Actor:
    return Actor(username, role, get_user(ctx, username).id)


def entrust(ctx: EngineContext, index: int, business_type: str, units: list[str], *,
            county: str = "CY") -> WorkflowInstance:
    """One household entrusted by the county's entrusting unit to its agency; returns its case."""
    household = synthetic_household(index, business_type=business_type)
    household["authorisation"]["signed_on"] = ctx.now().astimezone(SHANGHAI).date().isoformat()
    entrusting, clerk = ("HQ-MZB", _as(ctx, "hq_street_clerk", "street_clerk")) if county == "CY" else (
        "NG-MZJ", Actor("admin", "admin"))
    if county != "CY":
        household["region_code"] = "220102001"
    entrustment = create_entrustment(
        ctx, entrusting_unit=entrusting, agency_unit=f"{county}-HDZX", households=[household],
        documents=[[DocumentIn("authorisation", "授权书.pdf", PDF)]], contact_name="周敏",
        contact_phone="0431-88886666", sharing_units=units, actor=clerk)
    case = entrustment.households[0].instance
    assert case is not None
    return case


def do(ctx: EngineContext, case: WorkflowInstance, bpmn_id: str, data: dict[str, Any], who: str) -> None:
    [task] = [t for t in list_open_tasks(ctx, instance_id=case.id) if t.bpmn_id == bpmn_id]
    complete_task(ctx, task.id, data, actor=_as(ctx, who, task.role_code or ""))


def build(ctx: EngineContext, clock: Any) -> dict[str, WorkflowInstance]:
    """The six cases A–F above; the clock ends on Monday 28 December 2026."""
    setup_exchange(ctx, clock)
    cases = {"A": entrust(ctx, 0, "dibao", ["CC-BANK"]), "B": entrust(ctx, 1, "tekun", ["CC-SW", "CC-GA"]),
             "C": entrust(ctx, 2, "tekun", ["CC-BANK"]), "D": entrust(ctx, 3, "dibao", ["CC-BANK"]),
             "E": entrust(ctx, 4, "dibao", ["CC-BANK"]), "F": entrust(ctx, 5, "dibao", [], county="NG")}
    do(ctx, cases["F"], "intake_check", {"decision": "return", "reason": "不属于本辖区"}, "ng_intake")
    do(ctx, cases["C"], "intake_check", {"decision": "return", "reason": "授权书缺少签名"}, "cy_intake")
    do(ctx, cases["D"], "intake_check", {"decision": "accept", "materials_complete": True,
                                         "paper_electronic_consistent": True}, "cy_intake")
    do(ctx, cases["D"], "review", {"decision": "terminate", "reason": "材料不实"}, "cy_reviewer")
    for key in ("A", "B"):
        _advance(ctx, cases[key], stop_after="prepare_exchange")
    clock.set(IN_WINDOW)  # Monday 14th
    answer_units(ctx, ["CC-BANK"], first=officer(ctx, "cy_exchange_1"), second=officer(ctx, "cy_exchange_2"))
    _advance(ctx, cases["A"], stop_after="issue_report")
    _exchange_b(ctx, clock, cases["B"])
    clock.set(END)  # Monday: 确认数据交换结果 of B is late
    _advance(ctx, cases["B"], stop_after="issue_report")
    return cases


def seed(ctx: EngineContext) -> None:
    """:func:`build` on the ctx's own clock, for a module that seeds once per module (``SEED_ONCE = seed``)."""
    build(ctx, ctx.clock)


def built_cases(ctx: EngineContext, clock: Any) -> dict[str, WorkflowInstance]:
    """What :func:`seed` made, keyed A–F; the clock and the deadlines set as :func:`build` leaves them."""
    clock.set(END)
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    households = ctx.session.execute(select(Household).order_by(Household.id)).scalars().all()
    assert len(households) == 6, "built_cases needs SEED_ONCE = seed and nothing else seeded"
    return {key: household.instance for key, household in zip("ABCDEF", households, strict=True)}


def _exchange_b(ctx: EngineContext, clock: Any, case: WorkflowInstance) -> None:
    """CC-SW gives written notice of a delay and answers within the extension; CC-GA never answers."""
    for unit in ("CC-SW", "CC-GA"):
        batch = prepare_batch(ctx, unit, actor=officer(ctx, "cy_exchange_1"))
        confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_2"))
    send_due_batches(ctx, transport=FlakyTransport(set()), sleep=lambda s: None)
    number = case.business_key or ""
    sw = find_request(ctx, number, "CC-SW")
    due = sw.reply_due
    record_delay_notice(ctx, sw, days=3, reason="数据量大", document_name="延期说明.pdf", document=NOTICE,
                        actor=Actor("unit:CC-SW"), officer="cc_sw_officer")
    clock.set(due + timedelta(hours=10))
    fire_due_timers(ctx)
    mark_overdue(ctx)
    post_results(ctx, ctx.session.get(ExchangeBatch, sw.batch_id))
    staged = ctx.session.execute(select(ExchangeImport).where(ExchangeImport.batch_id == sw.batch_id)).scalar_one()
    confirm_import(ctx, staged.id, actor=officer(ctx, "cy_exchange_1"))
