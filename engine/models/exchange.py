"""Data exchange with information-sharing units: catalogue, requests, batches, imports, results.

The workflow keeps only ids and statuses (DESIGN: keep workflow data small); what was asked of
whom, what was sent when, and every answer per person × category × unit live here (DX-4).
Keys are stored here and nowhere else: no ``__repr__`` or event payload ever carries a secret.
"""

from __future__ import annotations

import enum
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.db import Base
from engine.db import CanonicalJSON
from engine.db import str_enum
from engine.models.org import Unit


class ExchangeMode(enum.StrEnum):
    SYSTEM = "system"  # 系统交换 (DX-3)
    MEDIA = "media"  # 介质交换 (DX-2)
    BOTH = "both"  # both in parallel during a transition (DX-1)


class ExchangeProfile(Base):
    """One sharing unit's exchange settings and agreement on record (DX-1, DX-6, DX-8)."""

    __tablename__ = "exchange_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), unique=True)
    mode: Mapped[ExchangeMode] = mapped_column(str_enum(ExchangeMode, 10))
    #: the unit's exchange interface (system mode), e.g. ``https://bank.example/hedui``
    endpoint: Mapped[str | None] = mapped_column(String(255))
    #: request signing algorithm: ``hmac-sha256`` or ``hmac-sm3``
    signing_algorithm: Mapped[str] = mapped_column(String(20))
    #: the data-exchange / confidentiality agreement (DX-6)
    agreement_no: Mapped[str | None] = mapped_column(String(100))
    agreement_title: Mapped[str | None] = mapped_column(String(200))
    agreement_sha256: Mapped[str | None] = mapped_column(String(64))
    #: the signed agreement itself (scan or PDF), kept on record
    agreement_document: Mapped[bytes | None] = mapped_column(LargeBinary)
    agreement_valid_from: Mapped[date | None]
    agreement_valid_to: Mapped[date | None]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100))

    unit: Mapped[Unit] = relationship()


class ExchangeKey(Base):
    """A shared secret with one unit; rotation adds a key and retires the old one (kept for verifying)."""

    __tablename__ = "exchange_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: public identifier carried in signatures and package manifests
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: the secret itself (32 bytes); never logged, never shown
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    retired_at: Mapped[datetime | None]

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"<ExchangeKey {self.key_id} unit={self.unit_id}>"


class RequestStatus(enum.StrEnum):
    OPEN = "open"  # waiting for a batch
    BATCHED = "batched"  # in a prepared/confirmed batch, not yet out
    SENT = "sent"  # sent or exported; waiting for the answer
    ANSWERED = "answered"
    OVERDUE = "overdue"  # the time limit ran out (超期未反馈)


class ExchangeRequest(Base):
    """What one case asks of one unit (from the ``exchange_request`` outbox message)."""

    __tablename__ = "exchange_requests"
    __table_args__ = (UniqueConstraint("case_no", "unit_id"), Index("ix_exchange_requests_unit_status", "unit_id",
                                                                      "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id"), unique=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instances.id"), index=True)
    case_no: Mapped[str] = mapped_column(String(60))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    #: the verification agency whose case it is (its officers batch it)
    agency_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("exchange_batches.id"), index=True)
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, 20))
    #: the unit's reply limit (PS-10), moved by an accepted delay notice
    reply_due: Mapped[datetime]
    extended_days: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]

    unit: Mapped[Unit] = relationship(foreign_keys=[unit_id])
    lines: Mapped[list[ExchangeRequestLine]] = relationship(back_populates="request",
                                                            order_by="ExchangeRequestLine.id")

    @property
    def correlation_key(self) -> str:
        return f"{self.case_no}:{self.unit.code}"


class ExchangeRequestLine(Base):
    """One subject of a request: only what the unit needs to look them up (DX-4)."""

    __tablename__ = "exchange_request_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("exchange_requests.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    name: Mapped[str] = mapped_column(String(50))
    id_number: Mapped[str | None] = mapped_column(String(18))
    categories: Mapped[list[str]] = mapped_column(CanonicalJSON())

    request: Mapped[ExchangeRequest] = relationship(back_populates="lines")


class BatchStatus(enum.StrEnum):
    PREPARED = "prepared"  # 待确认 (SD-2: first officer)
    CONFIRMED = "confirmed"  # 已确认, waiting to be sent (system) or exported (media)
    SENT = "sent"  # 已发送 / 已导出
    ANSWERED = "answered"  # an answer was applied


