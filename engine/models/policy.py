"""Policy overrides set by an administrator, and the record of overdue tasks escalated (PS-10, PS-11).

The two tables are small companions of :mod:`engine.policy` and :mod:`engine.escalation`.
Their history lives in the event log (``policy_override_set`` / ``policy_override_cleared``
on the system stream, ``task_overdue`` on the case's stream), not in these rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from engine.db import Base
from engine.db import CanonicalJSON


class PolicyOverride(Base):
    """The administrator's current value for one policy key; it replaces the profile's value."""

    __tablename__ = "policy_overrides"

    #: the policy key (one of ``engine.policy.SETTINGS``)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: the value as JSON text; JSON ``null`` is a real override (e.g. "no monthly windows")
    value: Mapped[Any] = mapped_column(CanonicalJSON(), nullable=True)
    #: username of the administrator who set it
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<PolicyOverride {self.key}={self.value!r}>"


class TaskEscalation(Base):
    """An open human task found past its due time and reported to a unit's supervisors (once)."""

    __tablename__ = "task_escalations"

    #: the overdue task; the primary key makes escalating one task twice impossible
    task_id: Mapped[str] = mapped_column(String(36), ForeignKey("human_tasks.id"), primary_key=True)
    escalated_at: Mapped[datetime]
    #: the unit whose supervisors were told (the unit holding the task)
    notified_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)

    def __repr__(self) -> str:
        return f"<TaskEscalation {self.task_id} -> unit {self.notified_unit_id}>"
