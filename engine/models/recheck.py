"""Re-verification (复核, PS-8, PS-9, DO-8): individual rechecks and batches of enrolled households.

An individual recheck (:class:`Recheck`) is the 复核表 of one enrolled household, its own
``individual_recheck`` workflow instance, and — once the county social-assistance department
decides to re-verify — a numbered 复核委托书 (an :class:`~engine.models.case.Entrustment`
with source ``recheck``) and a new ``standard_verification`` case linked to the original one.
A batch (:class:`RecheckBatch`) starts one such standard case per enrolled household, in
chunks, idempotently per household (:class:`RecheckBatchItem`). No eligibility verdict is
stored anywhere (PR-3); ID numbers live only in ``persons``.
"""

from __future__ import annotations

import enum
from datetime import date
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.db import Base
from engine.db import str_enum
from engine.models.case import Entrustment
from engine.models.case import Household
from engine.models.instance import WorkflowInstance
from engine.models.org import Unit


class RecheckTrigger(enum.StrEnum):
    #: the household objects to the result (within the objection window, PS-13)
    OBJECTION = "objection"
    #: a public complaint or tip-off (举报, AU-2)
    COMPLAINT = "complaint"
    #: a home visit contradicts the verification result
    HOME_VISIT = "home_visit"
    #: another stated reason
    OTHER = "other"


TRIGGER_NAMES = {"objection": "核对对象提出异议", "complaint": "群众投诉、举报", "home_visit": "入户调查与核对结果不符",
                 "other": "其他原因"}


class RecheckStatus(enum.StrEnum):
    #: 复核表 filed; waiting for the county department's decision
    FILED = "filed"
    #: the department decided not to re-verify
    DECLINED = "declined"
    #: 复核委托书 issued; the agency's verification is running
    ENTRUSTED = "entrusted"
    #: the verification ended and its result was recorded
    COMPLETED = "completed"
    #: refused at filing (a late objection); kept as the record of the refusal
    REFUSED = "refused"


RECHECK_STATUS_NAMES = {"filed": "待决定是否复核", "declined": "决定不予复核", "entrusted": "复核核对中",
                        "completed": "复核完成", "refused": "不予受理"}


class Recheck(Base):
    """One individual re-verification: the 复核表 (DO-8) and where it went."""

    __tablename__ = "rechecks"
    __table_args__ = (Index("ix_rechecks_original_status", "original_household_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 复核编号, e.g. ``FH-CY-MZJ-2026-000001``
    number: Mapped[str] = mapped_column(String(60), unique=True)
    trigger: Mapped[RecheckTrigger] = mapped_column(str_enum(RecheckTrigger, 20))
    status: Mapped[RecheckStatus] = mapped_column(str_enum(RecheckStatus, 20), index=True)
    #: the enrolled household (its earlier verification case) the recheck is about
    original_household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    original_instance_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_instances.id"))
    #: 复核表: 发起部门, 申请人/举报人, 申请日期, 复核原因
    initiating_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    requester_name: Mapped[str] = mapped_column(String(50))
    requested_on: Mapped[date]
    reason: Mapped[str] = mapped_column(String(2000))
    #: objections: when the household was told the result, and the last day to object (PS-13)
    notified_on: Mapped[date | None]
    objection_deadline: Mapped[date | None]
    #: the county social-assistance department that decides and entrusts
    deciding_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: the agency entrusted with the 复核委托书 (county or city level)
    agency_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    #: the 复核委托书 and the new verification case it started
    entrustment_id: Mapped[int | None] = mapped_column(ForeignKey("entrustments.id"))
    verification_household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), unique=True)
    #: the ``individual_recheck`` instance (None for a refused filing)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_instances.id"), unique=True)
    #: why it was refused or declined (Chinese) and the stable code of a refusal
    refusal_code: Mapped[str | None] = mapped_column(String(40))
    decision_reason: Mapped[str | None] = mapped_column(String(2000))
    #: 复核结果 as recorded at the end (facts only, PR-3) and the 复核报告 number (the stored report of the
    #: linked case, ``engine.services.rechecks.link_recheck_report``; the 登记复核结果 form may override it)
    result: Mapped[str | None] = mapped_column(String(2000))
    report_no: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    finished_at: Mapped[datetime | None]

    original_household: Mapped[Household] = relationship(foreign_keys=[original_household_id])
    verification_household: Mapped[Household | None] = relationship(foreign_keys=[verification_household_id])
    initiating_unit: Mapped[Unit] = relationship(foreign_keys=[initiating_unit_id])
    deciding_unit: Mapped[Unit] = relationship(foreign_keys=[deciding_unit_id])
    agency_unit: Mapped[Unit | None] = relationship(foreign_keys=[agency_unit_id])
    entrustment: Mapped[Entrustment | None] = relationship()
    instance: Mapped[WorkflowInstance | None] = relationship(foreign_keys=[instance_id])

    def __repr__(self) -> str:
        return f"<Recheck {self.number} {self.trigger.value} {self.status.value}>"


