"""迁移全部可迁移案件 as a background run (designer tools, process-design §13): chunked, committed, resumable.

- :func:`create_run` checks what an inline migration checks (a designer, a reason, two versions of
  one process), refuses a second active run from the same source version, records a
  :class:`~engine.models.MigrationRun` and queues the job ``migrations.run`` after the commit.
- :func:`run_migration` (that job; the web layer registers it and owns the commits) reads the
  running cases of the source version in keyset chunks from the run's cursor and migrates each
  exactly as :func:`~engine.services.instance_migration.migrate_instances` does (lock, check again,
  savepoint, ONE ``migrated`` event), then moves the cursor, adds the chunk's counts and the cases
  it could not move (:class:`~engine.models.MigrationRunCase`), and commits. A crash loses at most
  the chunk in flight, whose cases are still on the source version and after the committed cursor:
  running the job again resumes without doing anything twice.
- Between chunks the job re-reads the run under its row lock: :func:`pause_run` and
  :func:`cancel_run` stop it there; :func:`resume_run` queues a paused or interrupted run again, and
  the periodic job ``migrations.resume_interrupted`` does so for runs whose worker died.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import func
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.history import append_system_event
from engine.models import InstanceStatus
from engine.models import ProcessDefinition
from engine.models import WorkflowInstance
from engine.models.migration_run import ACTIVE_STATUSES
from engine.models.migration_run import CaseOutcome
from engine.models.migration_run import MigrationRun
from engine.models.migration_run import MigrationRunCase
from engine.models.migration_run import MigrationRunStatus
from engine.runtime.migration import SpecChange
from engine.services.instance_migration import CHUNK
from engine.services.instance_migration import PlanItem
from engine.services.instance_migration import check_request
from engine.services.instance_migration import migrate_case
from engine.services.instance_migration import require_designer
from engine.services.instance_migration import spec_changes

logger = logging.getLogger(__name__)

JOB = "migrations.run"
RESUME_JOB = "migrations.resume_interrupted"
#: minutes without progress after which a queued/running run counts as interrupted
#: (the app passes HEDUI_MIGRATION_RUN_STALE_MINUTES)
STALE_MINUTES = 15
#: chunks one job migrates before it queues itself again (5,000 cases: about a minute, well inside time limits)
CHUNKS_PER_JOB = 25
#: blocked cases, and failed ones, listed per run (the counters count all of them)
MAX_LISTED = 1000
_RUNNING = (MigrationRunStatus.QUEUED, MigrationRunStatus.RUNNING)


def _active_error(run_id: int | None, version: int) -> InvalidStateError:
    which = f"（编号 {run_id}）" if run_id else ""
    return InvalidStateError(f"第 {version} 版已有一次未结束的后台迁移{which}，"
                             "请等它完成，或将其暂停后取消，再发起新的迁移", code="migration_run_active", run_id=run_id)


def create_run(ctx: EngineContext, process_id: str, from_version: int, to_version: int, *, actor: Actor,
               reason: str) -> MigrationRun:
    """Record a background migration of every compatible running case; the job ``migrations.run`` does it.

    :raises PermissionDeniedError: not a designer.  :raises ValidationError: no reason, same versions.
    :raises NotFoundError: an unknown version.
    :raises InvalidStateError: ``migration_run_active``: a run from this version is queued, running or paused.
    """
    reason, source, target = check_request(ctx, process_id, from_version, to_version, actor=actor, reason=reason)
    active = ctx.session.execute(select(MigrationRun.id).where(
        MigrationRun.active_definition_id == source.id)).scalar_one_or_none()
    if active is not None:
        raise _active_error(active, from_version)
    now = ctx.now()
    run = MigrationRun(process_id=process_id, from_definition_id=source.id, to_definition_id=target.id,
                       active_definition_id=source.id, reason=reason, status=MigrationRunStatus.QUEUED,
                       created_by=actor.username, created_by_role=actor.role, user_id=actor.user_id,
                       total=_running_count(ctx, source.id), migrated=0, blocked=0, failed=0, after_instance_id=0,
                       created_at=now, progressed_at=now)
    try:
        with ctx.session.begin_nested():  # the unique active source version: a concurrent twin loses here
            ctx.session.add(run)
    except sa_exc.IntegrityError:
        raise _active_error(None, from_version) from None
    _event(ctx, run, "migration_run_created", actor, reason=reason)
    ctx.enqueue_after_commit(JOB, run_id=run.id)
    return run


def _running_count(ctx: EngineContext, definition_id: int) -> int:
    return ctx.session.execute(select(func.count(WorkflowInstance.id)).where(
        WorkflowInstance.definition_id == definition_id, WorkflowInstance.status == InstanceStatus.RUNNING)
    ).scalar_one()


def get_run(ctx: EngineContext, run_id: int, *, process_id: str | None = None) -> MigrationRun:
    """The run (of ``process_id``, when given). :raises NotFoundError: no such run."""
    run = ctx.session.get(MigrationRun, run_id)
    if run is None or (process_id is not None and run.process_id != process_id):
        raise NotFoundError("该迁移记录不存在", code="migration_run_not_found", run_id=run_id)
    return run


def list_runs(ctx: EngineContext, process_id: str, limit: int = 20) -> list[MigrationRun]:
    """The process's most recent runs, newest first."""
    return list(ctx.session.execute(select(MigrationRun).where(MigrationRun.process_id == process_id)
                                    .order_by(MigrationRun.id.desc()).limit(limit)).scalars())


