"""WorkflowInstance row <-> runtime Workflow, and the derived rows written with every save.

Lists, inboxes, the timer sweep and message correlation read the derived tables;
none of them ever deserializes a workflow.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.context import Actor
from engine.context import EngineContext
from engine.deadlines import instance_due_at
from engine.deadlines import recording
from engine.errors import ConflictError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import InstanceStatus
from engine.models import MessageSubscription
from engine.models import OutboxMessage
from engine.models import ProcessDefinition
from engine.models import Timer
from engine.models import TimerStatus
from engine.models import WorkflowInstance
from engine.runtime import DefinitionInfo
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


def lock_task_instance(session: Session, task_id: str) -> WorkflowInstance | None:
    """Lock the instance a human task belongs to, found through the task row, in one statement.

    The task -> instance link never changes, so finding the instance through a join is the same
    as reading the task's ``instance_id`` first; only the instance row is locked (``FOR UPDATE
    OF``), exactly as :func:`lock_instance` locks it. The task itself must be read again under
    the lock by the caller. None if no such task exists.
    """
    return session.execute(
        select(WorkflowInstance)
        .join(HumanTask, HumanTask.instance_id == WorkflowInstance.id)
        .where(HumanTask.id == task_id)
        .with_for_update(of=WorkflowInstance)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def spec_loader(session: Session, definition_id: int) -> str:
    return session.execute(
        select(ProcessDefinition.serialized_spec).where(ProcessDefinition.id == definition_id)
    ).scalar_one()


def load_workflow(ctx: EngineContext, instance: WorkflowInstance) -> Workflow:
    """The instance's workflow: the copy this process saved last if the version still matches, else restored."""
    cached = ctx.runtime.take_cached(instance.id, instance.version)
    if cached is not None:
        cached.deadline = recording(ctx.deadline)
        return cached
    info = definition_info(ctx, instance.definition_id)
    return ctx.runtime.load(
        info.content_hash,
        lambda: spec_loader(ctx.session, instance.definition_id),
        instance.state,
        instance.serializer_version,
        deadline=recording(ctx.deadline),
    )


def definition_info(ctx: EngineContext, definition_id: int) -> DefinitionInfo:
    """What the engine needs to know about a definition, cached per process (definitions never change)."""
    def fetch() -> DefinitionInfo:
        content_hash, catalogue = ctx.session.execute(
            select(ProcessDefinition.content_hash, ProcessDefinition.task_catalogue)
            .where(ProcessDefinition.id == definition_id)
        ).one()
        names = {t["bpmn_id"]: t["name"] for t in catalogue.get("user_tasks", [])}
        due_variable = (catalogue.get("process_properties") or {}).get("instanceDueVariable")
        return DefinitionInfo(content_hash, catalogue.get("has_timers", True), catalogue.get("has_messages", True),
                              names, due_variable)

    return ctx.runtime.definition_info(definition_id, fetch)


def guard_outgoing(ctx: EngineContext, instance_id: int, message_name: str, payload: object) -> None:
    """Nothing leaves for a person without a valid authorisation (PR-1, 先授权，后核对).

    An ``exchange_request`` of a household's case names its subjects (``subject_ids``, person
    ids of that household); the command that would send it is refused — and rolled back — when
    any of them is not that household's or not authorised today. An instance without a
    household carries no personal data, so there is nothing to guard.
    """
    if message_name != "exchange_request" or not isinstance(payload, dict):
        return
    from engine.models.case import Household
    from engine.models.case import Person
    from engine.services.authorisations import assert_authorised

    household_id = ctx.session.execute(select(Household.id).where(Household.instance_id == instance_id)).scalar()
    if household_id is None:
        return
    subjects = [int(s) for s in payload.get("subject_ids") or [] if str(s).isdigit()]
    own = set(ctx.session.execute(select(Person.id).where(Person.household_id == household_id)).scalars())
    if len(subjects) != len(payload.get("subject_ids") or []) or not set(subjects) <= own:
        raise PermissionDeniedError("核对请求包含不属于本户的对象", code="foreign_subject")
    assert_authorised(ctx, subjects, ctx.today())


