"""Sealed case archives (AR-1…AR-4, ARC-01/02): one per household per verification (一户一次一档).

An archive is written once, when its case closes, and never changed: the migration puts
triggers on these tables that refuse UPDATE and DELETE on both databases. The manifest
(creator, unit, time, business ids, SHA-256 of every item) is stored verbatim together with
its own SHA-256; the ``archive_sealed`` event in the hash-chained log repeats that digest.
Rows carry codes and names rather than foreign keys to units, so a backup imports into
another Hedui instance that knows neither the case nor its units (AR-3).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import event
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.db import Base
from engine.errors import IntegrityError


class Archive(Base):
    """One sealed archive: the manifest and its digest; the items hang off it."""

    __tablename__ = "archives"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the case number (business key), unique: one verification, one archive
    case_no: Mapped[str] = mapped_column(String(60), unique=True)
    #: the local case; None for an archive imported from another instance's backup
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), unique=True)
    agency_code: Mapped[str] = mapped_column(String(40), index=True)
    agency_name: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    sealed_at: Mapped[datetime]
    sealed_by: Mapped[str] = mapped_column(String(100))
    #: the manifest exactly as hashed (canonical JSON)
    manifest: Mapped[str] = mapped_column(Text())
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    #: ``local`` (sealed here) or ``imported`` (from a backup bundle)
    origin: Mapped[str] = mapped_column(String(20))
    imported_at: Mapped[datetime | None]

    items: Mapped[list[ArchiveItem]] = relationship(back_populates="archive", order_by="ArchiveItem.position")

    def __repr__(self) -> str:
        return f"<Archive {self.case_no} {self.manifest_sha256[:12]}>"


class ArchiveItem(Base):
    """One archived record: its metadata row; the bytes are in :class:`ArchiveItemBlob`."""

    __tablename__ = "archive_items"
    __table_args__ = (UniqueConstraint("archive_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    archive_id: Mapped[int] = mapped_column(ForeignKey("archives.id"), index=True)
    position: Mapped[int]
    #: ``engine.archives.kinds`` (authorisation_scan, entrustment_pdf, case_history, ...)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    #: the business id the item comes from (``document:12``, ``entrustment:3``, ``instance:7``)
    business_id: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    retention_years: Mapped[int]

    archive: Mapped[Archive] = relationship(back_populates="items")
    blob: Mapped[ArchiveItemBlob] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"<ArchiveItem {self.archive_id}/{self.position} {self.kind} {self.sha256[:12]}>"


class ArchiveItemBlob(Base):
    """The bytes of one archive item (kept apart so listings never load them)."""

    __tablename__ = "archive_item_blobs"

    item_id: Mapped[int] = mapped_column(ForeignKey("archive_items.id"), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary())


class PrintCounter(Base):
    """How often a document was printed ("第N次打印", RPT-06): one row per document key.

    Keys name the document: ``authorisation:<household id>``, ``entrustment:<entrustment id>``,
    ``archive_item:<item id>``, ``report:<report id>`` (prints) and ``report_download:<report id>``.
    """

    __tablename__ = "print_counters"

    document_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    count: Mapped[int]
    last_printed_at: Mapped[datetime]
    last_printed_by: Mapped[str] = mapped_column(String(100))

    def __repr__(self) -> str:
        return f"<PrintCounter {self.document_key} {self.count}>"


IMMUTABLE_TABLES = ("archives", "archive_items", "archive_item_blobs")


def _refuse(_mapper: object, _connection: object, target: object) -> None:
    """The ORM half of the guard: a clear domain error before the database trigger would refuse it."""
    raise IntegrityError("档案封存后不可修改或删除", code="archive_immutable", object=type(target).__name__)


for _cls in (Archive, ArchiveItem, ArchiveItemBlob):
    event.listen(_cls, "before_update", _refuse)
    event.listen(_cls, "before_delete", _refuse)
