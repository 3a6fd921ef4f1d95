"""Fire due timers: find them by index, claim them, run the instances they belong to."""

from __future__ import annotations

import logging

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.history import append_event
from engine.history import instance_stream
from engine.models import Timer
from engine.models import TimerStatus
from engine.persistence import load_workflow
from engine.persistence import lock_instance
from engine.persistence import save_workflow

logger = logging.getLogger(__name__)

TIMER_ACTOR = Actor.system("job:timers")


def fire_due_timers(ctx: EngineContext, *, limit: int = 100) -> int:
    """Fire up to ``limit`` due timers; returns how many fired.

    On PostgreSQL the due rows are claimed with ``FOR UPDATE SKIP LOCKED``, so two
    workers sweeping at once take disjoint timers and never fire one twice.
    """
    now = ctx.now()
    query = (
        select(Timer.id, Timer.instance_id)
        .where(Timer.status == TimerStatus.PENDING, Timer.due_at <= now)
        .order_by(Timer.due_at)
        .limit(limit)
    )
    if ctx.session.bind is not None and ctx.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = ctx.session.execute(query).all()
    fired = 0
    for instance_id in sorted({row.instance_id for row in claimed}):
        fired += _fire_for_instance(ctx, instance_id, {row.id for row in claimed if row.instance_id == instance_id})
    return fired


def _fire_for_instance(ctx: EngineContext, instance_id: int, timer_ids: set[str]) -> int:
    instance = lock_instance(ctx.session, instance_id)
    wf = load_workflow(ctx, instance)
    wf.run_engine_steps()
    fired = [tid for tid in timer_ids if wf.timer_fired(tid)]
    rows = {t.id: t for t in ctx.session.execute(select(Timer).where(Timer.id.in_(fired))).scalars()}
    for timer_id in sorted(fired, key=lambda t: rows[t].due_at):
        row = rows[timer_id]
        append_event(ctx, stream=instance_stream(instance.id), kind="timer_fired", actor=TIMER_ACTOR,
                     instance_id=instance.id, definition_hash=instance.definition.content_hash, task_id=timer_id,
                     bpmn_id=row.bpmn_id, payload={"due_at": row.due_at.isoformat(), "fired_at": ctx.now().isoformat()})
    save_workflow(ctx, instance, wf, actor=TIMER_ACTOR)
    if len(fired) != len(timer_ids):
        logger.info("instance %s: %s of %s due timers fired", instance_id, len(fired), len(timer_ids))
    return len(fired)
