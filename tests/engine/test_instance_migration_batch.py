"""Migrating many cases: one bad case fails alone, plans come a page at a time, ids stream in chunks.

A case whose stored state cannot be read, or whose migration is refused by the database after its
state was written, is rolled back to its savepoint and reported as failed (Chinese reason, nothing
of the case in the log); the other cases of the same call still move. The plan counts every running
case but checks only the requested page; a migration of "all" reads the ids chunk by chunk.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from engine.context import EngineContext
from engine.errors import ValidationError
from engine.models import Event
from engine.models import HumanTask
from engine.models import WorkflowInstance
from engine.services import instance_migration
from engine.services.instance_migration import FAILED
from engine.services.instance_migration import UNREADABLE
from engine.services.instance_migration import migrate_instances
from engine.services.instance_migration import plan_migration
from tests.engine.migration_factory import ADDED_STEP
from tests.engine.migration_factory import DESIGNER
from tests.engine.migration_factory import REMOVED_REVIEW
from tests.engine.migration_factory import deploy_text
from tests.engine.test_instance_migration import REASON
from tests.engine.test_instance_migration import _do
from tests.engine.test_instance_migration import _start
from tests.engine.test_instance_migration import linear  # noqa: F401  (fixture: linear_review v1 deployed)

BROKEN = '{"serializer_version": "1.4", "spec": "linear_review", "tasks": {'  # cut off mid-way


def _three(ctx: EngineContext) -> list[WorkflowInstance]:
    cases = [_start(ctx, f"HD-B-{i}") for i in range(1, 4)]
    ctx.session.flush()
    return cases


def _row(ctx: EngineContext, instance_id: int) -> tuple[int, str, int]:
    ctx.session.expire_all()
    found = ctx.session.get(WorkflowInstance, instance_id)
    assert found is not None
    return found.definition_id, found.state, found.version


def _migrated_events(ctx: EngineContext, instance_id: int) -> int:
    return ctx.session.execute(select(func.count(Event.id)).where(
        Event.instance_id == instance_id, Event.kind == "migrated")).scalar_one()


def test_an_unreadable_case_fails_alone_and_the_others_move(linear, caplog) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A corrupt stored state is 不可迁移 in the plan and 失败 in the migration, alone; only the moved cases get a
    ``migrated`` event (AU-1) and the log names the instance id, nothing of the case (PR-4)."""
    first, bad, last = _three(linear)
    linear.session.execute(text("UPDATE workflow_instances SET state = :s, version = version + 1 WHERE id = :id"),
                           {"s": BROKEN, "id": bad.id})
    v1 = linear.session.execute(select(func.max(WorkflowInstance.definition_id))).scalar_one()
    assert deploy_text(linear, ADDED_STEP) == 2
    plan = plan_migration(linear, "linear_review", 1, 2)
    assert [(i.business_key, i.compatible) for i in plan.items] == [("HD-B-1", True), ("HD-B-2", False),
                                                                     ("HD-B-3", True)]
    assert plan.items[1].reasons == (UNREADABLE,) and plan.total == 3
    with caplog.at_level(logging.ERROR, logger="engine.services.instance_migration"):
        result = migrate_instances(linear, "linear_review", 1, 2, actor=DESIGNER, reason=REASON)
    assert [i.instance_id for i in result.migrated] == [first.id, last.id] and result.skipped == []
    assert [(i.instance_id, i.business_key, i.reasons) for i in result.failed] == [(bad.id, "HD-B-2", (FAILED,))]
    assert _row(linear, bad.id)[0:2] == (v1, BROKEN) and _migrated_events(linear, bad.id) == 0
    assert _row(linear, first.id)[0] != v1 and _migrated_events(linear, last.id) == 1
    logged = [r.getMessage() for r in caplog.records if r.exc_info is None]
    assert [m.split(" failed")[0] for m in logged] == [f"planning instance {bad.id}", f"migrating instance {bad.id}"]
    assert not any("HD-B-2" in m or "tasks" in m for m in logged)  # the id only: nothing of the case's data


