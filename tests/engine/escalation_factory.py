"""Shared set-up for the escalation tests (tiered PS-5/PS-6, cross-city PS-7): the demo region at three
levels, every diagram, and helpers that walk a case with the demo staff of its agency.

Every command is followed by ``expire_all()`` so the next one reads what was saved.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.models import Escalation
from engine.models import Household
from engine.models import HumanTask
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.policy import set_override
from engine.services.demo_cases import _answer
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from tests.engine.recheck_factory import ADMIN
from tests.engine.recheck_factory import as_user
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare

__all__ = ["ADMIN", "as_user", "enrol", "prepare"]

INTAKE_OK = {"decision": "accept", "materials_complete": True, "paper_electronic_consistent": True}


def set_tiering(ctx: EngineContext, mode: str) -> None:
    set_override(ctx, "verification_tiering", mode, actor=ADMIN)


def open_ids(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    return sorted(t.bpmn_id for t in list_open_tasks(ctx, instance_id=instance.id))


def task_of(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str) -> HumanTask:
    [task] = [t for t in list_open_tasks(ctx, instance_id=instance.id) if t.bpmn_id == bpmn_id]
    return task


def do(ctx: EngineContext, instance: WorkflowInstance, bpmn_id: str, data: dict[str, Any], username: str,
       role: str | None = None) -> None:
    """Complete the open ``bpmn_id`` of the case as ``username`` (a signed-in user: every guard applies)."""
    task = task_of(ctx, instance, bpmn_id)
    complete_task(ctx, task.id, data, actor=as_user(ctx, username, role or task.role_code))
    ctx.session.expire_all()


def exchange(ctx: EngineContext, instance: WorkflowInstance, staff: str) -> None:
    """发起数据交换, every unit answers through the real exchange path, 确认数据交换结果 (SD-2: two officers)."""
    do(ctx, instance, "prepare_exchange", {"batch_checked": True}, f"{staff}_exchange_1")
    _answer(ctx, instance, staff=staff)
    ctx.session.expire_all()
    do(ctx, instance, "confirm_exchange", {"statuses_checked": True}, f"{staff}_exchange_2")


def report(ctx: EngineContext, instance: WorkflowInstance, staff: str) -> None:
    do(ctx, instance, "issue_report", {"remarks": None}, f"{staff}_reporter")


def upper_walk(ctx: EngineContext, instance: WorkflowInstance, staff: str) -> None:
    """An upper agency's case, from its 审核复审 to its own report, with ``staff``'s demo users."""
    do(ctx, instance, "review", {"decision": "accept"}, f"{staff}_reviewer")
    exchange(ctx, instance, staff)
    report(ctx, instance, staff)


def start_data(ctx: EngineContext, instance: WorkflowInstance) -> dict[str, Any]:
    """What the case started with (its tier plan), as its open 受理初审 sees it."""
    return load_workflow(ctx, instance).task_data(task_of(ctx, instance, "intake_check").id)


def escalations_of(ctx: EngineContext, household: Household) -> list[Escalation]:
    return list(ctx.session.execute(select(Escalation).where(Escalation.origin_household_id == household.id)
                                    .order_by(Escalation.id)).scalars())


def upper_instance(ctx: EngineContext, escalation: Escalation) -> WorkflowInstance:
    household = ctx.session.get(Household, escalation.upper_household_id)
    assert household is not None and household.instance is not None
    return household.instance


def actor(ctx: EngineContext, username: str, role: str | None = None) -> Actor:
    return as_user(ctx, username, role)
