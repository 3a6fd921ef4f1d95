"""Running instances through the services: every command loads the saved state and saves it again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.errors import FormValidationError
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.history import verify_chain
from engine.models import Event
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import InstanceStatus
from engine.models import MessageSubscription
from engine.models import OutboxMessage
from engine.models import Timer
from engine.models import TimerStatus
from engine.persistence import load_workflow
from engine.services.instances import claim_task
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import release_task
from engine.services.instances import start_instance
from engine.services.messages import deliver_message
from engine.services.timers import fire_due_timers
from tests.conftest import T0

INTAKE = Actor("li_intake", "intake_officer")
REVIEWER = Actor("wang_review", "review_officer")
CLERK = Actor("zhao_clerk", "street_clerk")


def _open(ctx, instance):  # type: ignore[no-untyped-def]
    return [t.bpmn_id for t in list_open_tasks(ctx, instance_id=instance.id)]


def _do(ctx, instance, bpmn_id, data, actor):  # type: ignore[no-untyped-def]
    [task] = [t for t in list_open_tasks(ctx, instance_id=instance.id) if t.bpmn_id == bpmn_id]
    complete_task(ctx, task.id, data, actor=actor)
    ctx.session.expire_all()  # the next command reads only what was saved


def test_walks_every_path_of_linear_review(ctx, deploy) -> None:  # type: ignore[no-untyped-def]
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-2026-0001")
    assert _open(ctx, instance) == ["intake_check"]
    _do(ctx, instance, "intake_check", {"remark": "材料齐全"}, INTAKE)
    _do(ctx, instance, "review", {"decision": "return", "reason": "授权书缺签字"}, REVIEWER)
    assert _open(ctx, instance) == ["intake_check"]  # returned: back to intake
    _do(ctx, instance, "intake_check", {}, INTAKE)
    _do(ctx, instance, "review", {"decision": "accept"}, REVIEWER)
    assert instance.status == InstanceStatus.COMPLETED and _open(ctx, instance) == []
    trace = [t.bpmn_id for t in load_workflow(ctx, instance).trace()]
    assert trace.count("intake_check") == 2 and "mark_accepted" in trace and "end_accepted" in trace
    data = load_workflow(ctx, instance).data
    assert data["outcome"] == {"accepted": True, "rounds": 3}
    kinds = ctx.session.execute(
        select(Event.kind).where(Event.instance_id == instance.id).order_by(Event.seq)
    ).scalars().all()
    assert kinds == ["started"] + ["task_completed"] * 4
    assert verify_chain(ctx.session) == []


def test_terminate_path(ctx, deploy) -> None:  # type: ignore[no-untyped-def]
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE)
    _do(ctx, instance, "intake_check", {}, INTAKE)
    _do(ctx, instance, "review", {"decision": "terminate", "reason": "材料不一致"}, REVIEWER)
    assert instance.status == InstanceStatus.COMPLETED
    assert "end_terminated" in [t.bpmn_id for t in load_workflow(ctx, instance).trace()]


def test_completed_task_rows_record_who_and_when(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE)
    clock.advance(hours=2)
    _do(ctx, instance, "intake_check", {}, INTAKE)
    row = ctx.session.execute(select(HumanTask).where(HumanTask.bpmn_id == "intake_check")).scalar_one()
    assert (row.status, row.completed_by, row.completed_at) == (
        HumanTaskStatus.COMPLETED, "li_intake", T0 + timedelta(hours=2))
    assert row.role_code == "intake_officer" and row.form_key == "acknowledge"


def test_invalid_form_data_changes_nothing(ctx, deploy) -> None:  # type: ignore[no-untyped-def]
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE)
    _do(ctx, instance, "intake_check", {}, INTAKE)
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    state_before = instance.state
    with pytest.raises(FormValidationError) as info:
        complete_task(ctx, task.id, {"decision": "return", "unexpected": 1}, actor=REVIEWER)
    assert info.value.details["fields"] == {"unexpected": ["不允许的字段"]} or "reason" in info.value.details["fields"]
    assert instance.state == state_before and _open(ctx, instance) == ["review"]


def test_completing_twice_is_refused(ctx, deploy) -> None:  # type: ignore[no-untyped-def]
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE)
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    complete_task(ctx, task.id, {}, actor=INTAKE)
    with pytest.raises(InvalidStateError):
        complete_task(ctx, task.id, {}, actor=INTAKE)


def test_claim_and_release(ctx, deploy) -> None:  # type: ignore[no-untyped-def]
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE)
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    claim_task(ctx, task.id, actor=INTAKE)
    claim_task(ctx, task.id, actor=INTAKE)  # same person again: no-op
    other = Actor("other_intake", "intake_officer")
    with pytest.raises(InvalidStateError.__mro__[1]):  # ConflictError
        claim_task(ctx, task.id, actor=other)
    with pytest.raises(InvalidStateError.__mro__[1]):
        complete_task(ctx, task.id, {}, actor=other)
    release_task(ctx, task.id, actor=INTAKE)
    claim_task(ctx, task.id, actor=other)
    kinds = ctx.session.execute(select(Event.kind).where(Event.instance_id == instance.id)).scalars().all()
    assert kinds == ["started", "task_claimed", "task_released", "task_claimed"]


def test_unknown_process_and_task(ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError):
        start_instance(ctx, "no_such_process", actor=INTAKE)
    with pytest.raises(NotFoundError):
        complete_task(ctx, "00000000-0000-0000-0000-000000000000", {}, actor=INTAKE)


def test_instances_stay_pinned_to_their_definition(ctx, deploy) -> None:  # type: ignore[no-untyped-def]
    from engine.services.deploy import deploy_files
    from tests.conftest import read_files
    from tests.engine.test_deploy import _variant

    deploy("linear_review.bpmn")
    old = start_instance(ctx, "linear_review", actor=INTAKE)
    files = read_files("linear_review.bpmn")
    files["linear_review.bpmn"] = _variant(files["linear_review.bpmn"], 'name="受理初审"', 'name="受理初审（第二版）"')
    deploy_files(ctx, files, actor=Actor("designer"))
    new = start_instance(ctx, "linear_review", actor=INTAKE)
    assert old.definition.version == 1 and new.definition.version == 2
    names = {t.instance_id: t.name for t in list_open_tasks(ctx)}
    assert names == {old.id: "受理初审", new.id: "受理初审（第二版）"}


# --- messages ---------------------------------------------------------------------------


def _start_wait_reply(ctx, deploy, request_no="REQ-7"):  # type: ignore[no-untyped-def]
    deploy("wait_reply.bpmn")
    due = (T0 + timedelta(days=9)).isoformat()
    return start_instance(ctx, "wait_reply", actor=Actor("cy_exchange_1", "exchange_officer"), business_key="HD-7",
                          data={"unit": "bank_a", "subjects": ["S1"], "request_no": request_no, "reply_due": due})


def test_thrown_message_lands_in_outbox_and_reply_is_correlated(ctx, deploy) -> None:  # type: ignore[no-untyped-def]
    instance = _start_wait_reply(ctx, deploy)
    [out] = ctx.session.execute(select(OutboxMessage)).scalars().all()
    assert (out.message_name, out.payload) == ("exchange_request", {"unit": "bank_a", "subjects": ["S1"]})
    [sub] = ctx.session.execute(select(MessageSubscription)).scalars().all()
    assert (sub.message_name, sub.correlation_key, sub.bpmn_id) == ("exchange_result", "REQ-7", "receive_result")
    assert ctx.session.execute(select(Timer.status)).scalars().all() == [TimerStatus.PENDING]
    with pytest.raises(NotFoundError):
        deliver_message(ctx, "exchange_result", "REQ-other", {"status": "ok"}, actor=Actor("bank_a"))
    assert deliver_message(ctx, "exchange_result", "REQ-7", {"status": "has_data"},
                           actor=Actor("bank_a")) == [instance.id]
    ctx.session.expire_all()
    assert _open(ctx, instance) == ["check_result"]
    # a thrown message is relayed once, not again by every later save
    assert len(ctx.session.execute(select(OutboxMessage)).scalars().all()) == 1
    assert load_workflow(ctx, instance).data.get("result") == {"status": "has_data"} or \
        load_workflow(ctx, instance).task_data(list_open_tasks(ctx)[0].id)["result"] == {"status": "has_data"}
    assert ctx.session.execute(select(MessageSubscription)).scalars().all() == []
    assert ctx.session.execute(select(Timer.status)).scalars().all() == [TimerStatus.CANCELLED]
    with pytest.raises(NotFoundError):  # a duplicate reply finds nobody waiting
        deliver_message(ctx, "exchange_result", "REQ-7", {"status": "has_data"}, actor=Actor("bank_a"))



def test_a_message_the_waiting_task_does_not_catch_is_refused_with_409(ctx, deploy) -> None:  # type: ignore[no-untyped-def]
    """The runtime's own check, behind the subscription rows: a task waiting for ``exchange_result`` refuses
    another message as an invalid state (409 in the API), naming the message; the subscription stays."""
    instance = _start_wait_reply(ctx, deploy)
    [sub] = ctx.session.execute(select(MessageSubscription)).scalars().all()
    wf = load_workflow(ctx, instance)
    with pytest.raises(InvalidStateError) as refused:
        wf.deliver_message(sub.task_id, "complaint_result", {"status": "ok"})
    assert refused.value.code == "invalid_state" and refused.value.details == {"message_name": "complaint_result"}
    assert ctx.session.execute(select(MessageSubscription.task_id)).scalars().all() == [sub.task_id]

# --- timers -----------------------------------------------------------------------------


def test_timer_fires_only_when_the_clock_passes_it(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    instance = _start_wait_reply(ctx, deploy)
    [timer] = ctx.session.execute(select(Timer)).scalars().all()
    assert timer.due_at == T0 + timedelta(days=9)
    clock.advance(days=8)
    assert fire_due_timers(ctx) == 0
    clock.advance(days=1, seconds=1)
    assert fire_due_timers(ctx) == 1
    ctx.session.expire_all()
    assert timer.status == TimerStatus.FIRED and timer.fired_at == clock.now()
    assert _open(ctx, instance) == ["check_result"]
    assert ctx.session.execute(select(MessageSubscription)).scalars().all() == []
    fired = ctx.session.execute(select(Event).where(Event.kind == "timer_fired")).scalar_one()
    assert fired.bpmn_id == "deadline_passed" and fired.actor == "job:timers"
    assert fire_due_timers(ctx) == 0


def test_boundary_timer_cancels_the_task(ctx, deploy, clock) -> None:  # type: ignore[no-untyped-def]
    deploy("timer_boundary.bpmn")
    due = (T0 + timedelta(days=3)).isoformat()
    instance = start_instance(ctx, "timer_boundary", actor=CLERK, data={"materials_due": due})
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    clock.advance(days=4)
    assert fire_due_timers(ctx) == 1
    ctx.session.expire_all()
    assert ctx.session.get(HumanTask, task.id).status == HumanTaskStatus.CANCELLED
    assert instance.status == InstanceStatus.COMPLETED
    assert "end_withdrawn" in [t.bpmn_id for t in load_workflow(ctx, instance).trace()]


def test_completing_before_the_deadline_cancels_the_timer(ctx, deploy) -> None:  # type: ignore[no-untyped-def]
    deploy("timer_boundary.bpmn")
    instance = start_instance(ctx, "timer_boundary", actor=CLERK,
                              data={"materials_due": (T0 + timedelta(days=3)).isoformat()})
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    complete_task(ctx, task.id, {}, actor=CLERK)
    assert ctx.session.execute(select(Timer.status)).scalars().all() == [TimerStatus.CANCELLED]
    assert "end_done" in [t.bpmn_id for t in load_workflow(ctx, instance).trace()]