def _refuse_migrated_event(ctx: EngineContext, instance_id: int) -> None:
    """A database that refuses one case's ``migrated`` event: the failure comes after its state was written."""
    if ctx.session.get_bind().dialect.name == "postgresql":
        ctx.session.execute(text("CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"))
        ctx.session.execute(text("CREATE TRIGGER refuse_one BEFORE INSERT ON events FOR EACH ROW WHEN "
                                 f"(NEW.kind = 'migrated' AND NEW.instance_id = {instance_id}) "
                                 "EXECUTE FUNCTION refuse_event()"))
    else:
        ctx.session.execute(text("CREATE TRIGGER refuse_one BEFORE INSERT ON events WHEN NEW.kind = 'migrated' "
                                 f"AND NEW.instance_id = {instance_id} BEGIN SELECT RAISE(ABORT, 'refused'); END"))


def test_a_failure_after_the_save_rolls_back_that_case_only(linear) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The savepoint undoes the failed case's written state and task rows; the cases before and after move
    (AU-1: no trace of a migration that did not happen)."""
    first, bad, last = _three(linear)
    deploy_text(linear, ADDED_STEP)
    before = _row(linear, bad.id)
    tasks_before = linear.session.execute(select(HumanTask.id, HumanTask.name, HumanTask.properties, HumanTask.status)
                                          .where(HumanTask.instance_id == bad.id)).all()
    _refuse_migrated_event(linear, bad.id)
    result = migrate_instances(linear, "linear_review", 1, 2, actor=DESIGNER, reason=REASON)
    assert [i.instance_id for i in result.migrated] == [first.id, last.id]
    assert [i.instance_id for i in result.failed] == [bad.id] and result.failed[0].reasons == (FAILED,)
    assert "refused" not in "".join(result.failed[0].reasons)
    assert _row(linear, bad.id) == before
    assert linear.session.execute(select(HumanTask.id, HumanTask.name, HumanTask.properties, HumanTask.status)
                                  .where(HumanTask.instance_id == bad.id)).all() == tasks_before
    # the moved cases took the target's task name (renamed in ADDED_STEP); the failed one kept v1's
    names = dict(linear.session.execute(select(HumanTask.instance_id, HumanTask.name)).all())
    assert names[first.id] == names[last.id] == "受理初审（核对材料）" and names[bad.id] == "受理初审"


def test_plans_come_by_page_and_all_cases_move_in_chunks(linear, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Five cases, chunks of two: a page checks only its cases; "all" migrates every compatible one."""
    monkeypatch.setattr(instance_migration, "CHUNK", 2)
    cases = [_start(linear, f"HD-P-{i}") for i in range(5)]
    _do(linear, cases[3], "intake_check", {}, DESIGNER)  # at 审核复审, which REMOVED_REVIEW deletes
    deploy_text(linear, REMOVED_REVIEW)
    page = plan_migration(linear, "linear_review", 1, 2, offset=2, limit=2)
    assert page.total == 5 and [i.business_key for i in page.items] == ["HD-P-2", "HD-P-3"]
    assert [i.compatible for i in page.items] == [True, False]
    assert plan_migration(linear, "linear_review", 1, 2, limit=0).items == ()
    chosen = plan_migration(linear, "linear_review", 1, 2, instance_ids=[cases[0].id, cases[4].id])
    assert chosen.total == 2 and [i.business_key for i in chosen.items] == ["HD-P-0", "HD-P-4"]
    result = migrate_instances(linear, "linear_review", 1, 2, actor=DESIGNER, reason=REASON)
    assert sorted(i.business_key for i in result.migrated) == ["HD-P-0", "HD-P-1", "HD-P-2", "HD-P-4"]
    assert [i.business_key for i in result.skipped] == ["HD-P-3"] and result.failed == []
    assert plan_migration(linear, "linear_review", 1, 2).total == 1


@pytest.mark.parametrize("size", [1, 3])
def test_chosen_ids_are_checked_in_chunks(linear, monkeypatch, size) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Chosen ids are read a chunk at a time too; a foreign id among them is still refused."""
    monkeypatch.setattr(instance_migration, "CHUNK", size)
    cases = [_start(linear, f"HD-Q-{i}") for i in range(4)]
    deploy_text(linear, ADDED_STEP)
    with pytest.raises(ValidationError):
        plan_migration(linear, "linear_review", 1, 2, instance_ids=[cases[0].id, 999_999])
    result = migrate_instances(linear, "linear_review", 1, 2, actor=DESIGNER, reason=REASON,
                               instance_ids=[c.id for c in cases[1:]])
    assert [i.business_key for i in result.migrated] == ["HD-Q-1", "HD-Q-2", "HD-Q-3"]
