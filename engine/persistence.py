"""WorkflowInstance row <-> runtime Workflow, and the derived rows written with every save.

Lists, inboxes, the timer sweep and message correlation read the derived tables;
none of them ever deserializes a workflow.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import ConflictError
from engine.errors import NotFoundError
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import InstanceStatus
from engine.models import MessageSubscription
from engine.models import OutboxMessage
from engine.models import ProcessDefinition
from engine.models import Timer
from engine.models import TimerStatus
from engine.models import WorkflowInstance
from engine.runtime import ReadyTask
from engine.runtime import Workflow


def lock_instance(session: Session, instance_id: int) -> WorkflowInstance:
    """Fetch an instance with a row lock (PostgreSQL) and fresh values; the version column guards the rest."""
    instance = session.execute(
        select(WorkflowInstance)
        .where(WorkflowInstance.id == instance_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if instance is None:
        raise NotFoundError("流程实例不存在", instance_id=instance_id)
    return instance


def spec_loader(session: Session, definition_id: int) -> str:
    return session.execute(
        select(ProcessDefinition.serialized_spec).where(ProcessDefinition.id == definition_id)
    ).scalar_one()


def load_workflow(ctx: EngineContext, instance: WorkflowInstance) -> Workflow:
    definition = instance.definition
    return ctx.runtime.load(
        definition.content_hash,
        lambda: spec_loader(ctx.session, definition.id),
        instance.state,
        instance.serializer_version,
        deadline=ctx.deadline,
    )


def save_workflow(ctx: EngineContext, instance: WorkflowInstance, wf: Workflow, *, actor: Actor) -> None:
    """Write the state and every derived row; a concurrent writer turns into a ConflictError."""
    now, instance_id = ctx.now(), instance.id
    instance.state = ctx.runtime.dump(wf)
    instance.serializer_version = ctx.runtime.serializer_version
    instance.updated_at = now
    if wf.is_completed and instance.status == InstanceStatus.RUNNING:
        instance.status = InstanceStatus.COMPLETED
        instance.completed_at = now
    try:
        ctx.session.flush()  # the version check happens here, before any derived row is touched
    except StaleDataError as exc:
        raise ConflictError(instance_id=instance_id) from exc
    _sync_human_tasks(ctx, instance, wf, actor, now)
    _sync_timers(ctx, instance, wf, now)
    _sync_subscriptions(ctx, instance, wf, now)
    for message in wf.drain_thrown_messages():
        ctx.session.add(OutboxMessage(instance_id=instance.id, message_name=message.message_name,
                                      payload=message.payload, created_at=now))
    ctx.session.flush()


def _sync_human_tasks(ctx: EngineContext, instance: WorkflowInstance, wf: Workflow, actor: Actor, now: datetime) -> None:
    ready = {t.task_id: t for t in wf.ready_human_tasks()}
    open_rows = ctx.session.execute(
        select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == HumanTaskStatus.OPEN)
    ).scalars().all()
    for row in open_rows:
        if row.id in ready:
            ready.pop(row.id)
            continue
        if wf.task_state(row.id) == "COMPLETED":
            row.status, row.completed_by, row.completed_at = HumanTaskStatus.COMPLETED, actor.username, now
        else:
            row.status, row.completed_at = HumanTaskStatus.CANCELLED, now
    for task in ready.values():
        ctx.session.add(_new_human_task(ctx, instance, wf, task, now))


def _new_human_task(ctx: EngineContext, instance: WorkflowInstance, wf: Workflow, task: ReadyTask,
                    now: datetime) -> HumanTask:
    from engine.assignment import unit_for_role

    due_at = None
    days = task.properties.get("dueWorkingDays")
    if days and ctx.deadline is not None:
        due_at = ctx.deadline(now, int(days))
    properties = dict(task.properties)
    if properties.get("exchangeUnit"):
        # which sharing unit the exchange step is for, evaluated once from the task's data (SD-3)
        properties["exchangeUnitValue"] = str(wf.evaluate(task.task_id, properties["exchangeUnit"]))
    return HumanTask(
        id=task.task_id, instance_id=instance.id, bpmn_id=task.bpmn_id, name=task.name, role_code=task.lane,
        unit_id=unit_for_role(ctx, instance, task.lane), form_key=task.properties.get("formKey"),
        properties=properties, status=HumanTaskStatus.OPEN, created_at=now, due_at=due_at,
    )


def _sync_timers(ctx: EngineContext, instance: WorkflowInstance, wf: Workflow, now: datetime) -> None:
    waiting = {t.task_id: t for t in wf.waiting_timers()}
    pending = ctx.session.execute(
        select(Timer).where(Timer.instance_id == instance.id, Timer.status == TimerStatus.PENDING)
    ).scalars().all()
    for row in pending:
        current = waiting.pop(row.id, None)
        if current is not None:
            row.due_at = current.due_at
        elif wf.timer_fired(row.id):
            row.status, row.fired_at = TimerStatus.FIRED, now
        else:
            row.status = TimerStatus.CANCELLED
    for timer in waiting.values():
        ctx.session.add(Timer(id=timer.task_id, instance_id=instance.id, bpmn_id=timer.bpmn_id,
                              due_at=timer.due_at, status=TimerStatus.PENDING))


def _sync_subscriptions(ctx: EngineContext, instance: WorkflowInstance, wf: Workflow, now: datetime) -> None:
    waiting = {(m.task_id, m.message_name): m for m in wf.waiting_messages()}
    rows = ctx.session.execute(
        select(MessageSubscription).where(MessageSubscription.instance_id == instance.id)
    ).scalars().all()
    for row in rows:
        if waiting.pop((row.task_id, row.message_name), None) is None:
            ctx.session.delete(row)
    for message in waiting.values():
        key = message.correlation_key if message.correlation_key is not None else instance.business_key
        ctx.session.add(MessageSubscription(
            instance_id=instance.id, task_id=message.task_id, bpmn_id=message.bpmn_id,
            message_name=message.message_name, correlation_key=key or f"instance:{instance.id}", created_at=now,
        ))
