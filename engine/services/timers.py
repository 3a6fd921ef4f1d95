"""Fire due timers: find them by index, lock their instances, run them, record what fired."""

from __future__ import annotations

import logging

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.deadlines import deadlines_of
from engine.history import append_event
from engine.history import instance_stream
from engine.models import Timer
from engine.models import TimerStatus
from engine.models import WorkflowInstance
from engine.persistence import definition_info
from engine.persistence import load_workflow
from engine.persistence import save_workflow

logger = logging.getLogger(__name__)

TIMER_ACTOR = Actor.system("job:timers")


def fire_due_timers(ctx: EngineContext, *, limit: int = 100) -> int:
    """Fire the due timers of up to ``limit`` instances; returns how many timers fired.

    Instances are claimed, not timers: each is locked with ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL (one worker per instance; a request holding the instance is skipped until
    the next sweep, never deadlocked), then its pending timers are re-read under the lock,
    so a timer another worker already fired is never fired again, and every timer that
    fires gets its event — also the ones that became due after the sweep started.
    """
    candidates = ctx.session.execute(
        select(Timer.instance_id)
        .where(Timer.status == TimerStatus.PENDING, Timer.due_at <= ctx.now())
        .group_by(Timer.instance_id)
        .order_by(Timer.instance_id)
        .limit(limit)
    ).scalars().all()
    return sum(_fire_for_instance(ctx, instance_id) for instance_id in candidates)


def _claim(ctx: EngineContext, instance_id: int) -> WorkflowInstance | None:
    query = select(WorkflowInstance).where(WorkflowInstance.id == instance_id)
    if ctx.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return ctx.session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()


def _fire_for_instance(ctx: EngineContext, instance_id: int) -> int:
    instance = _claim(ctx, instance_id)
    if instance is None:
        return 0  # another worker or a request holds it; the next sweep retries
    pending = ctx.session.execute(
        select(Timer).where(Timer.instance_id == instance_id, Timer.status == TimerStatus.PENDING)
        .execution_options(populate_existing=True)
    ).scalars().all()
    if not any(t.due_at <= ctx.now() for t in pending):
        return 0
    wf = load_workflow(ctx, instance)
    wf.run_engine_steps()
    fired = sorted((t for t in pending if wf.timer_fired(t.id)), key=lambda t: t.due_at)
    due = {t.id: t.due_at.isoformat() for t in fired}  # read before the save rewrites the rows
    pinned = deadlines_of(wf)  # every event of this sweep carries them: the replay runs the sweep at the first
    digest = save_workflow(ctx, instance, wf, actor=TIMER_ACTOR)
    for timer in fired:
        append_event(ctx, stream=instance_stream(instance.id), kind="timer_fired", actor=TIMER_ACTOR,
                     instance_id=instance.id, definition_hash=definition_info(ctx, instance.definition_id).content_hash,
                     task_id=timer.id, bpmn_id=timer.bpmn_id,
                     payload={"due_at": due[timer.id], "fired_at": ctx.now().isoformat(), "state_sha256": digest,
                              **pinned})
    if fired:
        from engine.services.followups import on_timers_fired

        on_timers_fired(ctx, instance, [t.bpmn_id for t in fired])
    return len(fired)
