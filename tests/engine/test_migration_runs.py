"""Background 版本迁移 runs (process-design §13): the checks, one active run per source version, the chunks.

The job migrates chunk by chunk and commits after each: a worker dying in chunk 2 leaves chunk 1
committed (real commits, ``committing_url``), and the periodic resume finishes the rest without
doing anything twice. Blocked and failed cases are counted and listed (capped); pause, resume and
cancel act between chunks. Each migrated case has ONE ``migrated`` event and still replays (AU-1).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from engine.audit import replay_instance
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.models import Event
from engine.models import MigrationRun
from engine.models import MigrationRunCase
from engine.models import ProcessDefinition
from engine.models import WorkflowInstance
from engine.services import migration_runs
from engine.services.instance_migration import FAILED
from engine.services.instances import start_instance
from engine.services.migration_runs import cancel_run
from engine.services.migration_runs import create_run
from engine.services.migration_runs import list_run_cases
from engine.services.migration_runs import pause_run
from engine.services.migration_runs import resume_interrupted
from engine.services.migration_runs import resume_run
from engine.services.migration_runs import run_migration
from tests.engine.migration_factory import ADDED_STEP
from tests.engine.migration_factory import DESIGNER
from tests.engine.migration_factory import REMOVED_REVIEW
from tests.engine.migration_factory import deploy_text
from tests.engine.test_concurrency import A
from tests.engine.test_concurrency import World
from tests.engine.test_concurrency import world  # noqa: F401  (fixture: linear_review v1 deployed, committing)
from tests.engine.test_instance_migration import REASON
from tests.engine.test_instance_migration import _do
from tests.engine.test_instance_migration import _start
from tests.engine.test_instance_migration import linear  # noqa: F401  (fixture: linear_review v1 deployed)
from tests.engine.test_instance_migration_batch import BROKEN

STALE = 15


class WorkerDiedError(Exception):
    """The job's process was killed in the middle of a chunk."""


def _create(ctx: EngineContext, **kwargs: Any) -> MigrationRun:
    return create_run(ctx, "linear_review", 1, 2, actor=kwargs.pop("actor", DESIGNER),
                      reason=kwargs.pop("reason", REASON), **kwargs)


def _migrated_events(ctx: EngineContext) -> dict[int, int]:
    return dict(ctx.session.execute(select(Event.instance_id, func.count(Event.id))
                                    .where(Event.kind == "migrated").group_by(Event.instance_id)).all())


def _counts(run: MigrationRun) -> tuple[str, int, int, int, int]:
    return run.status.value, run.total, run.migrated, run.blocked, run.failed


def test_a_run_is_checked_like_a_migration_and_one_runs_per_source_version(linear) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _start(linear, "HD-R-1")
    deploy_text(linear, ADDED_STEP)
    with pytest.raises(ValidationError, match="请填写迁移原因"):
        _create(linear, reason="  ")
    with pytest.raises(PermissionDeniedError):
        _create(linear, actor=Actor("nobody", "intake_officer", user_id=999_999))
    with pytest.raises(ValidationError, match="原版本与目标版本相同"):
        create_run(linear, "linear_review", 2, 2, actor=DESIGNER, reason=REASON)
    with pytest.raises(NotFoundError):
        create_run(linear, "linear_review", 1, 9, actor=DESIGNER, reason=REASON)
    run = _create(linear)
    assert _counts(run) == ("queued", 1, 0, 0, 0) and run.created_by == "designer"
    assert linear.after_commit_jobs == [("migrations.run", {"run_id": run.id})]
    with pytest.raises(InvalidStateError) as refused:
        _create(linear)
    assert refused.value.code == "migration_run_active" and f"编号 {run.id}" in refused.value.message
    pause_run(linear, run.id, actor=DESIGNER)
    with pytest.raises(InvalidStateError):  # paused still holds the version
        _create(linear)
    cancel_run(linear, run.id, actor=DESIGNER)
    assert _create(linear).id != run.id  # cancelled: the version is free again
    with pytest.raises(InvalidStateError):
        cancel_run(linear, run.id, actor=DESIGNER)


