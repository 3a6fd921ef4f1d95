"""Deployed process definitions: immutable, keyed by the hash of their files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.db import Base
from engine.db import CanonicalJSON
from engine.db import str_64
from engine.db import str_255


class ProcessDefinition(Base):
    """One immutable deployed version of one BPMN process (with its called processes)."""

    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("process_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the BPMN process id (= file name in ``bpmn/``)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    #: sha256 over the files this definition was parsed from; identical files = same definition
    content_hash: Mapped[str_64] = mapped_column(unique=True)
    #: 1, 2, 3 ... per process id
    version: Mapped[int]
    #: the process name from the diagram (Chinese)
    name: Mapped[str_255]
    #: serialized ``spec`` and ``subprocess_specs`` (SpiffWorkflow registry JSON), stored once
    serialized_spec: Mapped[str] = mapped_column(Text, deferred=True)
    #: serializer version the spec was written with
    serializer_version: Mapped[str] = mapped_column(String(16))
    #: per user task: bpmn id, name, lane, properties (for lists, SoD checks and documentation)
    task_catalogue: Mapped[dict[str, Any]] = mapped_column(CanonicalJSON())
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(100))

    files: Mapped[list[DefinitionFile]] = relationship(
        back_populates="definition", cascade="all, delete-orphan", order_by="DefinitionFile.filename"
    )

    def __repr__(self) -> str:
        return f"<ProcessDefinition {self.process_id} v{self.version} {self.content_hash[:12]}>"


class DefinitionFile(Base):
    """The source XML of one file of a deployed definition (kept for auditors and the viewer)."""

    __tablename__ = "definition_files"
    __table_args__ = (UniqueConstraint("definition_id", "filename"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    filename: Mapped[str_255]
    content_sha256: Mapped[str_64]
    content: Mapped[str] = mapped_column(Text)

    definition: Mapped[ProcessDefinition] = relationship(back_populates="files")


class CurrentDefinition(Base):
    """Which definition new instances of a process id start on."""

    __tablename__ = "current_definitions"

    process_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    updated_at: Mapped[datetime]

    definition: Mapped[ProcessDefinition] = relationship()