def list_run_cases(ctx: EngineContext, run: MigrationRun, limit: int = 200) -> list[MigrationRunCase]:
    """The cases the run did not move, failed ones first, each in case-id order."""
    return list(ctx.session.execute(select(MigrationRunCase).where(MigrationRunCase.run_id == run.id).order_by(
        MigrationRunCase.outcome.desc(), MigrationRunCase.instance_id).limit(limit)).scalars())


def _locked(ctx: EngineContext, run_id: int) -> MigrationRun:
    run = ctx.session.execute(select(MigrationRun).where(MigrationRun.id == run_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one_or_none()
    if run is None:
        raise NotFoundError("该迁移记录不存在", code="migration_run_not_found", run_id=run_id)
    return run


def _event(ctx: EngineContext, run: MigrationRun, kind: str, actor: Actor, **extra: Any) -> None:
    append_system_event(ctx, kind=kind, actor=actor, payload={
        "run": run.id, "process_id": run.process_id, "from_definition": run.from_definition_id,
        "to_definition": run.to_definition_id, "total": run.total, "migrated": run.migrated,
        "blocked": run.blocked, "failed": run.failed, **extra})


# --- pause, resume, cancel, interrupted runs ---------------------------------------------------------------


def pause_run(ctx: EngineContext, run_id: int, *, actor: Actor) -> MigrationRun:
    """Stop the run after the chunk being migrated (the job checks between chunks)."""
    require_designer(ctx, actor)
    run = _locked(ctx, run_id)
    if run.status not in _RUNNING:
        raise InvalidStateError("该迁移当前不能暂停", code="migration_run_not_running")
    run.status = MigrationRunStatus.PAUSED
    ctx.session.flush()
    _event(ctx, run, "migration_run_paused", actor)
    return run


def cancel_run(ctx: EngineContext, run_id: int, *, actor: Actor) -> MigrationRun:
    """Stop the run for good (the cases moved so far stay moved); its source version is free for a new run."""
    require_designer(ctx, actor)
    run = _locked(ctx, run_id)
    if run.status not in ACTIVE_STATUSES:
        raise InvalidStateError("该迁移已结束，不能取消", code="migration_run_finished")
    run.status, run.active_definition_id, run.finished_at = MigrationRunStatus.CANCELLED, None, ctx.now()
    ctx.session.flush()
    _event(ctx, run, "migration_run_cancelled", actor)
    return run


def is_interrupted(ctx: EngineContext, run: MigrationRun, *, stale_minutes: int = STALE_MINUTES) -> bool:
    """A queued or running run without progress for ``stale_minutes``: its job was lost or its worker died."""
    return run.status in _RUNNING and run.progressed_at < ctx.now() - timedelta(minutes=stale_minutes)


def resume_run(ctx: EngineContext, run_id: int, *, actor: Actor, stale_minutes: int = STALE_MINUTES) -> MigrationRun:
    """Queue a paused or interrupted run again; the job goes on from the last committed chunk.

    The ``migrated`` events still name the designer who started the run; this one is in the resume event.
    """
    require_designer(ctx, actor)
    run = _locked(ctx, run_id)
    interrupted = is_interrupted(ctx, run, stale_minutes=stale_minutes)
    if run.status is not MigrationRunStatus.PAUSED and not interrupted:
        raise InvalidStateError("只有已暂停或已中断的迁移可以继续", code="migration_run_not_paused")
    # re-queued now: its clock restarts, so it is not seen as interrupted before its worker starts
    run.status, run.progressed_at = MigrationRunStatus.QUEUED, ctx.now()
    ctx.session.flush()
    _event(ctx, run, "migration_run_resumed", actor, interrupted=interrupted)
    ctx.enqueue_after_commit(JOB, run_id=run.id)
    return run


def resume_interrupted(ctx: EngineContext, *, stale_minutes: int = STALE_MINUTES) -> list[int]:
    """Queue again every interrupted run (the periodic job ``migrations.resume_interrupted``); returns their ids."""
    candidates = ctx.session.execute(select(MigrationRun.id).where(
        MigrationRun.status.in_(_RUNNING),
        MigrationRun.progressed_at < ctx.now() - timedelta(minutes=stale_minutes)).order_by(MigrationRun.id)).scalars()
    resumed = []
    for run_id in list(candidates):
        if is_interrupted(ctx, _locked(ctx, run_id), stale_minutes=stale_minutes):  # again, under the lock
            resume_run(ctx, run_id, actor=Actor.system(RESUME_JOB), stale_minutes=stale_minutes)
            resumed.append(run_id)
    if resumed:
        logger.warning("Resumed interrupted migration runs: %s", ", ".join(map(str, resumed)))
    return resumed


# --- the job ---------------------------------------------------------------------------------------------


def run_migration(ctx: EngineContext, run_id: int, *, commit: Callable[[], None], chunk_size: int = CHUNK,
                  chunks_per_job: int = CHUNKS_PER_JOB) -> str:
    """Migrate the run's cases chunk by chunk, committing after each; returns the run's status.

    :param commit: the entry point's commit (the job in ``web/designer_migrate/jobs.py``): engine services
        never commit themselves; this one is told when a chunk is done.
    :param chunks_per_job: after this many chunks the job queues itself again and returns (the run stays
        running), so no single job outlives a worker's time limit (Celery's is 5 minutes).
    """
    run = _locked(ctx, run_id)
    if run.status not in _RUNNING:
        return run.status.value  # paused, finished, cancelled, or delivered twice
    if run.started_at is None:
        run.started_at = ctx.now()
    run.status, run.progressed_at = MigrationRunStatus.RUNNING, ctx.now()
    commit()
    source, target = run.from_definition, run.to_definition
    changes = spec_changes(ctx, source, target)
    actor = Actor(run.created_by, run.created_by_role, run.user_id)
    for _ in range(chunks_per_job):
        if not _run_chunk(ctx, run_id, source, target, changes, actor, chunk_size):
            break
        commit()
    else:
        ctx.enqueue_after_commit(JOB, run_id=run_id)  # the rest in a fresh job
    status = _locked(ctx, run_id).status.value
    commit()
    return status


def _run_chunk(ctx: EngineContext, run_id: int, source: ProcessDefinition, target: ProcessDefinition,
               changes: list[SpecChange], actor: Actor, size: int) -> bool:
    """Migrate the next chunk under the run's row lock; False when the run stopped or finished."""
    run = _locked(ctx, run_id)  # a second delivery of the job waits here, then reads the moved cursor
    if run.status is not MigrationRunStatus.RUNNING:
        return False
    ids = list(ctx.session.execute(select(WorkflowInstance.id).where(
        WorkflowInstance.definition_id == source.id, WorkflowInstance.status == InstanceStatus.RUNNING,
        WorkflowInstance.id > run.after_instance_id).order_by(WorkflowInstance.id).limit(size)).scalars())
    if not ids:
        run.status, run.active_definition_id, run.finished_at = MigrationRunStatus.DONE, None, ctx.now()
        ctx.session.flush()
        _event(ctx, run, "migration_run_done", Actor.system(f"migration_run:{run.id}"))
        return False
    counts: Counter[str] = Counter()
    for instance_id in ids:
        outcome, item = migrate_case(ctx, instance_id, source, target, actor, run.reason, changes)
        kind = "blocked" if outcome == "skipped" else outcome
        if kind != "migrated" and getattr(run, kind) + counts[kind] < MAX_LISTED:
            _record(ctx, run, CaseOutcome(kind), item)
        counts[kind] += 1
    run.migrated += counts["migrated"]
    run.blocked += counts["blocked"]
    run.failed += counts["failed"]
    run.after_instance_id, run.progressed_at = ids[-1], ctx.now()
    ctx.session.flush()
    logger.info("Migration run %s: %s migrated, %s blocked, %s failed of %s", run.id, run.migrated, run.blocked,
                run.failed, run.total)
    return True


def _record(ctx: EngineContext, run: MigrationRun, outcome: CaseOutcome, item: PlanItem) -> None:
    ctx.session.add(MigrationRunCase(run_id=run.id, instance_id=item.instance_id, business_key=item.business_key,
                                     outcome=outcome, reason="；".join(item.reasons)[:1000], recorded_at=ctx.now()))

