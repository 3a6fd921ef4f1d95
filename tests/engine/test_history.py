"""The event log is append-only and hash-chained; any change to a row is detected."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.context import Actor
from engine.errors import IntegrityError
from engine.history import append_event
from engine.history import verify_chain
from engine.models import Event

ALICE = Actor("alice", "intake_officer")


def _fill(ctx, n=4):  # type: ignore[no-untyped-def]
    for i in range(n):
        append_event(ctx, stream="instance:900", kind="task_completed", actor=ALICE,
                     payload={"step": i, "reason": "材料齐全", "amount": 1.5})
    append_event(ctx, stream="system", kind="deployed", actor=Actor("designer"), payload={"process_id": "x"})
    ctx.session.flush()


def _disable_guards(ctx) -> None:  # type: ignore[no-untyped-def]
    """Simulate someone with direct database access (inside the test's rolled-back transaction)."""
    if ctx.session.get_bind().dialect.name == "postgresql":
        ctx.session.execute(text("ALTER TABLE events DISABLE TRIGGER events_no_update"))
    else:
        ctx.session.execute(text("DROP TRIGGER events_no_update"))
        ctx.session.execute(text("DROP TRIGGER events_no_delete"))


def test_chain_links_and_verifies(ctx) -> None:  # type: ignore[no-untyped-def]
    _fill(ctx)
    events = ctx.session.execute(select(Event).order_by(Event.stream, Event.seq)).scalars().all()
    chain = [e for e in events if e.stream == "instance:900"]
    assert [e.seq for e in chain] == [1, 2, 3, 4]
    assert chain[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in zip(chain, chain[1:], strict=False))
    assert verify_chain(ctx.session) == []


def test_orm_refuses_update_and_delete(ctx) -> None:  # type: ignore[no-untyped-def]
    _fill(ctx, 1)
    event = ctx.session.execute(select(Event).limit(1)).scalar_one()
    event.actor = "mallory"
    with pytest.raises(IntegrityError):
        ctx.session.flush()
    ctx.session.rollback()


@pytest.mark.parametrize("statement", [
    "UPDATE events SET actor = 'mallory'",
    "DELETE FROM events",
])
def test_database_refuses_update_and_delete(ctx, statement) -> None:  # type: ignore[no-untyped-def]
    _fill(ctx, 1)
    nested = ctx.session.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        ctx.session.execute(text(statement))
    nested.rollback()


@pytest.mark.parametrize(("column", "value"), [
    ("payload", '{"step":1,"reason":"材料齐全","amount":1.6}'),
    ("actor", "alicf"),
    ("kind", "task_claimed"),
    ("actor_role", "review_officer"),
])
def test_one_changed_value_is_reported_with_stream_and_place(ctx, column, value) -> None:  # type: ignore[no-untyped-def]
    _fill(ctx)
    _disable_guards(ctx)
    ctx.session.execute(text(f"UPDATE events SET {column} = :v WHERE stream = 'instance:900' AND seq = 2"),
                        {"v": value})
    ctx.session.expire_all()
    problems = verify_chain(ctx.session)
    assert [(p.stream, p.seq) for p in problems] == [("instance:900", 2)]
    assert "哈希" in problems[0].problem


def test_removed_event_is_reported(ctx) -> None:  # type: ignore[no-untyped-def]
    _fill(ctx)
    _disable_guards(ctx)
    ctx.session.execute(text("DELETE FROM events WHERE stream = 'instance:900' AND seq = 3"))
    ctx.session.expire_all()
    problems = verify_chain(ctx.session, "instance:900")
    assert {(p.seq, p.problem) for p in problems} >= {(4, "序号不连续（应为 3）"), (4, "与前一事件的链接不符")}


def test_rehashed_forgery_breaks_the_next_link(ctx) -> None:  # type: ignore[no-untyped-def]
    """Recomputing the hash of a forged row does not help: the successor points at the old hash."""
    from engine.history import _hashed_fields
    from engine.history import event_hash

    _fill(ctx)
    _disable_guards(ctx)
    ev = ctx.session.execute(select(Event).where(Event.stream == "instance:900", Event.seq == 2)).scalar_one()
    fields = _hashed_fields(ev) | {"actor": "mallory"}
    ctx.session.execute(text("UPDATE events SET actor = 'mallory', hash = :h WHERE id = :id"),
                        {"h": event_hash(fields), "id": ev.id})
    ctx.session.expire_all()
    problems = verify_chain(ctx.session, "instance:900")
    assert [(p.seq, p.problem) for p in problems] == [(3, "与前一事件的链接不符")]


def test_a_system_event_that_loses_the_race_for_its_seq_is_retried(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The system stream has many writers: a duplicate ``seq`` rolls back its savepoint and tries the new head."""
    from sqlalchemy.exc import IntegrityError as DBIntegrityError

    from engine import history

    real, calls = history.append_event, []

    def racing(ctx, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["kind"])
        if len(calls) == 1:
            real(ctx, **kwargs)  # another writer took the seq: this insert now collides with it
            raise DBIntegrityError("INSERT INTO events", {}, Exception("duplicate (stream, seq)"))
        return real(ctx, **kwargs)

    monkeypatch.setattr(history, "append_event", racing)
    event = history.append_system_event(ctx, kind="audit_viewed", actor=Actor("auditor"), payload={"n": 1})
    assert len(calls) == 2 and event.seq == 1
    assert ctx.session.execute(select(Event.seq).where(Event.stream == "system")).scalars().all() == [1]
    assert verify_chain(ctx.session, "system") == []

    def always(ctx, **kwargs):  # type: ignore[no-untyped-def]
        raise DBIntegrityError("INSERT INTO events", {}, Exception("duplicate (stream, seq)"))

    monkeypatch.setattr(history, "append_event", always)
    with pytest.raises(DBIntegrityError):
        history.append_system_event(ctx, kind="audit_viewed", actor=Actor("auditor"), attempts=3)
