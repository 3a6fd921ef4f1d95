"""Migrating real cases of ``bpmn/standard_verification.bpmn`` (multi-instance subprocess, message and timer
waits) to a fixed version: 确认数据交换结果 gets 3 working days instead of 1, 出具核对报告 a new name.

A case waiting inside the data exchange (one subprocess per sharing unit, each waiting for its
reply or its deadline) moves: its waits, timers and subscriptions carry over, the steps after it
follow the new version, and the replay of the whole case is consistent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.audit import replay_instance
from engine.audit import verify_all
from engine.context import EngineContext
from engine.models import InstanceStatus
from engine.models import MessageSubscription
from engine.models import Timer
from engine.models import TimerStatus
from engine.services.instance_migration import migrate_instances
from engine.services.instance_migration import plan_migration
from engine.services.instances import list_open_tasks
from tests.engine.migration_factory import DESIGNER
from tests.engine.migration_factory import deploy_text
from tests.engine.test_audit import ASSISTANCE
from tests.engine.test_audit import CHECKER
from tests.engine.test_audit import REPORTER
from tests.engine.test_audit import _deliver
from tests.engine.test_audit import _do
from tests.engine.test_audit import _standard_case
from tests.engine.test_audit import standard  # noqa: F401  (fixture: v1 deployed, calendar loaded)

V1 = (Path(__file__).parents[2] / "bpmn" / "standard_verification.bpmn").read_text(encoding="utf-8")


def _fixed() -> str:
    confirm = V1.index('<bpmn:userTask id="confirm_exchange"')
    head, tail = V1[:confirm], V1[confirm:]
    old = '<spiffworkflow:property name="dueWorkingDays" value="1" />'
    assert old in tail[:600]
    tail = tail.replace(old, '<spiffworkflow:property name="dueWorkingDays" value="3" />', 1)
    return (head + tail).replace('name="出具核对报告"', 'name="出具核对报告（含附件）"', 1)


def _waits(ctx: EngineContext, instance_id: int) -> tuple[list[Any], list[Any]]:
    timers = sorted((t.id, t.bpmn_id, t.due_at) for t in ctx.session.execute(
        select(Timer).where(Timer.instance_id == instance_id, Timer.status == TimerStatus.PENDING)).scalars())
    subscriptions = sorted((s.task_id, s.message_name, s.correlation_key) for s in ctx.session.execute(
        select(MessageSubscription).where(MessageSubscription.instance_id == instance_id)).scalars())
    return timers, subscriptions


def test_a_case_waiting_in_the_data_exchange_moves_and_follows_the_fix(standard, clock) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ctx = standard
    instance = _standard_case(ctx, clock, ["bank_a", "tax"])
    clock.advance(days=1)
    _deliver(ctx, "exchange_result", "tax", {"result_id": 72})
    waits = _waits(ctx, instance.id)
    assert waits[0] and waits[1]  # the bank's deadline timer and reply subscription
    assert deploy_text(ctx, _fixed(), "standard_verification.bpmn") == 2
    [item] = plan_migration(ctx, "standard_verification", 1, 2).items
    assert item.compatible, item.reasons
    clock.advance(hours=1)
    result = migrate_instances(ctx, "standard_verification", 1, 2, actor=DESIGNER, reason="确认期限改为 3 个工作日")
    ctx.session.expire_all()
    assert [i.business_key for i in result.migrated] == [instance.business_key]
    assert _waits(ctx, instance.id) == waits  # same waiting tasks, same due times, same correlation
    clock.advance(days=1)
    _deliver(ctx, "exchange_result", "bank_a", {"result_id": 71})
    [confirm] = list_open_tasks(ctx, instance_id=instance.id)
    assert confirm.bpmn_id == "confirm_exchange" and confirm.due_at == ctx.deadline(clock.now(), 3)
    clock.advance(hours=1)
    _do(ctx, instance, "confirm_exchange", {"statuses_checked": True}, CHECKER)
    [report] = list_open_tasks(ctx, instance_id=instance.id)
    assert report.name == "出具核对报告（含附件）"
    _do(ctx, instance, "issue_report", {"report_no": "朝核报〔2026〕42号"}, REPORTER)
    _do(ctx, instance, "feedback", {"remark": "已收到核对报告"}, ASSISTANCE)
    assert instance.status == InstanceStatus.COMPLETED
    replayed = replay_instance(ctx, instance.id)
    assert (replayed.consistent, replayed.first_divergence) == (True, None)
    assert verify_all(ctx).ok
