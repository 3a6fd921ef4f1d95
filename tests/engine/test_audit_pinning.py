"""Replay hazards closed cheaply: the working-day deadlines and the actor's unit are recorded in each command.

A calendar edited after the fact (an extra holiday) must not make an untouched case look tampered
with: the replay uses the deadlines the live command computed. Events recorded before this existed
carry no ``deadlines`` and fall back to the calendar (the hash chain of existing data is unchanged).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy import text

from engine.audit import replay_instance
from engine.audit import timeline
from engine.calendar import WorkingCalendar
from engine.calendar import set_day
from engine.deadlines import PinnedDeadlines
from engine.deadlines import recorded
from engine.models import Event
from tests.conftest import T0
from tests.engine.test_audit import _deliver
from tests.engine.test_audit import _finish_standard
from tests.engine.test_audit import _standard_case
from tests.engine.test_audit import standard  # noqa: F401  (fixture)
from tests.engine.test_history import _disable_guards


def _events(ctx: Any, instance_id: int) -> list[Event]:
    return list(ctx.session.execute(select(Event).where(Event.stream == f"instance:{instance_id}")
                                    .order_by(Event.seq)).scalars())


def _holiday(ctx: Any, clock: Any, day: date) -> None:
    set_day(ctx.session, day, is_workday=False, kind="holiday", name="临时调休", actor_username="admin", clock=clock)
    ctx.deadline = WorkingCalendar(ctx.session).deadline  # what a new request would use


def test_commands_record_the_deadlines_they_computed(standard, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = standard
    instance = _standard_case(ctx, clock, ["bank_a"])
    started, *_rest, prepared = [e for e in _events(ctx, instance.id) if e.kind in ("started", "task_completed")]
    # start: verification_due = add_working_days(now(), ...); exchange: reply_due for the unit
    assert recorded(started.payload) and recorded(prepared.payload)
    day, days = next(iter(recorded(prepared.payload)))
    assert day == "2026-11-24" and isinstance(days, int)


def test_a_holiday_added_afterwards_does_not_make_the_replay_diverge(standard, clock) -> None:  # type: ignore[no-untyped-def]
    ctx = standard
    instance = _standard_case(ctx, clock, ["bank_a", "tax"])
    clock.advance(days=1)
    _deliver(ctx, "exchange_result", "tax", {"result_id": 1})
    _holiday(ctx, clock, date(2026, 11, 26))  # a Thursday inside every deadline computed above
    result = replay_instance(ctx, instance.id)
    assert (result.consistent, result.first_divergence) == (True, None)
    clock.advance(days=1)
    _deliver(ctx, "exchange_result", "bank_a", {"result_id": 2})
    _finish_standard(ctx, clock, instance)
    assert replay_instance(ctx, instance.id).consistent


def test_without_the_pinned_deadlines_the_edited_calendar_would_diverge(standard, clock) -> None:  # type: ignore[no-untyped-def]
    """The control: strip the pins (as in events recorded before them) and the same edit is a divergence."""
    ctx = standard
    instance = _standard_case(ctx, clock, ["bank_a"])
    _disable_guards(ctx)
    for event in _events(ctx, instance.id):
        if isinstance(event.payload, dict) and "deadlines" in event.payload:
            bare = {k: v for k, v in event.payload.items() if k != "deadlines"}
            ctx.session.execute(text("UPDATE events SET payload = :p WHERE id = :i"),
                                {"p": json.dumps(bare, ensure_ascii=False), "i": event.id})
    ctx.session.expire_all()
    assert replay_instance(ctx, instance.id).consistent  # the calendar still agrees
    _holiday(ctx, clock, date(2026, 11, 26))
    result = replay_instance(ctx, instance.id)
    assert not result.consistent and result.first_divergence.aspect in ("timers", "data", "waiting")


def test_the_pinned_answer_wins_over_the_calendar() -> None:
    calls: list[tuple[Any, int]] = []

    def calendar(start: Any, days: int) -> Any:
        calls.append((start, days))
        return T0

    pinned = PinnedDeadlines(calendar, {("2026-11-23", 3): "2026-11-27T23:59:59.999999+08:00"})
    assert pinned(T0, 3).isoformat() == "2026-11-27T23:59:59.999999+08:00" and calls == []
    assert pinned(T0, 4) == T0 and calls == [(T0, 4)]
    assert recorded({"deadlines": [["2026-11-23", 3, "x"], ["bad"], [1, 2, 3]]}) == {("2026-11-23", 3): "x"}


def test_task_events_record_the_unit_the_actor_acted_for(ctx, deploy) -> None:  # type: ignore[no-untyped-def]
    """The timeline shows the recorded unit, even after the person's memberships changed."""
    from engine.context import Actor
    from engine.models import Membership
    from engine.models import User
    from engine.services.demo import seed_demo
    from engine.services.instances import claim_task
    from engine.services.instances import complete_task
    from engine.services.instances import list_open_tasks
    from engine.services.instances import start_instance
    from engine.services.org import get_unit_by_code

    seed_demo(ctx, actor=Actor("admin", "admin"))
    deploy("linear_review.bpmn")
    agency = get_unit_by_code(ctx, "CY-HDZX")
    instance = start_instance(ctx, "linear_review", actor=Actor("cy_intake", "intake_officer"), business_key="HD-U",
                              agency_unit_id=agency.id, region_code="220104001")
    user = ctx.session.execute(select(User).where(User.username == "cy_intake")).scalar_one()
    actor = Actor("cy_intake", "intake_officer", user.id)
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    claim_task(ctx, task.id, actor=actor)
    complete_task(ctx, task.id, {"remark": "材料齐全"}, actor=actor)
    claimed, completed = [e for e in _events(ctx, instance.id) if e.kind in ("task_claimed", "task_completed")]
    assert claimed.payload == {"unit": "CY-HDZX"} and completed.payload["unit"] == "CY-HDZX"
    ctx.session.execute(text("DELETE FROM memberships WHERE user_id = :u"), {"u": user.id})
    ctx.session.expire_all()
    assert ctx.session.execute(select(Membership).where(Membership.user_id == user.id)).first() is None
    rows = {r.seq: r for r in timeline(ctx, instance.id)}
    assert (rows[2].unit_code, rows[3].unit_code) == ("CY-HDZX", "CY-HDZX")
    assert rows[1].unit_code is None  # the start recorded no unit and the membership is gone
