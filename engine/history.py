"""Append to and verify the hash-chained event log."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import Actor
from engine.context import EngineContext
from engine.models import Event
from engine.models.event import GENESIS_HASH

SYSTEM_STREAM = "system"


def instance_stream(instance_id: int) -> str:
    return f"instance:{instance_id}"


def event_hash(fields: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of an event's content and its predecessor's hash."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _hashed_fields(ev: Event) -> dict[str, Any]:
    return {
        "stream": ev.stream,
        "seq": ev.seq,
        "instance_id": ev.instance_id,
        "kind": ev.kind,
        "actor": ev.actor,
        "actor_role": ev.actor_role,
        "occurred_at": _iso(ev.occurred_at),
        "definition_hash": ev.definition_hash,
        "task_id": ev.task_id,
        "bpmn_id": ev.bpmn_id,
        "payload": ev.payload,
        "prev_hash": ev.prev_hash,
    }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def append_event(
    ctx: EngineContext,
    *,
    stream: str,
    kind: str,
    actor: Actor,
    payload: Any = None,
    instance_id: int | None = None,
    definition_hash: str | None = None,
    task_id: str | None = None,
    bpmn_id: str | None = None,
) -> Event:
    """Append one event to ``stream``; the caller holds the lock that orders the stream."""
    last = ctx.session.execute(
        select(Event.seq, Event.hash).where(Event.stream == stream).order_by(Event.seq.desc()).limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    # round-trip the payload so the hash covers exactly what will be read back
    payload = json.loads(json.dumps(payload, ensure_ascii=False, default=str)) if payload is not None else None
    ev = Event(
        stream=stream, seq=seq, instance_id=instance_id, kind=kind, actor=actor.username, actor_role=actor.role,
        occurred_at=ctx.now(), definition_hash=definition_hash, task_id=task_id, bpmn_id=bpmn_id,
        payload=payload, prev_hash=prev,
    )
    ev.hash = event_hash(_hashed_fields(ev))
    ctx.session.add(ev)
    ctx.session.flush()
    return ev


def append_system_event(ctx: EngineContext, *, kind: str, actor: Actor, payload: Any = None,
                        attempts: int = 5) -> Event:
    """Append to the system stream, retrying a lost race for its next ``seq``.

    The system stream has many concurrent writers (access records, job reports) and no row to
    lock first, so two writers can pick the same ``seq``; the unique ``(stream, seq)`` refuses
    the second, whose savepoint is rolled back and which tries again on the new head.
    """
    for attempt in range(attempts):
        try:
            with ctx.session.begin_nested():
                return append_event(ctx, stream=SYSTEM_STREAM, kind=kind, actor=actor, payload=payload)
        except sa_exc.IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class ChainProblem:
    stream: str
    seq: int
    event_id: int
    problem: str


def verify_chain(session: Session, stream: str | None = None) -> list[ChainProblem]:
    """Recompute every hash and link; return each place the log was altered, removed or reordered."""
    query = select(Event).order_by(Event.stream, Event.seq)
    if stream is not None:
        query = query.where(Event.stream == stream)
    problems: list[ChainProblem] = []
    current, expected_prev, expected_seq = None, GENESIS_HASH, 1
    for ev in session.execute(query).scalars():
        if ev.stream != current:
            current, expected_prev, expected_seq = ev.stream, GENESIS_HASH, 1
        if ev.seq != expected_seq:
            problems.append(ChainProblem(ev.stream, ev.seq, ev.id, f"序号不连续（应为 {expected_seq}）"))
        if ev.prev_hash != expected_prev:
            problems.append(ChainProblem(ev.stream, ev.seq, ev.id, "与前一事件的链接不符"))
        if event_hash(_hashed_fields(ev)) != ev.hash:
            problems.append(ChainProblem(ev.stream, ev.seq, ev.id, "事件内容与哈希不符"))
        expected_prev, expected_seq = ev.hash, ev.seq + 1
    return problems
