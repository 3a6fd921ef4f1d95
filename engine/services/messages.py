"""Deliver replies from outside to the instances waiting for them, by indexed correlation keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.deadlines import deadlines_of
from engine.errors import NotFoundError
from engine.history import append_event
from engine.history import instance_stream
from engine.models import MessageSubscription
from engine.persistence import definition_info
from engine.persistence import load_workflow
from engine.persistence import lock_instance
from engine.persistence import save_workflow


def deliver_message(
    ctx: EngineContext, message_name: str, correlation_key: str, payload: Any, *, actor: Actor
) -> list[int]:
    """Deliver a message to every task subscribed with ``(message_name, correlation_key)``.

    :returns: the ids of the instances that received it.
    :raises NotFoundError: nobody waits for it (a late or duplicate reply).
    """
    subscriptions = ctx.session.execute(
        select(MessageSubscription.instance_id, MessageSubscription.task_id)
        .where(MessageSubscription.message_name == message_name,
               MessageSubscription.correlation_key == correlation_key)
        .order_by(MessageSubscription.instance_id, MessageSubscription.id)
    ).all()
    if not subscriptions:
        raise NotFoundError("没有等待该消息的流程", code="no_subscriber", message_name=message_name)
    delivered = []
    for instance_id, task_id in subscriptions:
        instance = lock_instance(ctx.session, instance_id)
        still_waiting = ctx.session.execute(
            select(MessageSubscription.id).where(MessageSubscription.task_id == task_id,
                                                 MessageSubscription.message_name == message_name)
        ).first()
        if still_waiting is None:
            continue
        wf = load_workflow(ctx, instance)
        wf.deliver_message(task_id, message_name, payload)
        digest = save_workflow(ctx, instance, wf, actor=actor)
        append_event(ctx, stream=instance_stream(instance.id), kind="message_received", actor=actor,
                     instance_id=instance.id, definition_hash=definition_info(ctx, instance.definition_id).content_hash,
                     task_id=task_id, payload={"message_name": message_name, "correlation_key": correlation_key,
                                               "payload": payload, "state_sha256": digest, **deadlines_of(wf)})
        delivered.append(instance.id)
    if not delivered:
        raise NotFoundError("没有等待该消息的流程", code="no_subscriber", message_name=message_name)
    return delivered
