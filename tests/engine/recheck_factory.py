"""Shared set-up for the re-verification tests: the demo region, every diagram, enrolled households.

Synthetic people only (``engine.services.demo_cases.demo_household``: fake names, valid check digits).
"""

from __future__ import annotations

from datetime import date
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.exchange.catalogue import seed_demo_catalogue
from engine.models import Household
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import Recheck
from engine.models import Timer
from engine.models import TimerStatus
from engine.models import WorkflowInstance
from engine.services.cases import create_entrustment
from engine.services.demo import seed_demo
from engine.services.demo_cases import DEMO_SCAN
from engine.services.demo_cases import _advance
from engine.services.demo_cases import _answer
from engine.services.demo_cases import demo_household
from engine.services.deploy import deploy_files
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.org import get_unit_by_code
from engine.services.packages import DocumentIn
from engine.services.rechecks import file_recheck
from engine.services.timers import fire_due_timers
from engine.services.users import get_user

BPMN_DIR = Path(__file__).parents[2] / "bpmn"
ADMIN = Actor("admin", "admin")


def as_user(ctx: EngineContext, username: str, role: str | None = None) -> Actor:
    return Actor(username, role, get_user(ctx, username).id)


def prepare(ctx: EngineContext) -> EngineContext:
    """Demo organisation and every diagram of bpmn/ deployed; deadlines on the working-day calendar."""
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    seed_demo(ctx, actor=ADMIN)
    files = {p.name: p.read_bytes() for p in sorted(BPMN_DIR.glob("*.bpmn"))}
    deploy_files(ctx, files, actor=Actor("designer", "process_designer"))
    seed_demo_catalogue(ctx, actor=ADMIN, valid_from=date(2025, 1, 1))  # the sharing units answer the cases
    return ctx


def prepared_once(ctx: EngineContext) -> EngineContext:
    """What :func:`prepare` made, in a module that seeds once per module (``SEED_ONCE = prepare``).

    Only the ctx's own attributes are set again (the seed's ctx does not carry over to the test's).
    """
    ctx.deadline = WorkingCalendar(ctx.session).deadline
    return ctx


def enrol(ctx: EngineContext, count: int = 1, *, first: int = 0, signed_on: date | None = None) -> list[Household]:
    """``count`` households entrusted by 红旗街道民政办 to 朝阳区核对中心 (cases at 受理初审)."""
    signed = signed_on or date(2026, 11, 20)
    households = [demo_household(first + i, signed) for i in range(count)]
    entrustment = create_entrustment(
        ctx, entrusting_unit="HQ-MZB", agency_unit="CY-HDZX", households=households,
        documents=[[DocumentIn("authorisation", "授权书.pdf", DEMO_SCAN)] for _ in households],
        contact_name="周敏", contact_phone="0431-88886666", actor=as_user(ctx, "hq_street_clerk", "street_clerk"))
    return list(entrustment.households)


def verify(ctx: EngineContext, household: Household) -> None:
    """Walk the household's standard case to its end (report issued, receipt confirmed)."""
    _advance(ctx, household.instance, stop_after="prepare_exchange")
    _answer(ctx, household.instance)
    _advance(ctx, household.instance, stop_after="feedback")


def report_decision(ctx: EngineContext, household: Household, **data: Any) -> None:
    """The entrusting unit reports its assistance decision (and when it told the household)."""
    task = ctx.session.execute(
        select(HumanTask).join(WorkflowInstance, WorkflowInstance.id == HumanTask.instance_id)
        .where(WorkflowInstance.process_id == "decision_feedback", WorkflowInstance.business_key == household.case_no,
               HumanTask.status == HumanTaskStatus.OPEN)).scalar_one()
    complete_task(ctx, task.id, {"assistance_decision": "approved", **data},
                  actor=as_user(ctx, "hq_street_clerk", "assistance_officer"))


def reverify(ctx: EngineContext, household: Household, *, reason: str = "群众举报：家庭成员有未申报的存款") -> Recheck:
    """A complaint on a verified household, decided and entrusted to the county agency, walked to its report.

    Only the first sharing unit answers the re-verification; the others are left to time out (the
    clock moves past their reply deadline), so the 复核报告 differs from the fully answered original.
    The ctx's clock must be a FixedClock (it is moved into December: use a profile whose decision
    feedback falls within the test calendar's years, e.g. ``baoji``).
    """
    recheck = file_recheck(ctx, case_no=household.case_no, initiating_unit=get_unit_by_code(ctx, "HQ-MZB"),
                           form={"trigger": "complaint", "requester_name": "匿名", "reason": reason,
                                 "requested_on": ctx.now().date().isoformat()},
                           actor=as_user(ctx, "hq_street_clerk", "assistance_officer"))
    [decide] = list_open_tasks(ctx, instance_id=recheck.instance_id)
    complete_task(ctx, decide.id, {"decision": "recheck", "agency_level": "county"},
                  actor=as_user(ctx, "cy_assistance", "assistance_officer"))
    case = recheck.verification_household
    assert case is not None and case.instance is not None
    _advance(ctx, case.instance, stop_after="prepare_exchange")
    _answer(ctx, case.instance, limit=1)
    due = ctx.session.execute(select(Timer.due_at).where(Timer.instance_id == case.instance_id,
                                                         Timer.bpmn_id == "reply_timeout",
                                                         Timer.status == TimerStatus.PENDING)).scalars().all()
    ctx.clock.set(max(due) + timedelta(seconds=1))  # type: ignore[attr-defined]
    fire_due_timers(ctx)
    _advance(ctx, case.instance, stop_after="issue_report")
    # the result goes back to the county department that entrusted the re-verification
    [feedback] = list_open_tasks(ctx, instance_id=case.instance_id)
    complete_task(ctx, feedback.id, {}, actor=as_user(ctx, "cy_assistance", feedback.role_code))
    ctx.session.expire_all()
    return recheck