def test_the_job_counts_blocked_and_failed_cases_and_lists_them(linear, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Chunks of two: a case at the removed 审核复审 is blocked, an unreadable one fails alone (its savepoint),
    the rest move with ONE ``migrated`` event each and still replay; the listed cases are capped per outcome."""
    monkeypatch.setattr(migration_runs, "MAX_LISTED", 1)
    cases = [_start(linear, f"HD-S-{i}") for i in range(6)]
    for blocked in cases[1:3]:
        _do(linear, blocked, "intake_check", {}, DESIGNER)  # at 审核复审, which REMOVED_REVIEW deletes
    linear.session.execute(text("UPDATE workflow_instances SET state = :s, version = version + 1 WHERE id = :id"),
                           {"s": BROKEN, "id": cases[4].id})
    deploy_text(linear, REMOVED_REVIEW)
    run = _create(linear)
    commits: list[int] = []
    status = run_migration(linear, run.id, commit=lambda: commits.append(1), chunk_size=2)
    linear.session.expire_all()
    assert status == "done" and _counts(run) == ("done", 6, 3, 2, 1) and run.progress == 100
    assert len(commits) == 1 + 3 + 1  # running, three chunks, done
    assert run.after_instance_id == cases[-1].id and run.active_definition_id is None
    listed = [(c.business_key, c.outcome.value, c.reason) for c in list_run_cases(linear, run)]
    assert listed[0] == ("HD-S-4", "failed", FAILED)
    assert listed[1][:2] == ("HD-S-1", "blocked") and "「审核复审」（review）在新版本中已删除" in listed[1][2]
    assert len(listed) == 2  # HD-S-2 is counted, not listed (MAX_LISTED)
    moved = _migrated_events(linear)
    assert moved == {cases[i].id: 1 for i in (0, 3, 5)}
    assert replay_instance(linear, cases[3].id).consistent
    kinds = linear.session.execute(select(Event.kind).where(Event.kind.like("migration_run_%"))
                                   .order_by(Event.id)).scalars().all()
    assert kinds == ["migration_run_created", "migration_run_done"]


def test_pause_stops_between_chunks_and_resume_goes_on(linear) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    cases = [_start(linear, f"HD-T-{i}") for i in range(5)]
    deploy_text(linear, ADDED_STEP)
    run = _create(linear)
    commits: list[int] = []

    def commit() -> None:
        commits.append(1)
        if len(commits) == 2:  # after the first chunk a designer pauses the run
            pause_run(linear, run.id, actor=DESIGNER)

    assert run_migration(linear, run.id, commit=commit, chunk_size=2) == "paused"
    assert _counts(run) == ("paused", 5, 2, 0, 0) and run.progress == 40
    assert run_migration(linear, run.id, commit=lambda: None) == "paused"  # a late delivery does nothing
    with pytest.raises(InvalidStateError):
        pause_run(linear, run.id, actor=DESIGNER)
    linear.after_commit_jobs.clear()
    resume_run(linear, run.id, actor=DESIGNER)
    assert run.status.value == "queued" and linear.after_commit_jobs == [("migrations.run", {"run_id": run.id})]
    with pytest.raises(InvalidStateError):  # neither paused nor interrupted
        resume_run(linear, run.id, actor=DESIGNER)
    assert run_migration(linear, run.id, commit=lambda: None, chunk_size=2) == "done"
    assert _counts(run) == ("done", 5, 5, 0, 0)
    assert _migrated_events(linear) == {c.id: 1 for c in cases}


def test_a_job_hands_over_to_a_fresh_one_after_its_share_of_chunks(linear) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """No job outlives a worker's time limit: after ``chunks_per_job`` chunks it queues itself again."""
    cases = [_start(linear, f"HD-V-{i}") for i in range(5)]
    deploy_text(linear, ADDED_STEP)
    run = _create(linear)
    progress = []
    for _ in range(4):
        linear.after_commit_jobs.clear()
        status = run_migration(linear, run.id, commit=lambda: None, chunk_size=2, chunks_per_job=1)
        progress.append((status, run.migrated, [name for name, _ in linear.after_commit_jobs]))
    again = ["migrations.run"]
    assert progress == [("running", 2, again), ("running", 4, again), ("running", 5, again), ("done", 5, [])]
    assert _migrated_events(linear) == {c.id: 1 for c in cases}


def _events(w: World) -> dict[int, int]:
    return w.run(_migrated_events)  # type: ignore[no-any-return]


def test_a_worker_dying_in_chunk_two_leaves_chunk_one_committed_and_the_resume_finishes(world: World) -> None:  # noqa: F811
    """Real commits: chunk 1 (two cases) is committed with the run's cursor and counts; chunk 2 dies before its
    commit and leaves nothing. After the stale time the periodic resume queues the run again and the job
    migrates the rest, each case once."""
    ids = world.run(lambda ctx: [start_instance(ctx, "linear_review", actor=A, business_key=f"HD-U-{i}").id
                                 for i in range(5)])
    world.run(lambda ctx: deploy_text(ctx, ADDED_STEP))
    run_id = world.run(lambda ctx: _create(ctx).id)
    commits: list[int] = []

    def dying_job(ctx: EngineContext) -> None:
        def commit() -> None:
            if len(commits) == 2:  # "running" and chunk 1 are committed; chunk 2 is migrated, then the worker dies
                raise WorkerDiedError
            ctx.session.commit()
            commits.append(1)

        run_migration(ctx, run_id, commit=commit, chunk_size=2)

    with pytest.raises(WorkerDiedError):
        world.run(dying_job)
    run = world.run(lambda ctx: ctx.session.get(MigrationRun, run_id))
    assert _counts(run) == ("running", 5, 2, 0, 0) and run.after_instance_id == ids[1]
    assert _events(world) == {ids[0]: 1, ids[1]: 1}
    on_v1 = world.run(lambda ctx: ctx.session.execute(select(WorkflowInstance.id).join(ProcessDefinition).where(
        ProcessDefinition.version == 1)).scalars().all())
    assert sorted(on_v1) == ids[2:]
    assert world.run(lambda ctx: resume_interrupted(ctx, stale_minutes=STALE)) == []  # not stale yet
    world.clock.advance(minutes=STALE + 1)

    def resume(ctx: EngineContext) -> list[Any]:
        assert resume_interrupted(ctx, stale_minutes=STALE) == [run_id]
        return list(ctx.after_commit_jobs)

    assert world.run(resume) == [("migrations.run", {"run_id": run_id})]
    assert world.run(lambda ctx: run_migration(ctx, run_id, commit=ctx.session.commit, chunk_size=2)) == "done"
    run = world.run(lambda ctx: ctx.session.get(MigrationRun, run_id))
    assert _counts(run) == ("done", 5, 5, 0, 0)
    assert _events(world) == {i: 1 for i in ids}
    assert world.run(lambda ctx: ctx.session.execute(select(func.count(MigrationRunCase.id))).scalar_one()) == 0
    kinds = world.run(lambda ctx: ctx.session.execute(select(Event.kind).where(Event.kind.like("migration_run_%"))
                                                      .order_by(Event.id)).scalars().all())
    assert kinds == ["migration_run_created", "migration_run_resumed", "migration_run_done"]
