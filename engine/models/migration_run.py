"""A background 版本迁移 (designer tools): every compatible running case of one version moved to another.

A :class:`MigrationRun` is created by a process designer (page or ``hedui bpmn migrate --background``)
and worked off by the job ``migrations.run`` in chunks, one commit per chunk
(``engine.services.migration_runs``). The cases it could not move, blocked or failed, are listed
in :class:`MigrationRunCase` (capped per run; the counters on the run are always complete). The
migrated cases need no row: each has its ``migrated`` event, as with an inline migration.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.db import Base
from engine.db import str_enum
from engine.models.definition import ProcessDefinition


class MigrationRunStatus(enum.StrEnum):
    #: created; the background job has not picked it up yet (or was queued again)
    QUEUED = "queued"
    RUNNING = "running"
    #: stopped between chunks by a designer; resumable
    PAUSED = "paused"
    #: every running case of the source version was handled (migrated, blocked or failed)
    DONE = "done"
    #: stopped for good by a designer; the cases moved so far stay moved
    CANCELLED = "cancelled"


RUN_STATUS_NAMES = {"queued": "等待执行", "running": "正在迁移", "paused": "已暂停", "done": "已完成",
                    "cancelled": "已取消"}
#: a run in one of these holds its source version: no second run from it meanwhile
ACTIVE_STATUSES = (MigrationRunStatus.QUEUED, MigrationRunStatus.RUNNING, MigrationRunStatus.PAUSED)


class MigrationRun(Base):
    """One 迁移全部可迁移案件 of a process from one deployed version to another, run in the background."""

    __tablename__ = "migration_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    from_definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    to_definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    #: the source version while the run is queued, running or paused, NULL afterwards: unique, so two
    #: active runs from one version cannot both be created, even by two requests at once
    active_definition_id: Mapped[int | None] = mapped_column(unique=True)
    #: recorded in every migrated case's ``migrated`` event
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[MigrationRunStatus] = mapped_column(str_enum(MigrationRunStatus, 20), index=True)
    #: who started it (the actor of the ``migrated`` events): username, role, and the user for people
    created_by: Mapped[str] = mapped_column(String(100))
    created_by_role: Mapped[str | None] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: running cases on the source version when the run was created (cases started on it later add to the counts)
    total: Mapped[int] = mapped_column(default=0)
    migrated: Mapped[int] = mapped_column(default=0)
    #: not movable (the compatibility rule) or no longer on the source version: untouched
    blocked: Mapped[int] = mapped_column(default=0)
    #: an unexpected error: that case alone was rolled back
    failed: Mapped[int] = mapped_column(default=0)
    #: keyset cursor: every case of the source version with a lower or equal id has been handled
    after_instance_id: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    #: last committed chunk or (re)queueing: a queued or running run without progress for a while is interrupted
    progressed_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    from_definition: Mapped[ProcessDefinition] = relationship(foreign_keys=[from_definition_id])
    to_definition: Mapped[ProcessDefinition] = relationship(foreign_keys=[to_definition_id])

    @property
    def handled(self) -> int:
        return self.migrated + self.blocked + self.failed

    @property
    def progress(self) -> int:
        """0–100: cases handled so far (100 once done, even if the version had none)."""
        if self.status is MigrationRunStatus.DONE:
            return 100
        return min(100, self.handled * 100 // self.total) if self.total else 0

    def __repr__(self) -> str:
        return f"<MigrationRun {self.id} {self.process_id} {self.status.value} {self.handled}/{self.total}>"


class CaseOutcome(enum.StrEnum):
    BLOCKED = "blocked"
    FAILED = "failed"


class MigrationRunCase(Base):
    """A case a run did not move, and why (Chinese); at most ``MAX_LISTED`` per outcome and run."""

    __tablename__ = "migration_run_cases"
    __table_args__ = (UniqueConstraint("run_id", "instance_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("migration_runs.id"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instances.id"))
    #: shown instead of the id (lists show business keys)
    business_key: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[CaseOutcome] = mapped_column(str_enum(CaseOutcome, 20))
    reason: Mapped[str] = mapped_column(String(1000))
    recorded_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<MigrationRunCase {self.run_id}/{self.instance_id} {self.outcome.value}>"
