"""Escalations across levels: tiered (上下分级核对, PS-5, PS-6) and cross-city (跨地市核对, PS-7).

A county case's 审核复审 decides which items an upper agency checks. Each upper agency
that checks something for the case is one :class:`Escalation`: an upward 委托书 (an
:class:`~engine.models.case.Entrustment` with source ``upward``, subject list generated) and
a case of the upper agency (``upper_household_id``) that starts at 审核复审 and issues its own
report; the report travels back to the original case, which returns all reports together.

A cross-city escalation goes through the county's city agency: raised by the county
(``requested``), gathered with others into a :class:`CrossCityBatch` the city reviews
(``gathered``), entrusted to the province in one 委托书 (``entrusted``), reported by the
province and relayed back by the city (``reported`` → ``returned``). Every move is an
:class:`EscalationStep` (append-only), so each level sees where an escalation is.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.db import Base
from engine.db import CanonicalJSON
from engine.db import str_enum
from engine.models.case import Entrustment
from engine.models.case import Household
from engine.models.instance import WorkflowInstance
from engine.models.org import Unit


class EscalationKind(enum.StrEnum):
    #: 上下分级核对: items an upper agency checks, entrusted to it directly (PS-5)
    TIERED = "tiered"
    #: 跨地市核对: gathered by the city agency and entrusted to the province (PS-7)
    CROSS_CITY = "cross_city"


ESCALATION_KIND_NAMES = {"tiered": "上下分级核对", "cross_city": "跨地市核对"}


class EscalationStatus(enum.StrEnum):
    #: cross-city: raised by the county, waiting for the city agency's periodic batch
    REQUESTED = "requested"
    #: cross-city: in a city batch under review
    GATHERED = "gathered"
    #: the upper agency's case is running
    ENTRUSTED = "entrusted"
    #: the upper agency issued its report; on its way back (cross-city: at the city agency)
    REPORTED = "reported"
    #: the report reached the original case
    RETURNED = "returned"
    #: not pursued (the original case ended first, or the city's review refused the request)
    CANCELLED = "cancelled"


ESCALATION_STATUS_NAMES = {"requested": "待市级汇总", "gathered": "市级审核中", "entrusted": "上级核对中",
                           "reported": "上级已出具报告", "returned": "已反馈原核对机构", "cancelled": "已撤销"}


class Escalation(Base):
    """What one upper agency checks for one original case, and where its report is."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_origin_status", "origin_household_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: e.g. ``SJ-CY-HDZX-2026-000001`` (per original agency and year)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[EscalationKind] = mapped_column(str_enum(EscalationKind, 20))
    status: Mapped[EscalationStatus] = mapped_column(str_enum(EscalationStatus, 20), index=True)
    #: the case that escalates (a county agency's case) and its agency
    origin_household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    origin_instance_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_instances.id"))
    origin_agency_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: the agency that checks the items (city or province)
    target_agency_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: cross-city: the city agency that gathers, reviews, entrusts and relays the report back
    via_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    #: sharing-unit codes the upper agency checks
    items: Mapped[list[str]] = mapped_column(CanonicalJSON())
    #: cross-city: why, and where the data is held
    reason: Mapped[str | None] = mapped_column(String(500))
    raised_at: Mapped[datetime]
    raised_by: Mapped[str] = mapped_column(String(100))
    #: when the upper agency's report is due (its verification limit, in working days)
    due_at: Mapped[datetime | None]
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("cross_city_batches.id"), index=True)
    #: the upward 委托书 and the upper agency's case
    entrustment_id: Mapped[int | None] = mapped_column(ForeignKey("entrustments.id"))
    upper_household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), unique=True)
    #: the upper agency's report (the one that travelled back)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    returned_at: Mapped[datetime | None]

    origin_household: Mapped[Household] = relationship(foreign_keys=[origin_household_id])
    origin_instance: Mapped[WorkflowInstance | None] = relationship(foreign_keys=[origin_instance_id])
    origin_agency: Mapped[Unit] = relationship(foreign_keys=[origin_agency_unit_id])
    target_agency: Mapped[Unit] = relationship(foreign_keys=[target_agency_unit_id])
    via_unit: Mapped[Unit | None] = relationship(foreign_keys=[via_unit_id])
    entrustment: Mapped[Entrustment | None] = relationship()
    upper_household: Mapped[Household | None] = relationship(foreign_keys=[upper_household_id])
    batch: Mapped[CrossCityBatch | None] = relationship(back_populates="escalations")
    steps: Mapped[list[EscalationStep]] = relationship(back_populates="escalation", order_by="EscalationStep.id")

    def __repr__(self) -> str:
        return f"<Escalation {self.number} {self.kind.value} {self.status.value}>"


class EscalationStep(Base):
    """One move of an escalation: where it is now (which level's unit) and who moved it. Append-only."""

    __tablename__ = "escalation_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id"), index=True)
    at: Mapped[datetime]
    status: Mapped[EscalationStatus] = mapped_column(str_enum(EscalationStatus, 20))
    #: the unit holding the escalation after this move
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))

    escalation: Mapped[Escalation] = relationship(back_populates="steps")
    unit: Mapped[Unit] = relationship()


class CrossCityBatchStatus(enum.StrEnum):
    #: gathered; the city agency reviews it
    GATHERED = "gathered"
    #: reviewed and entrusted to the province with one 委托书
    ENTRUSTED = "entrusted"
    #: every report came back and was relayed to the counties
    RETURNED = "returned"
    #: the review refused the whole batch (each request cancelled with the reason)
    REFUSED = "refused"


CROSS_CITY_BATCH_STATUS_NAMES = {"gathered": "待审核", "entrusted": "已委托省级核对机构", "returned": "已全部反馈",
                                 "refused": "审核未通过"}


class CrossCityBatch(Base):
    """A city agency's periodic batch of cross-city requests, entrusted to the province (PS-7)."""

    __tablename__ = "cross_city_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: e.g. ``KS-CC-HDZX-2026-000001``
    number: Mapped[str] = mapped_column(String(60), unique=True)
    status: Mapped[CrossCityBatchStatus] = mapped_column(str_enum(CrossCityBatchStatus, 20), index=True)
    city_agency_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    province_agency_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    #: the batch's own workflow instance (review, entrust, relay), if run as a process
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_instances.id"), unique=True)
    #: the 委托书 from the city agency to the province
    entrustment_id: Mapped[int | None] = mapped_column(ForeignKey("entrustments.id"))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    review_note: Mapped[str | None] = mapped_column(String(500))
    finished_at: Mapped[datetime | None]

    city_agency: Mapped[Unit] = relationship(foreign_keys=[city_agency_unit_id])
    province_agency: Mapped[Unit] = relationship(foreign_keys=[province_agency_unit_id])
    instance: Mapped[WorkflowInstance | None] = relationship()
    entrustment: Mapped[Entrustment | None] = relationship()
    escalations: Mapped[list[Escalation]] = relationship(back_populates="batch", order_by="Escalation.id")

    def __repr__(self) -> str:
        return f"<CrossCityBatch {self.number} {self.status.value}>"
