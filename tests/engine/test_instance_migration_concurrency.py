"""Two designers migrating the same case at once: exactly one migration, one ``migrated`` event.

The second request waits for the instance lock, then sees the case is no longer on the source
version and skips it; a migration racing a task completion migrates the state the completion left.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.context import EngineContext
from engine.models import Event
from engine.models import WorkflowInstance
from engine.services.instance_migration import NOT_ON_SOURCE
from engine.services.instance_migration import MigrationResult
from engine.services.instance_migration import migrate_instances
from engine.services.instances import complete_task
from tests.engine.migration_factory import ADDED_STEP
from tests.engine.migration_factory import DESIGNER
from tests.engine.migration_factory import deploy_text
from tests.engine.test_concurrency import A
from tests.engine.test_concurrency import World
from tests.engine.test_concurrency import _first_task
from tests.engine.test_concurrency import _held_lock_race
from tests.engine.test_concurrency import _race
from tests.engine.test_concurrency import world  # noqa: F401  (fixture: linear_review v1 deployed, committing)


def _migrate(ctx: EngineContext) -> MigrationResult:
    return migrate_instances(ctx, "linear_review", 1, 2, actor=DESIGNER, reason="并发迁移测试")


def _migrated_events(world: World, instance_id: int) -> int:
    return world.run(lambda ctx: ctx.session.execute(select(func.count(Event.id)).where(
        Event.instance_id == instance_id, Event.kind == "migrated")).scalar_one())


def test_a_migration_waiting_for_the_lock_skips_the_moved_case(world: World) -> None:  # noqa: F811
    instance_id, _task = _first_task(world)
    world.run(lambda ctx: deploy_text(ctx, ADDED_STEP))
    loser = _held_lock_race(world, instance_id, second=_migrate, first_action=_migrate)
    assert isinstance(loser, MigrationResult) and loser.migrated == []
    # either it read the case before the first committed and found it moved once it held the lock,
    # or it started after the commit and found nothing left on v1 (SQLite always: it serialises writers)
    assert [(i.instance_id, i.reasons) for i in loser.skipped] in ([], [(instance_id, (NOT_ON_SOURCE,))])
    assert _migrated_events(world, instance_id) == 1


def _wait_until_someone_waits_for_a_lock(world: World) -> None:
    """PostgreSQL: return once another backend is blocked on a row lock (the second migration's FOR UPDATE)."""
    import time

    from sqlalchemy import text

    for _ in range(200):
        with world.engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                 "AND datname = current_database()")).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError("the second migration never waited for the instance lock")


def test_the_second_migration_finds_the_case_moved_under_the_lock(world: World) -> None:  # noqa: F811
    """PostgreSQL, made deterministic: the second request read the case (still on v1) and waits for its lock
    while the first migrates and commits; under the lock it sees the new version and skips the case."""
    if world.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: the second transaction cannot read before the first commits")
    instance_id, _task = _first_task(world)
    world.run(lambda ctx: deploy_text(ctx, ADDED_STEP))

    def first(ctx: EngineContext) -> MigrationResult:
        _wait_until_someone_waits_for_a_lock(world)
        return _migrate(ctx)

    loser = _held_lock_race(world, instance_id, second=_migrate, first_action=first)
    assert isinstance(loser, MigrationResult) and loser.migrated == []
    assert [(i.instance_id, i.reasons) for i in loser.skipped] == [(instance_id, (NOT_ON_SOURCE,))]
    assert _migrated_events(world, instance_id) == 1


def test_racing_migrations_migrate_once(world: World) -> None:  # noqa: F811
    ids = [_first_task(world)[0] for _ in range(3)]
    world.run(lambda ctx: deploy_text(ctx, ADDED_STEP))
    results = _race(world, [_migrate, _migrate])
    assert all(isinstance(r, MigrationResult) for r in results), results
    moved = sorted(i.instance_id for r in results for i in r.migrated)
    assert moved == sorted(ids)  # each case moved by exactly one of the two
    for instance_id in ids:
        assert _migrated_events(world, instance_id) == 1
    versions = world.run(lambda ctx: set(ctx.session.execute(
        select(WorkflowInstance.definition_id).where(WorkflowInstance.id.in_(ids))).scalars()))
    assert len(versions) == 1


def test_a_migration_after_a_completion_migrates_the_new_state(world: World) -> None:  # noqa: F811
    instance_id, task_id = _first_task(world)
    world.run(lambda ctx: deploy_text(ctx, ADDED_STEP))
    result = _held_lock_race(world, instance_id, second=_migrate,
                             first_action=lambda ctx: complete_task(ctx, task_id, {}, actor=A))
    assert isinstance(result, MigrationResult)
    assert [i.current for i in result.migrated] == [("审核复审（待办）",)]  # already past the step v2 adds
