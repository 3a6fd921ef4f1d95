"""Tamper detection (AU-1, SEC-12): each kind of change is found by verify and replay, with the case and the place.

The five kinds the issue names: a changed event payload, a reordered event, a deleted event, an
edited state blob and a swapped diagram version. Changed payloads and edited states have their own
tests in test_audit.py (``one_byte_changed_in_an_event_payload``, ``one_byte_changed_in_a_stored_state``,
``changed_decision_in_the_state``); this file adds the other three, each seen by both checks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy import text

from engine.audit import replay_instance
from engine.audit import verify_all
from engine.context import Actor
from engine.models import Event
from engine.models import ProcessDefinition
from engine.services.deploy import deploy_files
from tests.conftest import DATA
from tests.engine.test_audit import _linear_with_return
from tests.engine.test_history import _disable_guards


def _stream(instance_id: int) -> str:
    return f"instance:{instance_id}"


def _event_id(ctx: Any, instance_id: int, seq: int) -> int:
    return ctx.session.execute(select(Event.id).where(Event.stream == _stream(instance_id), Event.seq == seq)
                               ).scalar_one()


def _swap_seq(ctx: Any, instance_id: int, a: int, b: int) -> None:
    """Exchange the positions of two events (``seq`` is unique per stream: go through a free number)."""
    _disable_guards(ctx)
    params = {"s": _stream(instance_id)}
    for old, new in ((a, 10_000), (b, a), (10_000, b)):
        ctx.session.execute(text("UPDATE events SET seq = :new WHERE stream = :s AND seq = :old"),
                            params | {"old": old, "new": new})
    ctx.session.expire_all()


def test_a_reordered_event_is_located_by_verify_and_by_replay(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    """Events 3 (受理初审 done) and 4 (审核复审 returned it) swapped: the chain breaks exactly there."""
    instance = _linear_with_return(ctx, deploy, clock)
    review_id, intake_id = _event_id(ctx, instance.id, 4), _event_id(ctx, instance.id, 3)
    after_id = _event_id(ctx, instance.id, 5)
    _swap_seq(ctx, instance.id, 3, 4)
    problems = verify_all(ctx).problems
    # both moved events, and the one after them (it still links to the event that used to be 4th)
    assert {(p.instance_id, p.business_key, p.seq, p.event_id) for p in problems} == {
        (instance.id, "HD-2026-0001", 3, review_id), (instance.id, "HD-2026-0001", 4, intake_id),
        (instance.id, "HD-2026-0001", 5, after_id)}
    assert all(p.place == f"第 {p.seq} 号事件" for p in problems)
    assert any("链接不符" in p.problem for p in problems if p.seq == 3)
    assert "案件" in str(problems[0]) and "HD-2026-0001" in str(problems[0])
    result = replay_instance(ctx, instance.id)
    d = result.first_divergence
    assert not result.consistent
    assert (d.seq, d.kind, d.bpmn_id, d.aspect, d.actual) == (3, "task_completed", "review", "command",
                                                              ["intake_check"])
    assert "第 3 号事件" in d.message


def test_a_deleted_event_in_the_middle_is_located(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    instance = _linear_with_return(ctx, deploy, clock)
    next_id = _event_id(ctx, instance.id, 5)
    _disable_guards(ctx)
    ctx.session.execute(text("DELETE FROM events WHERE stream = :s AND seq = 4"), {"s": _stream(instance.id)})
    ctx.session.expire_all()
    problems = verify_all(ctx).problems
    assert {(p.instance_id, p.seq, p.event_id) for p in problems} == {(instance.id, 5, next_id)}
    assert {p.problem for p in problems} >= {"序号不连续（应为 4）", "与前一事件的链接不符"}
    # without the return the second 受理初审 was never opened: the replay stops at event 5
    d = replay_instance(ctx, instance.id).first_divergence
    assert (d.seq, d.aspect, d.bpmn_id) == (5, "command", "intake_check")


def test_a_deleted_last_event_is_found_through_the_state_digest(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    """Cutting the tail leaves an intact chain; the stored state no longer matches the last recorded digest."""
    instance = _linear_with_return(ctx, deploy, clock)
    _disable_guards(ctx)
    ctx.session.execute(text("DELETE FROM events WHERE stream = :s AND seq = 6"), {"s": _stream(instance.id)})
    ctx.session.expire_all()
    [problem] = verify_all(ctx).problems
    assert (problem.instance_id, problem.seq, problem.place) == (instance.id, 5, "存储的流程状态")
    assert "第 5 号事件（task_completed）" in problem.problem
    assert problem.detail is not None and problem.detail.startswith("第 5 号事件（task_completed intake_check）之后")
    result = replay_instance(ctx, instance.id)
    assert not result.consistent and result.steps == 4 and result.first_divergence.seq == 5


def test_an_instance_pointed_at_another_diagram_version_is_located(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    """The case re-pinned to version 2 of its process: every event names version 1, replay refuses at once."""
    instance = _linear_with_return(ctx, deploy, clock)
    pinned = ctx.session.get(ProcessDefinition, instance.definition_id)
    xml = (DATA / "linear_review.bpmn").read_text("utf-8").replace('name="审核复审"', 'name="审核复审（第二版）"')
    [deployed] = deploy_files(ctx, {"linear_review.bpmn": xml.encode("utf-8")},
                              actor=Actor("designer", "process_designer"))
    other = ctx.session.execute(select(ProcessDefinition).where(
        ProcessDefinition.process_id == "linear_review", ProcessDefinition.version == 2)).scalar_one()
    assert other.content_hash != pinned.content_hash and deployed.version == 2
    ctx.session.execute(text("UPDATE workflow_instances SET definition_id = :d WHERE id = :i"),
                        {"d": other.id, "i": instance.id})
    ctx.session.expire_all()
    problems = verify_all(ctx).problems
    assert [p.seq for p in problems] == [1, 2, 3, 4, 5, 6]  # every event of the case, in order
    assert all(p.instance_id == instance.id and p.place.startswith(f"第 {p.seq} 号事件") for p in problems)
    assert f"流程版本 {pinned.content_hash[:12]} 与案件锁定的版本 {other.content_hash[:12]} 不符" in problems[0].problem
    result = replay_instance(ctx, instance.id)
    d = result.first_divergence
    assert not result.consistent and result.steps == 0
    assert (d.seq, d.kind, d.aspect, d.expected, d.actual) == (1, "started", "definition", other.content_hash,
                                                               pinned.content_hash)
