"""Start instances and act on their human tasks (claim, release, complete; a supervisor reassigns or releases)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import cast

from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import CursorResult

import forms
from engine.assignment import check_task_action
from engine.assignment import holds
from engine.assignment import refuse_auditor
from engine.context import Actor
from engine.context import EngineContext
from engine.deadlines import deadlines_of
from engine.deadlines import recording
from engine.errors import ConflictError
from engine.errors import FormValidationError
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.history import append_event
from engine.history import instance_stream
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import InstanceStatus
from engine.models import Membership
from engine.models import Unit
from engine.models import User
from engine.models import WorkflowInstance
from engine.persistence import definition_info
from engine.persistence import load_workflow
from engine.persistence import lock_task_instance
from engine.persistence import open_human_tasks
from engine.persistence import save_workflow
from engine.persistence import spec_loader
from engine.services.deploy import get_current_definition


def start_instance(
    ctx: EngineContext,
    process_id: str,
    *,
    actor: Actor,
    business_key: str | None = None,
    data: Mapping[str, Any] | None = None,
    agency_unit_id: int | None = None,
    entrusting_unit_id: int | None = None,
    region_code: str | None = None,
) -> WorkflowInstance:
    """Start ``process_id`` on its current definition and run it to its first wait.

    :param agency_unit_id: the verification agency owning the case (its agency-side lanes).
    :param entrusting_unit_id: the entrusting unit (its entrusting-side lanes).
    :param region_code: the case's region, for jurisdiction.
    """
    definition = get_current_definition(ctx, process_id)
    if definition is None:
        raise NotFoundError(f"流程「{process_id}」尚未部署", process_id=process_id)
    wf = ctx.runtime.new_workflow(definition.content_hash, lambda: spec_loader(ctx.session, definition.id), data,
                                  deadline=recording(ctx.deadline))
    now = ctx.now()
    instance = WorkflowInstance(
        definition=definition, process_id=process_id, business_key=business_key, status=InstanceStatus.RUNNING,
        state="", serializer_version=ctx.runtime.serializer_version, started_at=now, updated_at=now,
        started_by=actor.username, agency_unit_id=agency_unit_id, entrusting_unit_id=entrusting_unit_id,
        region_code=region_code,
    )
    ctx.session.add(instance)
    ctx.session.flush()
    wf.run_engine_steps()
    digest = save_workflow(ctx, instance, wf, actor=actor, fresh=True)
    append_event(ctx, stream=instance_stream(instance.id), kind="started", actor=actor, instance_id=instance.id,
                 definition_hash=definition.content_hash,
                 payload={"process_id": process_id, "business_key": business_key, "data": dict(data or {}),
                          "state_sha256": digest, **deadlines_of(wf)})
    return instance


def get_task(ctx: EngineContext, task_id: str) -> HumanTask:
    task = ctx.session.get(HumanTask, task_id)
    if task is None:
        raise NotFoundError("任务不存在", task_id=task_id)
    return task


def _lock_task(ctx: EngineContext, task_id: str) -> tuple[HumanTask, WorkflowInstance]:
    """Lock the task's instance (one statement), then read the task fresh under that lock."""
    instance = lock_task_instance(ctx.session, task_id)
    if instance is None:
        raise NotFoundError("任务不存在", task_id=task_id)
    task = ctx.session.get(HumanTask, task_id, populate_existing=True)
    assert task is not None  # rows of a locked instance do not disappear
    return task, instance


def _lock_task_and_open_rows(ctx: EngineContext, task_id: str) -> tuple[HumanTask, WorkflowInstance,
                                                                          list[HumanTask]]:
    """:func:`_lock_task`, reading the task together with the instance's other open tasks (one query).

    The open rows are read under the instance lock, so they are what ``save_workflow`` would read.
    """
    instance = lock_task_instance(ctx.session, task_id)
    if instance is None:
        raise NotFoundError("任务不存在", task_id=task_id)
    rows = open_human_tasks(ctx.session, instance.id, also=task_id)
    task = next(r for r in rows if r.id == task_id)  # rows of a locked instance do not disappear
    return task, instance, [r for r in rows if r.status == HumanTaskStatus.OPEN]


