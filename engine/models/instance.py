"""Workflow instances and the derived rows written with them in one transaction."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from engine.db import Base
from engine.db import CanonicalJSON
from engine.db import str_100
from engine.db import str_255
from engine.db import str_enum
from engine.models.definition import ProcessDefinition


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    TERMINATED = "terminated"
    ERROR = "error"


class WorkflowInstance(Base):
    """One running (or finished) process instance, pinned to its definition."""

    __tablename__ = "workflow_instances"

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    #: the business key (e.g. the case number) external replies are correlated by
    business_key: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[InstanceStatus] = mapped_column(str_enum(InstanceStatus, 20), index=True)
    #: serialized workflow without its spec (TEXT, not a binary JSON type whose key order differs: notes P2)
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(16))
    #: optimistic lock; bumped by every save
    version: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    #: the instance's own deadline (PS-10: the case's statutory limit), copied on every save from the data
    #: variable the diagram names in its process property ``instanceDueVariable``; None when it names none
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    started_by: Mapped[str | None] = mapped_column(String(100))
    #: the verification agency that owns the case at this level (its agency-side lanes)
    agency_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    #: the unit that entrusted the case (its entrusting-side lanes)
    entrusting_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    #: the region the case belongs to, for jurisdiction
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)

    definition: Mapped[ProcessDefinition] = relationship()

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<WorkflowInstance {self.id} {self.process_id} {self.status.value}>"


class HumanTaskStatus(enum.StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class HumanTask(Base):
    """A user task as the inbox sees it; derived from the instance state after every run."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_human_tasks_open_role", "status", "role_code"),
        Index("ix_human_tasks_assignee_status", "assignee", "status"),
    )

    #: the SpiffWorkflow task id (uuid4 string)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instances.id"), index=True)
    bpmn_id: Mapped[str_100]
    name: Mapped[str_255]
    #: the lane name = role code of the candidates
    role_code: Mapped[str | None] = mapped_column(String(100))
    #: the unit whose holders of ``role_code`` are the candidates
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    form_key: Mapped[str | None] = mapped_column(String(100))
    #: the task's ``spiffworkflow:properties``
    properties: Mapped[dict[str, Any]] = mapped_column(CanonicalJSON(), default=dict)
    status: Mapped[HumanTaskStatus] = mapped_column(str_enum(HumanTaskStatus, 20))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    #: username of the claimant
    assignee: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(100))
    completed_at: Mapped[datetime | None]

    instance: Mapped[WorkflowInstance] = relationship()


class TimerStatus(enum.StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


class Timer(Base):
    """A waiting timer event; the due-timer sweep finds rows by ``(status, due_at)``."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_status_due_at", "status", "due_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instances.id"), index=True)
    bpmn_id: Mapped[str_100]
    due_at: Mapped[datetime]
    status: Mapped[TimerStatus] = mapped_column(str_enum(TimerStatus, 20))
    fired_at: Mapped[datetime | None]


class MessageSubscription(Base):
    """An instance waiting for a message; replies are correlated by ``(message_name, correlation_key)``."""

    __tablename__ = "message_subscriptions"
    __table_args__ = (
        UniqueConstraint("task_id", "message_name"),
        Index("ix_message_subscriptions_lookup", "message_name", "correlation_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instances.id"), index=True)
    #: the waiting SpiffWorkflow task
    task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str_100]
    message_name: Mapped[str_100]
    correlation_key: Mapped[str_255]
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    """An event thrown by an instance for the outside world, relayed after commit."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instances.id"), index=True)
    message_name: Mapped[str_100]
    payload: Mapped[Any] = mapped_column(CanonicalJSON(), nullable=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