class ExchangeBatch(Base):
    """The open requests of one unit, collected, checked by two officers and sent or exported."""

    __tablename__ = "exchange_batches"
    __table_args__ = (Index("ix_exchange_batches_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_no: Mapped[str] = mapped_column(String(60), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: the verification agency that sends it (the preparing officer's side of the registration)
    agency_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    mode: Mapped[ExchangeMode] = mapped_column(str_enum(ExchangeMode, 10))
    status: Mapped[BatchStatus] = mapped_column(str_enum(BatchStatus, 20))
    request_count: Mapped[int]
    person_count: Mapped[int]
    prepared_by: Mapped[str] = mapped_column(String(100))
    prepared_at: Mapped[datetime]
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    confirmed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    #: system mode: send attempts so far, when to try next, what went wrong last
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    #: media mode: digest of the exported package
    package_sha256: Mapped[str | None] = mapped_column(String(64))

    unit: Mapped[Unit] = relationship(foreign_keys=[unit_id])
    agency: Mapped[Unit | None] = relationship(foreign_keys=[agency_unit_id])


class ImportStatus(enum.StrEnum):
    STAGED = "staged"  # received and verified, waiting for the second officer (SD-2)
    APPLIED = "applied"


class ExchangeImport(Base):
    """An answer from a unit (a media package or a system delivery), staged until a second officer confirms."""

    __tablename__ = "exchange_imports"
    __table_args__ = (UniqueConstraint("unit_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("exchange_batches.id"), index=True)
    #: system: the unit's delivery id (idempotence); media: the package digest
    delivery_id: Mapped[str] = mapped_column(String(100))
    source: Mapped[ExchangeMode] = mapped_column(str_enum(ExchangeMode, 10))
    status: Mapped[ImportStatus] = mapped_column(str_enum(ImportStatus, 20))
    digest: Mapped[str] = mapped_column(String(64))
    #: the answer as received, until applied:
    #: ``[{"request_id", "id_number", "category", "status": "has_data"|"no_record", "records": [...]}]``
    records: Mapped[list[dict[str, Any]]] = mapped_column(CanonicalJSON())
    record_count: Mapped[int]
    staged_by: Mapped[str] = mapped_column(String(100))
    staged_at: Mapped[datetime]
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    confirmed_at: Mapped[datetime | None]

    unit: Mapped[Unit] = relationship()
    batch: Mapped[ExchangeBatch] = relationship()


class ResultStatus(enum.StrEnum):
    FOUND = "found"  # 有数据
    NONE = "none"  # 无记录
    PENDING = "pending"  # 未反馈
    OVERDUE = "overdue"  # 超期未反馈


RESULT_STATUS_NAMES = {"found": "有数据", "none": "无记录", "pending": "未反馈", "overdue": "超期未反馈"}


class ExchangeResult(Base):
    """One answer per person × category × unit, raw and normalised (DX-4)."""

    __tablename__ = "exchange_results"
    __table_args__ = (UniqueConstraint("request_id", "person_id", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("exchange_requests.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    category: Mapped[str] = mapped_column(String(40))
    status: Mapped[ResultStatus] = mapped_column(str_enum(ResultStatus, 20))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("exchange_imports.id"))
    #: the unit's fields as received
    raw: Mapped[dict[str, Any] | None] = mapped_column(CanonicalJSON(), nullable=True)
    #: normalised items (``engine.exchange.normalise``): ``[{"kind", "class", "label", "amount", "detail"}]``
    normalised: Mapped[list[dict[str, Any]] | None] = mapped_column(CanonicalJSON(), nullable=True)
    updated_at: Mapped[datetime]

    unit: Mapped[Unit] = relationship()


class ExchangeDelayNotice(Base):
    """A unit's written notice that it cannot answer in time, with its document (DX-5, PS-10)."""

    __tablename__ = "exchange_delay_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("exchange_requests.id"), unique=True)
    days: Mapped[int]
    reason: Mapped[str] = mapped_column(String(500))
    document_name: Mapped[str] = mapped_column(String(255))
    document_sha256: Mapped[str] = mapped_column(String(64))
    document: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(100))


class ExchangeNonce(Base):
    """A nonce a unit has used (replay protection for signed deliveries)."""

    __tablename__ = "exchange_nonces"
    __table_args__ = (UniqueConstraint("unit_code", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(40))
    nonce: Mapped[str] = mapped_column(String(100))
    seen_at: Mapped[datetime]
    #: after this the nonce may be purged (older requests fail the timestamp check anyway)
    expires_at: Mapped[datetime] = mapped_column(index=True)