def claim_task(ctx: EngineContext, task_id: str, *, actor: Actor) -> HumanTask:
    """Claim an open task; a second claimant gets a ConflictError, the same one a no-op."""
    task, instance = _lock_task(ctx, task_id)
    if task.status != HumanTaskStatus.OPEN:
        raise InvalidStateError("该任务已办结，不能认领", task_id=task_id)
    check_task_action(ctx, task, instance, actor, "claim")
    if task.assignee == actor.username:
        return task
    result = cast(CursorResult[Any], ctx.session.execute(
        update(HumanTask)
        .where(HumanTask.id == task_id, HumanTask.status == HumanTaskStatus.OPEN, HumanTask.assignee.is_(None))
        .values(assignee=actor.username, claimed_at=ctx.now())
        .execution_options(synchronize_session=False)
    ))
    if result.rowcount != 1:
        raise ConflictError("该任务已被他人认领", task_id=task_id)
    ctx.session.refresh(task)
    _task_event(ctx, instance, task, "task_claimed", actor)
    return task


def release_task(ctx: EngineContext, task_id: str, *, actor: Actor) -> HumanTask:
    """Give a claimed task back to the pool (only its claimant may)."""
    task, instance = _lock_task(ctx, task_id)
    if task.status != HumanTaskStatus.OPEN:
        raise InvalidStateError("该任务已办结", task_id=task_id)
    refuse_auditor(ctx, task, instance, actor, "release")
    if task.assignee != actor.username:
        raise ConflictError("只有认领人可以退回该任务", task_id=task_id)
    task.assignee, task.claimed_at = None, None
    ctx.session.flush()
    _task_event(ctx, instance, task, "task_released", actor)
    return task


def reassign_task(ctx: EngineContext, task_id: str, to_user: User, *, actor: Actor,
                  reason: str | None = None) -> HumanTask:
    """A supervisor of the task's unit gives an open task to another holder of its role.

    :param reason: the supervisor's 改派原因, recorded with the event when given.
    """
    task, instance = _supervised_task(ctx, task_id, actor, "reassign")
    check_task_action(ctx, task, instance, Actor(to_user.username, task.role_code, to_user.id), "reassign")
    previous = task.assignee
    task.assignee, task.claimed_at = to_user.username, ctx.now()
    ctx.session.flush()
    _task_event(ctx, instance, task, "task_reassigned", actor, previous=previous, to=to_user.username,
                **({"reason": reason} if reason else {}))
    return task


def unassign_task(ctx: EngineContext, task_id: str, *, actor: Actor, reason: str | None = None) -> HumanTask:
    """A supervisor of the task's unit gives a claimed task back to the pool (退回待认领), whoever claimed it."""
    task, instance = _supervised_task(ctx, task_id, actor, "release")
    if task.assignee is None:
        raise ConflictError("该任务尚未被认领，无需退回", task_id=task_id)
    previous = task.assignee
    task.assignee, task.claimed_at = None, None
    ctx.session.flush()
    _task_event(ctx, instance, task, "task_released", actor, previous=previous, by_supervisor=True,
                **({"reason": reason} if reason else {}))
    return task


def _supervised_task(ctx: EngineContext, task_id: str, actor: Actor, action: str) -> tuple[HumanTask,
                                                                                           WorkflowInstance]:
    """Lock an open task for a supervisor's command; refuse auditors and non-supervisors of its unit."""
    task, instance = _lock_task(ctx, task_id)
    if task.status != HumanTaskStatus.OPEN:
        raise InvalidStateError("该任务已办结", task_id=task_id)
    refuse_auditor(ctx, task, instance, actor, action)
    if actor.user_id is None or not holds(ctx, actor.user_id, task.unit_id, "supervisor"):
        raise PermissionDeniedError("只有承办单位的科室负责人可以改派任务", code="supervisor_required")
    return task, instance


