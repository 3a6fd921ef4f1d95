"""Spending inquiries (支出调查, DO-9; BJ 第十四条): where a household's spending clearly exceeds the
income it declared, the verification agency may look into that spending.

One inquiry per case (household), opened by the agency's staff while the case runs and before its
report is issued; it lists the spending found (items) and ends with a finding that the 核对报告
carries. Nothing is deleted: a wrong item is voided with a reason, and every change is an event of
the inquiry's own hash-chained stream (``spending:<id>``, ``engine.services.spending``). The
finding states facts for the entrusting department; it is not an eligibility decision (PR-3).
"""

from __future__ import annotations

import enum
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import Numeric
from sqlalchemy import String
from sqlalchemy import event
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.db import Base
from engine.db import str_enum
from engine.errors import IntegrityError
from engine.models.case import Household
from forms.spending import OUTCOMES


class InquiryStatus(enum.StrEnum):
    #: 调查中: items may be added or voided
    OPEN = "open"
    #: 已办结: the finding is written; the report carries it
    CONCLUDED = "concluded"


INQUIRY_STATUS_NAMES = {"open": "调查中", "concluded": "已办结"}


class InquiryOutcome(enum.StrEnum):
    #: the household explained the spending (gifts, loans, savings …)
    EXPLAINED = "explained"
    #: spending clearly exceeds the declared income and was not explained
    UNEXPLAINED = "unexplained"
    #: the facts could not be established
    INCONCLUSIVE = "inconclusive"


#: the shown names: the form's choices (one list)
OUTCOME_NAMES = OUTCOMES


class SpendingInquiry(Base):
    """The 支出调查 of one case."""

    __tablename__ = "spending_inquiries"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), unique=True)
    #: the agency that investigates (the case's verification agency)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: why: what spending seemed out of line with the declared income
    basis: Mapped[str] = mapped_column(String(1000))
    #: the household's declared monthly income (元), as stated in the application, when known
    declared_monthly_income: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    status: Mapped[InquiryStatus] = mapped_column(str_enum(InquiryStatus, 20), index=True)
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[InquiryOutcome | None] = mapped_column(str_enum(InquiryOutcome, 20))
    conclusion: Mapped[str | None] = mapped_column(String(2000))
    concluded_at: Mapped[datetime | None]
    concluded_by: Mapped[str | None] = mapped_column(String(100))

    household: Mapped[Household] = relationship()
    items: Mapped[list[SpendingItem]] = relationship(back_populates="inquiry", order_by="SpendingItem.id")

    @property
    def valid_items(self) -> list[SpendingItem]:
        return [i for i in self.items if i.voided_at is None]

    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.valid_items), Decimal(0))


class SpendingItem(Base):
    """One spending found: what, how much, when, and how the agency learned of it."""

    __tablename__ = "spending_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(ForeignKey("spending_inquiries.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(500))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    spent_on: Mapped[date | None]
    source: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))
    voided_at: Mapped[datetime | None]
    voided_by: Mapped[str | None] = mapped_column(String(100))
    void_reason: Mapped[str | None] = mapped_column(String(500))

    inquiry: Mapped[SpendingInquiry] = relationship(back_populates="items")


@event.listens_for(SpendingInquiry, "before_delete")
@event.listens_for(SpendingItem, "before_delete")
def _refuse_delete(*_args: Any) -> None:
    raise IntegrityError("支出调查记录不能删除，登记有误的支出请作废并说明原因", code="spending_not_deletable")