def state_digest(state: str) -> str:
    """sha256 of a stored state; events carry it so tampering with the state is detectable."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def save_workflow(ctx: EngineContext, instance: WorkflowInstance, wf: Workflow, *, actor: Actor,
                  open_tasks: list[HumanTask] | None = None, fresh: bool = False, keep: bool = True) -> str:
    """Write the state and every derived row in one flush; return the state's digest.

    A concurrent writer turns into a ConflictError. The caller records the command as an event
    carrying the digest (``state_sha256``), which puts the stored state under the hash chain.

    :param open_tasks: the instance's open human-task rows, if the caller already read them
        fresh under the instance lock (saves a query); else they are read here.
    :param fresh: the instance was created in this transaction, so it has no derived rows yet
        (tasks, timers, subscriptions): nothing to read back, only rows to add (saves three queries
        per started case, which batches start by the thousand).
    :param keep: offer the saved workflow to this process's cache after the commit (off for bulk
        commands: until the commit the offer holds the whole workflow in memory).
    """
    now, instance_id = ctx.now(), instance.id
    info = definition_info(ctx, instance.definition_id)
    # drain thrown messages before dumping, so the saved state never carries them again
    for message in wf.drain_thrown_messages():
        guard_outgoing(ctx, instance_id, message.message_name, message.payload)
        ctx.session.add(OutboxMessage(instance_id=instance_id, message_name=message.message_name,
                                      payload=message.payload, created_at=now))
    instance.state = ctx.runtime.dump(wf)
    instance.serializer_version = ctx.runtime.serializer_version
    instance.updated_at = now
    if wf.is_completed and instance.status == InstanceStatus.RUNNING:
        instance.status = InstanceStatus.COMPLETED
        instance.completed_at = now
    if info.due_variable:
        instance.due_at = instance_due_at(wf.variable(info.due_variable))
    with ctx.session.no_autoflush:
        _sync_human_tasks(ctx, instance, wf, actor, now, [] if fresh else open_tasks)
        if info.has_timers:
            _sync_timers(ctx, instance, wf, now, fresh)
        if info.has_messages:
            _sync_subscriptions(ctx, instance, wf, now, fresh)
    try:
        ctx.session.flush()
    except StaleDataError as exc:
        raise ConflictError(instance_id=instance_id) from exc
    if keep:
        _keep_after_commit(ctx, instance_id, instance.version, wf)
    return state_digest(instance.state)


_PENDING = "hedui_saved_workflows"


def _keep_after_commit(ctx: EngineContext, instance_id: int, version: int, wf: Workflow) -> None:
    """Offer the saved workflow to the next command on this instance, once the save is committed.

    The cache holds exactly what was stored (the dump was taken after the last change) and
    only under the committed version; a rollback discards it. The hand-over runs in two
    session-class listeners registered once (registering per session cost ~0.1 ms a step).
    """
    pending = ctx.session.info.setdefault(_PENDING, {})
    for key in [k for k in pending if k[0] == instance_id]:
        del pending[key]
    pending[(instance_id, version)] = (ctx.runtime, wf)


@event.listens_for(Session, "after_commit")
def _hand_over_saved_workflows(session: Session) -> None:
    for (iid, ver), (runtime, saved) in session.info.pop(_PENDING, {}).items():
        runtime.put_cached(iid, ver, saved)


@event.listens_for(Session, "after_soft_rollback")
def _drop_saved_workflows(session: Session, _previous: object) -> None:
    session.info.pop(_PENDING, None)


def open_human_tasks(session: Session, instance_id: int, *, also: str | None = None) -> list[HumanTask]:
    """The instance's open human-task rows, fresh (plus the row ``also``, whatever its status)."""
    where = (HumanTask.instance_id == instance_id) & (HumanTask.status == HumanTaskStatus.OPEN)
    if also is not None:
        where = where | (HumanTask.id == also)
    return list(session.execute(
        select(HumanTask).where(where).execution_options(populate_existing=True)
    ).scalars())


def _sync_human_tasks(ctx: EngineContext, instance: WorkflowInstance, wf: Workflow, actor: Actor, now: datetime,
                      open_rows: list[HumanTask] | None = None) -> None:
    ready = {t.task_id: t for t in wf.ready_human_tasks()}
    if open_rows is None:
        open_rows = open_human_tasks(ctx.session, instance.id)
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


def _sync_timers(ctx: EngineContext, instance: WorkflowInstance, wf: Workflow, now: datetime,
                 fresh: bool = False) -> None:
    waiting = {t.task_id: t for t in wf.waiting_timers()}
    pending = [] if fresh else ctx.session.execute(
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


def _sync_subscriptions(ctx: EngineContext, instance: WorkflowInstance, wf: Workflow, now: datetime,
                        fresh: bool = False) -> None:
    waiting = {(m.task_id, m.message_name): m for m in wf.waiting_messages()}
    rows = [] if fresh else ctx.session.execute(
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