def complete_task(ctx: EngineContext, task_id: str, data: Mapping[str, Any], *, actor: Actor) -> HumanTask:
    """Validate ``data`` with the task's form and complete it; exactly one of two racers succeeds."""
    task, instance, open_rows = _lock_task_and_open_rows(ctx, task_id)
    if task.status != HumanTaskStatus.OPEN or instance.status != InstanceStatus.RUNNING:
        raise InvalidStateError("该任务已办结，不能重复提交", task_id=task_id)
    if task.assignee not in (None, actor.username):
        raise ConflictError("该任务已被他人认领", task_id=task_id, assignee=task.assignee)
    check_task_action(ctx, task, instance, actor, "complete")
    values = _validated(task, data)
    wf = load_workflow(ctx, instance)
    from engine.services.followups import check_task_values

    check_task_values(ctx, instance, task, values, wf)  # may refuse the values against the case: nothing written
    wf.complete_task(task_id, values)
    digest = save_workflow(ctx, instance, wf, actor=actor, open_tasks=open_rows)
    _task_event(ctx, instance, task, "task_completed", actor, data=values, state_sha256=digest, **deadlines_of(wf))
    from engine.services.followups import on_instance_completed
    from engine.services.followups import on_task_completed

    on_task_completed(ctx, instance, task, values, actor)
    # save_workflow() updated the status mypy narrowed to RUNNING above
    if instance.status == InstanceStatus.COMPLETED:  # type: ignore[comparison-overlap]
        on_instance_completed(ctx, instance, wf)
    return task


def _validated(task: HumanTask, data: Mapping[str, Any]) -> dict[str, Any]:
    if not task.form_key:
        return dict(data)
    try:
        return forms.validate(task.form_key, data, context=task.properties)
    except forms.FormError as exc:
        raise FormValidationError(fields=exc.fields) from exc


def _task_event(ctx: EngineContext, instance: WorkflowInstance, task: HumanTask, kind: str, actor: Actor,
                **payload: Any) -> None:
    """Record a task command; ``unit`` is the unit the actor acted for (the task's), fixed at the time (AU-1).

    Only new events carry it: the timeline derives the unit of older ones from memberships.
    """
    if task.unit_id is not None:
        unit = ctx.session.get(Unit, task.unit_id)
        if unit is not None:
            payload = {"unit": unit.code, **payload}
    append_event(ctx, stream=instance_stream(instance.id), kind=kind, actor=actor, instance_id=instance.id,
                 definition_hash=definition_info(ctx, instance.definition_id).content_hash, task_id=task.id,
                 bpmn_id=task.bpmn_id,
                 payload=payload or None)


def list_open_tasks(ctx: EngineContext, *, role_codes: list[str] | None = None, instance_id: int | None = None,
                    limit: int = 100) -> list[HumanTask]:
    """Open human tasks from the derived table (never deserializes a workflow)."""
    query = select(HumanTask).where(HumanTask.status == HumanTaskStatus.OPEN)
    if role_codes is not None:
        query = query.where(HumanTask.role_code.in_(role_codes))
    if instance_id is not None:
        query = query.where(HumanTask.instance_id == instance_id)
    query = query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at).limit(limit)
    return list(ctx.session.execute(query).scalars())


def list_tasks_for_user(ctx: EngineContext, user_id: int, *, limit: int = 100) -> list[HumanTask]:
    """Open tasks whose role the user holds in the task's unit (the inbox; no deserialization)."""
    query = (
        select(HumanTask)
        .join(Membership, (Membership.unit_id == HumanTask.unit_id) & (Membership.role_code == HumanTask.role_code))
        .where(HumanTask.status == HumanTaskStatus.OPEN, Membership.user_id == user_id)
        .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)
        .limit(limit)
    )
    return list(ctx.session.execute(query).scalars())
