"""A loaded workflow: run it, complete tasks, deliver messages, and inspect what it waits for.

Every method runs under the engine clock and the unit of work's calendar, and maps engine
errors to Hedui's own (see ``BpmnRuntime._guard``). Part of the runtime boundary: this is
one of the few modules allowed to import SpiffWorkflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import WorkflowError
from engine.runtime.types import ReadyTask
from engine.runtime.types import TaskTrace
from engine.runtime.types import ThrownMessage
from engine.runtime.types import WaitingMessage
from engine.runtime.types import WaitingTimer

if TYPE_CHECKING:
    from engine.runtime.core import BpmnRuntime
    from engine.runtime.core import DeadlineFn

_MAX_ROUNDS = 1000
#: task states whose data is real (predicted tasks carry none yet)
_HAS_DATA = TaskState.COMPLETED | TaskState.READY | TaskState.WAITING | TaskState.STARTED


class Workflow:
    """A loaded workflow; every method runs under the engine clock and maps engine errors."""

    def __init__(self, runtime: BpmnRuntime, wf: BpmnWorkflow, deadline: DeadlineFn | None = None) -> None:
        self.runtime = runtime
        self.wf = wf
        self.deadline = deadline

    def _guard(self, task: Any = None) -> Any:
        return self.runtime._guard(task, self.deadline)

    # --- running ---------------------------------------------------------------------

    def run_engine_steps(self) -> None:
        """Run every non-human READY task, then refresh timers (fires the due ones)."""
        with self._guard():
            self._steps()

    def _steps(self) -> None:
        # do_engine_steps() refreshes timers only at its end, so a timer that fired there
        # leaves its event READY; run again until nothing automatic is left.
        for _ in range(_MAX_ROUNDS):
            self.wf.do_engine_steps()
            if not any(not t.task_spec.manual for t in self.wf.get_tasks(state=TaskState.READY)):
                return
        raise WorkflowError("流程在自动步骤中未能停止（可能存在无等待的循环）")

    def complete_task(self, task_id: str, data: Mapping[str, Any]) -> ReadyTask:
        """Complete a READY user task with validated form data, then run engine steps."""
        task = self._task(task_id)
        if task.state != TaskState.READY or not task.task_spec.manual:
            raise InvalidStateError("该任务已办结或当前不可办理", task_id=task_id)
        ready = _ready(task)
        with self._guard(task):
            task.data.update(dict(data))
            task.run()
            self._steps()
        return ready

    def deliver_message(self, task_id: str, message_name: str, payload: Any) -> None:
        """Deliver a message to the one waiting task it was correlated to."""
        task = self._task(task_id)
        event = BpmnEvent(MessageEventDefinition(message_name), payload=payload)
        with self._guard(task):
            if task.state != TaskState.WAITING or not task.task_spec.catches(task, event):
                raise InvalidStateError("该流程当前未在等待此消息", message_name=message_name)
            task.task_spec.catch(task, event)
            task.task_spec._update(task)
            self._steps()

    def _task(self, task_id: str) -> Any:
        try:
            task = self.wf.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError, SpiffWorkflowException):
            task = None
        if task is None:
            raise NotFoundError("任务不存在", task_id=task_id)
        return task

    # --- inspecting ------------------------------------------------------------------

    @property
    def is_completed(self) -> bool:
        return bool(self.wf.is_completed())

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.wf.data)

    def variable(self, name: str) -> Any:
        """A data variable as the top-level process holds it now (None when unset).

        Finished: the process data. Running: the top-level task whose data changed last among those
        that carry the variable (subprocesses work on copies and are not looked at).
        """
        if self.wf.is_completed() and name in self.wf.data:
            return self.wf.data[name]
        latest = None
        for task in self.wf.get_tasks_iterator(skip_subprocesses=True, state=_HAS_DATA):
            if name in task.data and (latest is None or task.last_state_change >= latest.last_state_change):
                latest = task
        return None if latest is None else latest.data[name]

    def evaluate(self, task_id: str, expression: str) -> Any:
        """Evaluate a diagram expression (sandboxed) against a task's data."""
        task = self._task(task_id)
        with self._guard(task):
            return self.wf.script_engine.evaluate(task, expression)

    def task_data(self, task_id: str) -> dict[str, Any]:
        return dict(self._task(task_id).data)

    def ready_human_tasks(self) -> list[ReadyTask]:
        return [_ready(t) for t in self.wf.get_tasks(state=TaskState.READY, manual=True)]

    def waiting_timers(self) -> list[WaitingTimer]:
        out = []
        for task in self.wf.event_manager.tasks.values():
            timers = [spec for spec, d in _catching_specs(task) if isinstance(d, TimerEventDefinition)]
            due = _due_at(task.internal_data.get("event_value")) if timers else None
            if due is not None:
                out.append(WaitingTimer(str(task.id), timers[0].bpmn_id, due))
        return out

    def timer_fired(self, task_id: str) -> bool:
        """Whether the timer a task waited for fired (not: the task finished some other way)."""
        try:
            task = self.wf.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError, SpiffWorkflowException):
            return False
        if task is None or task.state != TaskState.COMPLETED:
            return False
        if not isinstance(task.task_spec.event_definition, MultipleEventDefinition):
            return True
        timer_specs = {spec for spec, d in _catching_specs(task) if isinstance(d, TimerEventDefinition)}
        return any(child.task_spec in timer_specs for child in task.children)

    def waiting_messages(self) -> list[WaitingMessage]:
        out = []
        for task in self.wf.event_manager.tasks.values():
            for spec, definition in _catching_specs(task):
                if isinstance(definition, MessageEventDefinition):
                    key = self._correlation(task, spec)
                    out.append(WaitingMessage(str(task.id), spec.bpmn_id, definition.name, key))
        return out

    def _correlation(self, task: Any, spec: Any) -> str | None:
        expression = _props(spec).get("correlationKey")
        if not expression:
            return None
        with self._guard(task):
            value = self.wf.script_engine.evaluate(task, expression)
        return None if value is None else str(value)

    def drain_thrown_messages(self) -> list[ThrownMessage]:
        return [ThrownMessage(e.event_definition.name, e.payload) for e in self.wf.get_events()]

    def task_state(self, task_id: str) -> str | None:
        """The state name of a task (``COMPLETED``, ``CANCELLED`` ...), None if it no longer exists."""
        try:
            task = self.wf.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError, SpiffWorkflowException):
            return None
        return None if task is None else TaskState.get_name(task.state)

    def trace(self) -> list[TaskTrace]:
        """Finished tasks in completion order (bpmn ids are stable across replays, task ids are not)."""
        done = [t for t in self.wf.get_tasks(state=TaskState.FINISHED_MASK) if t.task_spec.bpmn_id]
        done.sort(key=lambda t: t.last_state_change)
        return [TaskTrace(t.task_spec.bpmn_id, TaskState.get_name(t.state), t.workflow.spec.name) for t in done]