class BatchStatus(enum.StrEnum):
    #: created; the background job has not picked it up yet
    PENDING = "pending"
    RUNNING = "running"
    #: stopped between chunks by a user; resumable
    PAUSED = "paused"
    #: every row was either started or failed
    COMPLETED = "completed"


BATCH_STATUS_NAMES = {"pending": "等待启动", "running": "正在启动", "paused": "已暂停", "completed": "已全部处理"}


class RecheckBatch(Base):
    """A 批量复核 of enrolled households (PS-8): one 复核委托书, one standard case per household."""

    __tablename__ = "recheck_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 批次编号, e.g. ``PL-CY-MZJ-2026-000001``
    number: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    #: ``list`` (an uploaded list of case numbers) or ``package`` (the households of an imported package)
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[BatchStatus] = mapped_column(str_enum(BatchStatus, 20), index=True)
    entrusting_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    agency_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    entrustment_id: Mapped[int | None] = mapped_column(ForeignKey("entrustments.id"))
    total: Mapped[int]
    started: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    finished_at: Mapped[datetime | None]

    entrusting_unit: Mapped[Unit] = relationship(foreign_keys=[entrusting_unit_id])
    agency_unit: Mapped[Unit] = relationship(foreign_keys=[agency_unit_id])
    entrustment: Mapped[Entrustment | None] = relationship()

    @property
    def pending(self) -> int:
        return self.total - self.started - self.failed

    @property
    def progress(self) -> int:
        """0–100: rows handled so far."""
        return 100 if not self.total else (self.started + self.failed) * 100 // self.total

    def __repr__(self) -> str:
        return f"<RecheckBatch {self.number} {self.status.value} {self.started}/{self.total}>"


class ItemStatus(enum.StrEnum):
    PENDING = "pending"
    STARTED = "started"
    FAILED = "failed"


class RecheckBatchItem(Base):
    """One row of a batch: the enrolled household and the case started for it, or why not."""

    __tablename__ = "recheck_batch_items"
    __table_args__ = (UniqueConstraint("batch_id", "row"), UniqueConstraint("batch_id", "original_household_id"),
                      Index("ix_recheck_batch_items_batch_status", "batch_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("recheck_batches.id"))
    #: position in the uploaded list (1 = first data row)
    row: Mapped[int]
    #: the case number as given
    ref: Mapped[str] = mapped_column(String(60))
    original_household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    status: Mapped[ItemStatus] = mapped_column(str_enum(ItemStatus, 20))
    #: why the row failed (Chinese)
    reason: Mapped[str | None] = mapped_column(String(500))
    #: the new standard case (unique: a household is started at most once per batch)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), unique=True)
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<RecheckBatchItem {self.batch_id}#{self.row} {self.status.value}>"
