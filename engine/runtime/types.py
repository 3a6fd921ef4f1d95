"""Plain values the runtime hands to the rest of the engine (no SpiffWorkflow types)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

#: the XML namespaces of BPMN 2.0 and of SpiffWorkflow's extensions (parsing, call graph)
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"


@dataclass(frozen=True)
class DeployProblem:
    """One reason a deployment is refused, located in its file.

    ``code`` is stable and snake_case (the lint's error findings carry it; docs/process-design.md §7).
    """

    file: str
    message: str
    element_id: str | None = None
    line: int | None = None
    code: str = "definition_invalid"

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
        if self.element_id:
            where += f" [{self.element_id}]"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class UserTaskInfo:
    """A user task as declared in a diagram."""

    process_id: str
    bpmn_id: str
    name: str
    lane: str | None
    properties: dict[str, str]


@dataclass(frozen=True)
class ParsedProcess:
    """A process ready to store as a definition."""

    process_id: str
    name: str
    #: the files (names) this process was built from: its own, called processes', DMN
    files: tuple[str, ...]
    serialized_spec: str
    serializer_version: str
    user_tasks: tuple[UserTaskInfo, ...]
    #: whether any timer / message-catching event exists (else the engine skips those derived tables)
    has_timers: bool = True
    has_messages: bool = True
    #: the process-level ``spiffworkflow:properties`` (``instanceDueVariable``)
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReadyTask:
    """A READY user task in a loaded workflow."""

    task_id: str
    bpmn_id: str
    name: str
    lane: str | None
    process_id: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WaitingTimer:
    task_id: str
    bpmn_id: str
    due_at: datetime


@dataclass(frozen=True)
class WaitingMessage:
    task_id: str
    bpmn_id: str
    message_name: str
    #: from the catch event's ``correlationKey`` property, else None (use the business key)
    correlation_key: str | None


@dataclass(frozen=True)
class ThrownMessage:
    message_name: str
    payload: Any


@dataclass(frozen=True)
class TaskTrace:
    """A finished task, for history views and replay comparison."""

    bpmn_id: str
    state: str
    process_id: str
