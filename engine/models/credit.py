"""Dishonesty records (失信登记, AU-3; JL 第十三条, 第二十条): who obtained assistance by hiding income or property.

A civil-affairs department registers a record against one person found by one verification case
(the report or re-verification report is the evidence). A record is proposed by one officer and
approved by another person of the same department; it is never deleted (a listener refuses it and
no service offers it): revoking sets the status with a reason, and every change is an event of
the record's own hash-chained stream (``credit:<id>``, ``engine.services.credit``).

Expiry is derived from the date, not written by a job: a registered record whose ``valid_to``
has passed *is* expired (:meth:`CreditRecord.state_on`, and :func:`active_on` for queries).
"""

from __future__ import annotations

import enum
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import and_
from sqlalchemy import event
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.db import Base
from engine.db import str_enum
from engine.errors import IntegrityError
from engine.models.case import Household
from engine.models.org import Unit
from forms.ids import mask_id


class CreditReason(enum.StrEnum):
    #: 隐瞒收入 (JL 13)
    HID_INCOME = "hid_income"
    #: 隐瞒财产 (JL 13)
    HID_PROPERTY = "hid_property"
    #: 不如实提供相关情况 (false statements, JL 13)
    FALSE_STATEMENT = "false_statement"
    OTHER = "other"


CREDIT_REASON_NAMES = {"hid_income": "隐瞒收入", "hid_property": "隐瞒财产",
                       "false_statement": "不如实提供相关情况（虚假陈述）", "other": "其他"}


class CreditStatus(enum.StrEnum):
    """The stored status; "expired" is never stored (see :meth:`CreditRecord.state_on`)."""

    #: 待审批: proposed by an officer, waiting for a second person's decision
    PROPOSED = "proposed"
    #: 已登记: approved; in force from ``valid_from`` to ``valid_to``
    REGISTERED = "registered"
    #: 未予登记: the approver rejected the proposal (the reason is kept)
    REJECTED = "rejected"
    #: 已撤销: revoked with a reason (e.g. 申诉成立)
    REVOKED = "revoked"


#: the shown states, including the derived "expired"
CREDIT_STATE_NAMES = {"proposed": "待审批", "registered": "已登记", "rejected": "未予登记", "revoked": "已撤销",
                      "expired": "已到期"}
EXPIRED = "expired"


class CreditRecord(Base):
    """One 失信登记 against one person, found by one verification case."""

    __tablename__ = "credit_records"
    __table_args__ = (Index("ix_credit_records_id_number_status", "id_number", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 登记编号, e.g. ``SX-CY-MZJ-2026-000001`` (registering unit + year sequence)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    #: the person as listed on the finding case (persons are per household, so name and number are copied)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    #: the full number, the key of the cross-region lookup; never logged, masked in lists
    id_number: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(50))
    #: the verification case that found the concealment, and its evidence (report / recheck numbers)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    case_no: Mapped[str] = mapped_column(String(60))
    report_no: Mapped[str | None] = mapped_column(String(100))
    recheck_no: Mapped[str | None] = mapped_column(String(60))
    #: the registering civil-affairs department (登记单位)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    reason: Mapped[CreditReason] = mapped_column(str_enum(CreditReason, 20))
    #: the facts found (what was hidden, how much), free text
    reason_detail: Mapped[str] = mapped_column(String(2000))
    #: 法律依据, e.g. 《吉林省社会救助家庭经济状况核对办法》第十三条、第二十条
    legal_basis: Mapped[str] = mapped_column(String(500))
    #: the period the record is in force (both days included, Beijing dates)
    valid_from: Mapped[date]
    valid_to: Mapped[date]
    status: Mapped[CreditStatus] = mapped_column(str_enum(CreditStatus, 20), index=True)
    proposed_at: Mapped[datetime]
    proposed_by: Mapped[str] = mapped_column(String(100))
    #: who approved or rejected, when, and the rejection's reason
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(String(2000))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    revoke_reason: Mapped[str | None] = mapped_column(String(2000))

    unit: Mapped[Unit] = relationship()
    household: Mapped[Household] = relationship()

    @property
    def masked_id(self) -> str:
        return mask_id(self.id_number)

    def state_on(self, day: date) -> str:
        """The shown state on ``day``: the stored status, or ``expired`` once a registered period has passed."""
        if self.status is CreditStatus.REGISTERED and self.valid_to < day:
            return EXPIRED
        return self.status.value

    def is_active_on(self, day: date) -> bool:
        return self.status is CreditStatus.REGISTERED and self.valid_from <= day <= self.valid_to

    def __repr__(self) -> str:
        return f"<CreditRecord {self.number} {self.status.value} {self.masked_id}>"


def active_on(day: date) -> ColumnElement[bool]:
    """SQL: registered and in force on ``day``."""
    return and_(CreditRecord.status == CreditStatus.REGISTERED, CreditRecord.valid_from <= day,
                CreditRecord.valid_to >= day)


def in_state(state: str, day: date) -> ColumnElement[bool]:
    """SQL: the shown state on ``day`` is ``state`` (``expired`` derived from the date)."""
    if state == EXPIRED:
        return and_(CreditRecord.status == CreditStatus.REGISTERED, CreditRecord.valid_to < day)
    if state == CreditStatus.REGISTERED.value:
        return and_(CreditRecord.status == CreditStatus.REGISTERED, CreditRecord.valid_to >= day)
    return CreditRecord.status == CreditStatus(state)


@event.listens_for(CreditRecord, "before_delete")
def _refuse_delete(*_args: Any) -> None:
    raise IntegrityError("失信登记不能删除，只能撤销", code="credit_record_not_deletable")
