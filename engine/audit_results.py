"""What a replay reports: where it parted from the record, the state after each step, the result.

Split from :mod:`engine.audit_replay` (which re-exports these names) so that the replay logic
stays one readable module; the result types are what the audit pages, the API and
``hedui audit replay`` read.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

#: the kinds that re-execute a command; every other kind (claims, refusals, notices ...) leaves the workflow alone
REPLAYED_KINDS = frozenset({"started", "task_completed", "message_received", "timer_fired", "migrated"})


@dataclass(frozen=True)
class Divergence:
    """Where the replay first parted from the record: the event, what the log implies and what was found.

    ``expected`` is what re-executing the event log gives, ``actual`` what the engine or the
    stored state shows instead. ``seq`` is None when no event can be blamed.
    """

    seq: int | None
    kind: str | None
    bpmn_id: str | None
    #: command, definition, state, trace, completed, open_tasks, timers, messages, waiting, data
    aspect: str
    path: str | None
    expected: Any
    actual: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "bpmn_id": self.bpmn_id, "aspect": self.aspect,
                "path": self.path, "expected": self.expected, "actual": self.actual, "message": self.message}


@dataclass(frozen=True)
class ReplayStep:
    """The replayed state right after one re-executed event."""

    seq: int
    kind: str
    bpmn_id: str | None
    actor: str
    occurred_at: datetime
    state: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "bpmn_id": self.bpmn_id, "actor": self.actor,
                "occurred_at": self.occurred_at.isoformat(), "state": self.state}


@dataclass
class ReplayResult:
    instance_id: int
    business_key: str | None
    consistent: bool
    #: events re-executed (kinds in :data:`REPLAYED_KINDS`)
    steps: int
    first_divergence: Divergence | None = None
    #: per re-executed event, only with ``steps=True``
    snapshots: list[ReplayStep] = field(default_factory=list)
    #: ambiguities met while mapping recorded tasks onto the replay (English, for operators)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"consistent": self.consistent, "steps": self.steps,
                "first_divergence": self.first_divergence.to_dict() if self.first_divergence else None}
