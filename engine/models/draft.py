"""Work on its way into a case: intake drafts (with their scans) and data-package import jobs.

Both hold personal data only until it becomes a case: a draft and its files are deleted
when the entrustment is registered, an import job drops its package once imported. Neither
is history; the event log records what became of them (``entrustment_received``,
``package_imported`` / ``package_refused``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.db import Base
from engine.db import CanonicalJSON
from engine.db import str_enum
from engine.models.org import Unit


class IntakeDraft(Base):
    """A street clerk's unfinished entrustment (the intake wizard), saved on every step."""

    __tablename__ = "intake_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the clerk who owns the draft; nobody else sees it
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: the entrusting unit the clerk acts for
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    #: the wizard step last shown (business, members, documents, letter)
    step: Mapped[str] = mapped_column(String(20))
    #: the form values exactly as typed (invalid ones included: nothing typed is lost)
    data: Mapped[dict[str, Any]] = mapped_column(CanonicalJSON())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    unit: Mapped[Unit] = relationship()
    files: Mapped[list[IntakeDraftFile]] = relationship(back_populates="draft", order_by="IntakeDraftFile.id",
                                                        cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<IntakeDraft {self.id} user={self.user_id} step={self.step}>"


class IntakeDraftFile(Base):
    """A scan uploaded to a draft; its type was sniffed from the content when it was uploaded."""

    __tablename__ = "intake_draft_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("intake_drafts.id", ondelete="CASCADE"), index=True)
    #: a ``DocumentKind`` value (授权书, 居民身份证, ...)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    #: whose scan (an ID card): the ``uid`` of a person row of the draft
    person_uid: Mapped[str | None] = mapped_column(String(40))
    content: Mapped[bytes] = mapped_column(LargeBinary(), deferred=True)
    created_at: Mapped[datetime]

    draft: Mapped[IntakeDraft] = relationship(back_populates="files")

    def __repr__(self) -> str:
        return f"<IntakeDraftFile {self.id} {self.kind} {self.content_type} {self.size}B>"


class ImportJobStatus(enum.StrEnum):
    #: the package is being checked (in the background for large packages)
    VALIDATING = "validating"
    #: checked; the report waits for the user's decision
    VALIDATED = "validated"
    #: the user chose to import; running
    IMPORTING = "importing"
    #: households became cases
    IMPORTED = "imported"
    #: the import found problems and imported nothing
    REFUSED = "refused"
    #: an unexpected error; nothing was imported
    FAILED = "failed"
    #: the user dropped the package after reading the report
    DISCARDED = "discarded"


#: statuses in which a background job is still working
PENDING_IMPORT_STATUSES = frozenset({ImportJobStatus.VALIDATING, ImportJobStatus.IMPORTING})


class ImportJob(Base):
    """One uploaded electronic data package (DO-6): its check, the user's choice and the import."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    entrusting_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    agency_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    status: Mapped[ImportJobStatus] = mapped_column(str_enum(ImportJobStatus, 20))
    #: 0–100; coarse, since a package is checked and imported in one transaction each
    progress: Mapped[int]
    #: import exactly the valid households (chosen by the user after reading the report)
    accept_valid_rows: Mapped[bool]
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    #: the uploaded zip, kept until it is imported or discarded
    package: Mapped[bytes | None] = mapped_column(LargeBinary(), deferred=True)
    #: ``ImportReport.to_dict()`` of the latest check or import (no ID numbers)
    report: Mapped[dict[str, Any] | None] = mapped_column(CanonicalJSON())
    #: why a job failed, in Chinese
    message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<ImportJob {self.id} {self.status.value} {self.progress}%>"
