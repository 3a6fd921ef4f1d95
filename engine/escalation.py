"""Overdue work is visible and escalated (PS-10).

A human task is overdue once its ``due_at`` (from the diagram's ``dueWorkingDays``, on
the working-day calendar) has passed while it is still open. The job
``tasks.escalate_overdue`` (in-process ticker and Celery beat) finds such tasks by the
indexed ``due_at``, records each one once in ``task_escalations`` and appends a
``task_overdue`` event to the case's history, naming the unit whose supervisors were
told: the unit that holds the task (its supervisor may reassign it). Supervisors read
their unit's overdue work with :func:`list_overdue`. Nothing is blocked: an overdue task
can still be completed as usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.history import append_event
from engine.history import instance_stream
from engine.jobs import job
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import TaskEscalation
from engine.models import WorkflowInstance
from engine.persistence import definition_info

logger = logging.getLogger(__name__)

ESCALATION_ACTOR = Actor.system("job:escalation")


def escalate_overdue(ctx: EngineContext, *, limit: int = 200) -> int:
    """Escalate the open tasks past their due time in up to ``limit`` cases; returns how many tasks.

    Cases are claimed like the timer sweep does: locked with ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL (a case busy in a request is left for the next sweep), then its overdue tasks
    are re-read under the lock, so a task is escalated once even with several workers.
    """
    instance_ids = ctx.session.execute(
        select(HumanTask.instance_id)
        .outerjoin(TaskEscalation, TaskEscalation.task_id == HumanTask.id)
        .where(HumanTask.status == HumanTaskStatus.OPEN, HumanTask.due_at < ctx.now(),
               TaskEscalation.task_id.is_(None))
        .group_by(HumanTask.instance_id)
        .order_by(HumanTask.instance_id)
        .limit(limit)
    ).scalars().all()
    return sum(_escalate_instance(ctx, instance_id) for instance_id in instance_ids)


def _claim(ctx: EngineContext, instance_id: int) -> WorkflowInstance | None:
    query = select(WorkflowInstance).where(WorkflowInstance.id == instance_id)
    if ctx.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return ctx.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()


def _escalate_instance(ctx: EngineContext, instance_id: int) -> int:
    instance = _claim(ctx, instance_id)
    if instance is None:
        return 0
    now = ctx.now()
    tasks = ctx.session.execute(
        select(HumanTask)
        .outerjoin(TaskEscalation, TaskEscalation.task_id == HumanTask.id)
        .where(HumanTask.instance_id == instance_id, HumanTask.status == HumanTaskStatus.OPEN,
               HumanTask.due_at < now, TaskEscalation.task_id.is_(None))
        .order_by(HumanTask.due_at, HumanTask.id)
        .execution_options(populate_existing=True)
    ).scalars().all()
    definition_hash = definition_info(ctx, instance.definition_id).content_hash if tasks else None
    for task in tasks:
        unit_id = task.unit_id if task.unit_id is not None else instance.agency_unit_id
        ctx.session.add(TaskEscalation(task_id=task.id, escalated_at=now, notified_unit_id=unit_id))
        assert task.due_at is not None  # selected by due_at
        append_event(ctx, stream=instance_stream(instance_id), kind="task_overdue", actor=ESCALATION_ACTOR,
                     instance_id=instance_id, definition_hash=definition_hash, task_id=task.id,
                     bpmn_id=task.bpmn_id,
                     payload={"due_at": task.due_at.isoformat(), "role": task.role_code, "unit_id": task.unit_id,
                              "assignee": task.assignee, "notified_unit_id": unit_id})
        logger.info("Task %s (%s) of instance %s overdue since %s; unit %s notified",
                    task.id, task.bpmn_id, instance_id, task.due_at, unit_id)
    return len(tasks)


@dataclass(frozen=True)
class OverdueTask:
    """One overdue open task as a supervisor's list shows it."""

    task_id: str
    instance_id: int
    business_key: str | None
    bpmn_id: str
    name: str
    role_code: str | None
    unit_id: int | None
    assignee: str | None
    due_at: datetime
    #: None until the escalation job has reported it
    escalated_at: datetime | None


def list_overdue(ctx: EngineContext, unit_id: int, *, limit: int = 100) -> list[OverdueTask]:
    """The open tasks past their due time held by ``unit_id`` or escalated to it, most overdue first."""
    rows = ctx.session.execute(
        select(HumanTask, WorkflowInstance.business_key, TaskEscalation.escalated_at)
        .join(WorkflowInstance, WorkflowInstance.id == HumanTask.instance_id)
        .outerjoin(TaskEscalation, TaskEscalation.task_id == HumanTask.id)
        .where(HumanTask.status == HumanTaskStatus.OPEN, HumanTask.due_at < ctx.now(),
               or_(HumanTask.unit_id == unit_id, TaskEscalation.notified_unit_id == unit_id))
        .order_by(HumanTask.due_at, HumanTask.instance_id, HumanTask.created_at, HumanTask.id)
        .limit(limit)
    ).all()
    return [
        OverdueTask(task.id, task.instance_id, business_key, task.bpmn_id, task.name, task.role_code, task.unit_id,
                    task.assignee, task.due_at, escalated_at)
        for task, business_key, escalated_at in rows
        if task.due_at is not None  # always (the query's due_at < now), for the type
    ]


@job("tasks.escalate_overdue")
def escalate_overdue_job(ctx: EngineContext, limit: int = 200) -> int:
    """Escalate overdue open tasks (scheduled with the due-timer sweep)."""
    return escalate_overdue(ctx, limit=limit)
