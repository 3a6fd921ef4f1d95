"""Complaints and tip-offs (举报投诉登记, AU-2; JL 第二十一条): what arrived through which channel, and what was done.

A civil-affairs department (the unit that can file rechecks) registers each complaint as it
arrives by phone, e-mail, online (portal, WeChat, Weibo: also ``POST /api/v1/complaints``), letter
or visit. The supervision desk then triages it: 转复核 files an individual recheck (trigger
``complaint``) linked both ways, 不予受理 dismisses it with a reason, 已办结 closes it with the reply
given to the complainant. Every step is an event of the complaint's own hash-chained stream
(``complaint:<id>``, ``engine.services.complaints``); complaints are never deleted.
The complainant's name and contact are personal data: never logged, never in event payloads.
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
from engine.models.case import Household
from engine.models.org import Unit
from engine.models.recheck import Recheck


class ComplaintChannel(enum.StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    #: portal, WeChat, Weibo, and external systems through the API
    ONLINE = "online"
    #: 来信来访
    LETTER_VISIT = "letter_visit"
    OTHER = "other"


CHANNEL_NAMES = {"phone": "电话", "email": "电子邮箱", "online": "网上（门户网站、微信、微博）",
                 "letter_visit": "来信来访", "other": "其他"}


class ComplaintStatus(enum.StrEnum):
    #: 待处理
    RECEIVED = "received"
    #: 已转复核: an individual recheck was filed (``recheck_id``)
    RECHECK_FILED = "recheck_filed"
    #: 不予受理, with a reason
    DISMISSED = "dismissed"
    #: 已办结, with the reply given
    CLOSED = "closed"


STATUS_NAMES = {"received": "待处理", "recheck_filed": "已转复核", "dismissed": "不予受理", "closed": "已办结"}
ANONYMOUS = "匿名"


class Complaint(Base):
    """One 举报/投诉 as registered by the receiving civil-affairs department."""

    __tablename__ = "complaints"
    __table_args__ = (UniqueConstraint("unit_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 登记编号, e.g. ``JB-HQ-MZB-2026-000001`` (receiving unit + year sequence)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    channel: Mapped[ComplaintChannel] = mapped_column(str_enum(ComplaintChannel, 20), index=True)
    #: e.g. 12345 热线, 微信公众号, the mailbox
    channel_detail: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime]
    #: 举报人: a name or 匿名; contact optional (personal data: never logged)
    complainant_name: Mapped[str] = mapped_column(String(50))
    complainant_contact: Mapped[str | None] = mapped_column(String(100))
    #: the household concerned: a case in the receiving unit's jurisdiction, or free text when unknown
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    case_no: Mapped[str | None] = mapped_column(String(60))
    subject_text: Mapped[str | None] = mapped_column(String(500))
    content: Mapped[str] = mapped_column(String(2000))
    #: the receiving civil-affairs department (受理单位)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    status: Mapped[ComplaintStatus] = mapped_column(str_enum(ComplaintStatus, 20), index=True)
    registered_at: Mapped[datetime]
    registered_by: Mapped[str] = mapped_column(String(100))
    #: ``web`` or ``api``
    registered_via: Mapped[str] = mapped_column(String(10))
    #: the API caller's ``Idempotency-Key`` (a retried POST returns the first registration)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    #: 转复核 or 不予受理: who, when, and the dismissal's reason
    triaged_at: Mapped[datetime | None]
    triaged_by: Mapped[str | None] = mapped_column(String(100))
    dismiss_reason: Mapped[str | None] = mapped_column(String(2000))
    #: the recheck the complaint caused
    recheck_id: Mapped[int | None] = mapped_column(ForeignKey("rechecks.id"), index=True)
    #: 已办结: who, when, the reply given to the complainant
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(100))
    reply: Mapped[str | None] = mapped_column(String(2000))

    unit: Mapped[Unit] = relationship()
    household: Mapped[Household | None] = relationship()
    recheck: Mapped[Recheck | None] = relationship()

    @property
    def is_anonymous(self) -> bool:
        return self.complainant_name == ANONYMOUS

    def __repr__(self) -> str:
        return f"<Complaint {self.number} {self.channel.value} {self.status.value}>"
