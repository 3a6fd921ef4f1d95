"""What follows a step or an end: the decision feedback (PS-12), the re-verification links (PS-9) and the
cross-city batch steps (PS-7)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.models import HumanTask
from engine.models import WorkflowInstance
from engine.policy import effective_policy
from engine.runtime import Workflow
from engine.services.deploy import get_current_definition

logger = logging.getLogger(__name__)

FEEDBACK_PROCESS = "decision_feedback"
SYSTEM = Actor.system("system")


def on_instance_completed(ctx: EngineContext, instance: WorkflowInstance, wf: Workflow) -> None:
    """Start the follow-ups of a finished case (called in the same unit of work)."""
    if instance.process_id != "standard_verification":
        return
    # the case's own end events: a called process's end event of the same id is not the case's outcome
    ends = {t.bpmn_id for t in wf.trace() if t.process_id == instance.process_id} \
        & {"end_completed", "end_returned", "end_terminated", "end_reported_upward"}
    if wf.data.get("escalation_no"):
        from engine.services.escalations import on_upper_case_finished

        on_upper_case_finished(ctx, instance, ends, wf.data.get("reason"))
        return
    report_no = wf.data.get("report_no")
    if "end_completed" in ends:
        from engine.reports.service import current_report

        report = current_report(ctx, instance.business_key) if instance.business_key else None
        report_no = report.report.number if report else report_no
        start_decision_feedback(ctx, instance, report_no=report_no)
    from engine.services.rechecks import on_verification_finished

    on_verification_finished(ctx, instance, next(iter(sorted(ends)), "end"), report_no)


def on_task_completed(ctx: EngineContext, instance: WorkflowInstance, task: HumanTask, values: Mapping[str, Any],
                      actor: Actor) -> None:
    """Domain records that follow a completed step, whichever channel completed it (inbox, API)."""
    if task.bpmn_id == "issue_report" and instance.process_id == "standard_verification":
        from engine.reports.service import issue_for_instance

        issue_for_instance(ctx, instance, values, actor=actor)
    if instance.process_id == "standard_verification":
        _escalation_followups(ctx, instance, task, values, actor)
    if instance.process_id == "decision_feedback" and task.bpmn_id in ("record_decision", "record_decision_late"):
        from engine.reports.service import flag_expired_use

        flag_expired_use(ctx, instance, actor=actor)
    if instance.process_id == "individual_recheck":
        from engine.services.rechecks import on_recheck_task

        on_recheck_task(ctx, instance, task, values, actor)
    if instance.process_id == "cross_city_batch":
        from engine.services.cross_city import on_batch_task

        on_batch_task(ctx, instance, task, values, actor)


def check_task_values(ctx: EngineContext, instance: WorkflowInstance, task: HumanTask, values: Mapping[str, Any],
                      wf: Workflow) -> None:
    """Checks of a step's values against the case, before the step completes (nothing is changed yet)."""
    if (instance.process_id == "standard_verification" and task.bpmn_id == "review"
            and values.get("decision") == "accept"):
        from engine.services.tiering import check_review

        check_review(ctx, instance, wf.task_data(task.id), values)


def on_timers_fired(ctx: EngineContext, instance: WorkflowInstance, bpmn_ids: list[str]) -> None:
    """Domain records that follow fired timers (same unit of work as the sweep)."""
    if instance.process_id == "standard_verification" and "upper_overdue" in bpmn_ids:
        from engine.services.escalations import record_overdue

        record_overdue(ctx, instance)


def _escalation_followups(ctx: EngineContext, instance: WorkflowInstance, task: HumanTask,
                          values: Mapping[str, Any], actor: Actor) -> None:
    """The county's 审核复审 raises its escalations (PS-5, PS-7); a case that reached its wait for the upper
    reports after the last one came back goes on at once."""
    from engine.services import escalations

    if task.bpmn_id == "review" and values.get("decision") == "accept":
        from engine.services.tiering import on_review_accepted

        on_review_accepted(ctx, instance, task.id, values, actor)
    if instance.status.value == "running" and instance.business_key:
        escalations.release_waiting_case(ctx, instance)


def start_decision_feedback(ctx: EngineContext, case: WorkflowInstance, *, report_no: str | None = None) -> None:
    """Ask the entrusting unit for its assistance decision, due per the policy profile (Jilin: day 10 of the
    next month); once per case."""
    from engine.services.instances import start_instance

    if get_current_definition(ctx, FEEDBACK_PROCESS) is None:
        logger.warning("%s is not deployed; no decision feedback requested", FEEDBACK_PROCESS)
        return
    existing = ctx.session.execute(select(WorkflowInstance.id).where(
        WorkflowInstance.process_id == FEEDBACK_PROCESS, WorkflowInstance.business_key == case.business_key)).first()
    if existing is not None or case.business_key is None:
        return
    calendar = WorkingCalendar(ctx.session)
    data = effective_policy(ctx, ctx.policy_profile).decision_feedback_data(
        case.business_key, ctx.now(), calendar, **({"report_no": report_no} if report_no else {}))
    start_instance(ctx, FEEDBACK_PROCESS, actor=SYSTEM, business_key=case.business_key, data=data,
                   agency_unit_id=case.agency_unit_id, entrusting_unit_id=case.entrusting_unit_id,
                   region_code=case.region_code)