def _catching_specs(task: Any) -> list[tuple[Any, Any]]:
    """(spec, event definition) pairs a waiting task catches; an event-based gateway
    waits for the events of the catch events that follow it."""
    definition = task.task_spec.event_definition
    if not isinstance(definition, MultipleEventDefinition):
        return [(task.task_spec, definition)]
    outputs = task.task_spec.outputs
    if len(outputs) == len(definition.event_definitions):  # the gateway keeps them in output order
        return list(zip(outputs, definition.event_definitions, strict=True))
    return [(task.task_spec, d) for d in definition.event_definitions]


def _props(task_spec: Any) -> dict[str, str]:
    return dict((getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {})


def _ready(task: Any) -> ReadyTask:
    spec = task.task_spec
    return ReadyTask(
        task_id=str(task.id),
        bpmn_id=spec.bpmn_id,
        name=spec.bpmn_name or spec.bpmn_id,
        lane=spec.lane,
        process_id=task.workflow.spec.name,
        properties=_props(spec),
    )


def _due_at(value: Any) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("next")
    if not isinstance(value, str):
        return None
    try:
        when = TimerEventDefinition.get_datetime(value)
    except ValueError:
        return None
    # a plain datetime (not the clock-aware subclass the timer module now uses)
    return datetime.fromtimestamp(when.timestamp(), UTC)
