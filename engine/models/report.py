"""Issued reports (核对报告; the 复核报告 is the same row with ``kind = reverification``), DO-7, DO-8, DO-10, PR-3.

A report is an immutable JSON snapshot taken when it is issued (the 出具核对报告 step): the cover,
the annex tables per person and per source, and the summary, stored verbatim with its SHA-256.
Nothing on it ever changes (ORM guard here, database triggers in the migration): a correction is a
new report whose ``supersedes_id`` names the old one, so "已被替代" is derived, never written. The
snapshot holds economic facts only, never an eligibility verdict (PR-3).
"""

from __future__ import annotations

import enum
from datetime import date
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import event
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from engine.db import Base
from engine.db import str_enum
from engine.errors import IntegrityError


class ReportKind(enum.StrEnum):
    #: 核对报告 (BJ 附件3)
    VERIFICATION = "verification"
    #: 复核报告 (BJ 附件5): the same structure plus the trigger and the differences (DO-8)
    REVERIFICATION = "reverification"


class Report(Base):
    """One issued report: its number, addressee, validity and the snapshot with its digest."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("agency_unit_id", "year", "seq"), UniqueConstraint("agency_unit_id", "number"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ReportKind] = mapped_column(str_enum(ReportKind, 20))
    #: 编号, e.g. ``朝阳核字〔2026〕第0001号`` (``engine.reports.numbering``)
    number: Mapped[str] = mapped_column(String(60))
    #: the issuing verification agency and the year and gap-free sequence number the 编号 is built from
    agency_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    year: Mapped[int]
    seq: Mapped[int]
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instances.id"), index=True)
    case_no: Mapped[str] = mapped_column(String(60), index=True)
    #: the entrusting unit the report is addressed to
    addressee_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    issued_at: Mapped[datetime]
    issued_by: Mapped[str] = mapped_column(String(100))
    #: last day of validity (DO-10: one year, ``report_validity_months`` of the policy)
    valid_until: Mapped[date]
    #: the report this one corrects; the old one is then 已被替代 (at most one successor)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), unique=True)
    #: the snapshot exactly as hashed (canonical JSON)
    content: Mapped[str] = mapped_column(Text())
    sha256: Mapped[str] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"<Report {self.number} {self.case_no} {self.sha256[:12]}>"


def _refuse(_mapper: object, _connection: object, target: object) -> None:
    """The ORM half of the guard: a clear domain error before the database trigger would refuse it."""
    raise IntegrityError("核对报告出具后不可修改或删除；更正须出具新报告替代原报告", code="report_immutable",
                         object=type(target).__name__)


event.listen(Report, "before_update", _refuse)
event.listen(Report, "before_delete", _refuse)
