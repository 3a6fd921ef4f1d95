"""The append-only, hash-chained event log: audit trail and replay log in one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy import event
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from engine.db import Base
from engine.db import CanonicalJSON
from engine.db import str_64
from engine.errors import IntegrityError

GENESIS_HASH = "0" * 64


class Event(Base):
    """One command that changed something. Never updated, never deleted.

    Events form one chain per ``stream`` (``instance:<id>`` for an instance,
    ``system`` for deployments and administration): ``hash`` covers the row's
    content and ``prev_hash``; ``(stream, seq)`` is unique, so two writers can
    never both append the same link.
    """

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("stream", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int]
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_instances.id"), index=True)
    #: started, task_claimed, task_released, task_completed, message_received, timer_fired, deployed, ...
    kind: Mapped[str] = mapped_column(String(40), index=True)
    #: username (or ``system`` / ``job:<name>``)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    actor_role: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[datetime]
    definition_hash: Mapped[str | None] = mapped_column(String(64))
    task_id: Mapped[str | None] = mapped_column(String(36))
    bpmn_id: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[Any] = mapped_column(CanonicalJSON(), nullable=True)
    prev_hash: Mapped[str_64]
    hash: Mapped[str_64] = mapped_column(unique=True)


@event.listens_for(Event, "before_update")
def _refuse_update(*_args: Any) -> None:
    raise IntegrityError("事件日志只能追加，不能修改", code="event_log_append_only")


@event.listens_for(Event, "before_delete")
def _refuse_delete(*_args: Any) -> None:
    raise IntegrityError("事件日志只能追加，不能删除", code="event_log_append_only")
