"""The one place that drives SpiffWorkflow: create, load, run, inspect and save workflows.

Instance state is the serializer's JSON *without* the spec: the spec is stored once
per definition and restored once per thread (then cached), which is what keeps the
per-step cost flat (see BENCHMARKS.md).
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from engine.clock import Clock
from engine.errors import HeduiError
from engine.errors import ScriptError
from engine.errors import WorkflowError
from engine.runtime.clocking import clock_scope
from engine.runtime.dumping import dump_json
from engine.runtime.sandbox import build_script_engine
from engine.runtime.tree import HeduiBpmnWorkflow

logger = logging.getLogger(__name__)

_SPEC_CACHE_SIZE = 64
#: committed workflows kept in memory so the next command on a case skips deserializing it
_SAVED_WORKFLOWS = 256

#: ``(start, working_days) -> due datetime``: the calendar of the unit of work
DeadlineFn = Callable[[datetime, int], datetime]
_current_deadline: contextvars.ContextVar[DeadlineFn | None] = contextvars.ContextVar("hedui_deadline", default=None)


def _add_working_days(start: str, days: int) -> str:
    """Script function: the end of the ``days``-th working day after ``start`` (ISO, with time zone).

    Counting starts the day after ``start`` (Civil Code art. 201); the calendar is the
    application's working-day table, so a year without calendar data is an error.
    """
    deadline = _current_deadline.get()
    if deadline is None:
        raise ScriptError("工作日历未配置，无法计算工作日期限", code="calendar_unavailable")
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ScriptError("工作日数须为正整数", code="invalid_working_days")
    when = datetime.fromisoformat(start)
    if when.tzinfo is None:
        raise ScriptError("起算时间须带时区", code="naive_datetime")
    return deadline(when, days).isoformat()


#: a serialized spec, or a callable that fetches it (so a cached spec costs no database read)
SpecSource = str | Callable[[], str]


def _text(source: SpecSource) -> str:
    return source if isinstance(source, str) else source()


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]  # SpiffWorkflow ships no types
    """Serialize a top-level workflow without ``spec``/``subprocess_specs`` (stored per definition)."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


class _HeduiWorkflowConverter(_SpeclessWorkflowConverter):
    """Restore top-level workflows as :class:`HeduiBpmnWorkflow`, stored under the stock type name."""

    def __init__(self, target_class: type, registry: Any, typename: str | None = None) -> None:
        super().__init__(target_class, registry, typename or BpmnWorkflow.__name__)


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _SpeclessWorkflowConverter
    # registered last, so restoring "BpmnWorkflow" builds the subclass; both classes serialize alike
    config[HeduiBpmnWorkflow] = _HeduiWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    # notes P8: date and Decimal fail at save time unless registered
    registry.register(date, lambda d: {"value": d.isoformat()}, lambda d: date.fromisoformat(d["value"]))
    registry.register(Decimal, lambda d: {"value": str(d)}, lambda d: Decimal(d["value"]))
    return BpmnWorkflowSerializer(registry)


@dataclass(frozen=True)
class DefinitionInfo:
    """The immutable facts about a deployed definition the engine needs on every step."""

    content_hash: str
    has_timers: bool
    has_messages: bool
    #: user-task id -> Chinese name, for messages
    task_names: Mapping[str, str]
    #: the data variable holding the instance's own deadline (process property ``instanceDueVariable``)
    due_variable: str | None = None


class BpmnRuntime:
    """Owns the serializer, the sandboxed script engine and the spec cache.

    Build one per application (``web.create_app``) and pass it in. Workflows are
    never shared between threads; every thread gets its own script engine and spec cache.
    """

    #: the class of new workflows (restored ones come from the serializer's registry)
    workflow_class: type[BpmnWorkflow] = HeduiBpmnWorkflow
    #: compare every incremental dump with a full one (tests; doubles the cost of a dump)
    verify_dumps = False

    def __init__(
        self,
        clock: Clock,
        *,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        script_time_limit: float = 2.0,
    ) -> None:
        self.clock = clock
        self._functions: dict[str, Callable[..., Any]] = {
            "now": lambda: self.clock.now().isoformat(),
            "add_working_days": _add_working_days,
            **dict(functions or {}),
        }
        self._time_limit = script_time_limit
        self._local = threading.local()
        self._definitions: dict[int, DefinitionInfo] = {}
        self._saved: OrderedDict[int, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._saved_lock = threading.Lock()
        self.saved_limit = _SAVED_WORKFLOWS

    def definition_info(self, definition_id: int, fetch: Callable[[], DefinitionInfo]) -> DefinitionInfo:
        info = self._definitions.get(definition_id)
        if info is None:
            info = self._definitions[definition_id] = fetch()
        return info

    def take_cached(self, instance_id: int, version: int) -> Workflow | None:
        """Take (exclusively) the workflow this process committed last for an instance at ``version``."""
        with self._saved_lock:
            entry = self._saved.pop(instance_id, None)
        if entry is None or entry[0] != version:
            return None
        wf = entry[1]
        wf.script_engine = self._state().script_engine  # this thread's engine
        return Workflow(self, wf)

    def put_cached(self, instance_id: int, version: int, workflow: Workflow) -> None:
        """Keep a committed workflow for the next command (bounded, least recently used first out)."""
        if self.saved_limit <= 0:
            return
        with self._saved_lock:
            self._saved[instance_id] = (version, workflow.wf)
            self._saved.move_to_end(instance_id)
            while len(self._saved) > self.saved_limit:
                self._saved.popitem(last=False)

    @property
    def serializer_version(self) -> str:
        version: str = self._state().serializer.VERSION
        return version

    def _state(self) -> Any:
        local = self._local
        if not hasattr(local, "serializer"):
            local.serializer = _make_serializer()
            local.script_engine = build_script_engine(self._functions, time_limit=self._time_limit)
            local.specs = OrderedDict()
        return local

    def _specs(self, definition_key: str, spec_source: SpecSource) -> tuple[Any, dict[str, Any]]:
        state = self._state()
        cached: tuple[Any, dict[str, Any]] | None = state.specs.get(definition_key)
        if cached is not None:
            state.specs.move_to_end(definition_key)
            return cached
        body = json.loads(_text(spec_source))
        registry = state.serializer.registry
        spec = registry.restore(body["spec"])
        subprocess_specs = {k: registry.restore(v) for k, v in body["subprocess_specs"].items()}
        state.specs[definition_key] = (spec, subprocess_specs)
        if len(state.specs) > _SPEC_CACHE_SIZE:
            state.specs.popitem(last=False)
        return spec, subprocess_specs

    def new_workflow(
        self,
        definition_key: str,
        spec_source: SpecSource,
        data: Mapping[str, Any] | None = None,
        *,
        deadline: DeadlineFn | None = None,
    ) -> Workflow:
        """Create a workflow for a definition, seeded with ``data``, without running it yet.

        :param spec_source: the definition's serialized spec, or a callable returning it
            (only called when the spec is not cached yet).
        """
        spec, subprocess_specs = self._specs(definition_key, spec_source)
        state = self._state()
        with self._guard():
            wf = self.workflow_class(spec, subprocess_specs, script_engine=state.script_engine)
            if data:
                wf.task_tree.data.update(dict(data))
                for task in wf.task_tree.children:
                    task.data.update(dict(data))
        return Workflow(self, wf, deadline)

    def load(
        self,
        definition_key: str,
        spec_source: SpecSource,
        state_json: str,
        serializer_version: str,
        *,
        deadline: DeadlineFn | None = None,
    ) -> Workflow:
        """Restore a saved workflow against its (cached) definition spec."""
        local = self._state()
        serializer = local.serializer
        dct = json.loads(state_json)
        dct.pop(serializer.VERSION_KEY, None)
        with self._guard():
            if serializer_version != serializer.VERSION:
                dct.update(json.loads(_text(spec_source)))
                dct[serializer.VERSION_KEY] = serializer_version
                serializer.migrate(dct)
                wf = serializer.from_dict(dct)
            else:
                spec, subprocess_specs = self._specs(definition_key, spec_source)
                dct["spec"], dct["subprocess_specs"] = spec, subprocess_specs
                wf = serializer.from_dict(dct)
        wf.script_engine = local.script_engine
        return Workflow(self, wf, deadline)

    def dump(self, workflow: Workflow) -> str:
        """Serialize a workflow's state (without its spec).

        With the workflow cache on, the workflow object lives on after the save, so finished tasks'
        JSON is kept on it and reused by the next dump (``engine.runtime.dumping``; same text).
        """
        serializer, wf = self._state().serializer, workflow.wf
        with self._guard():
            if not isinstance(wf, HeduiBpmnWorkflow) or self.saved_limit <= 0:
                # without the workflow cache the object is dropped after this save: nothing to reuse
                text: str = serializer.serialize_json(wf)
                return text
            text = dump_json(serializer, wf, wf.fragments)
            if self.verify_dumps and text != serializer.serialize_json(wf):
                raise AssertionError("incremental dump differs from a full dump")
            return text

    @contextmanager
    def _guard(self, task: Any = None, deadline: DeadlineFn | None = None) -> Iterator[None]:
        """Run engine code under the engine clock and calendar; no SpiffWorkflow exception escapes."""
        token = _current_deadline.set(deadline)
        try:
            with clock_scope(self.clock):
                yield
        except HeduiError:
            raise
        except SpiffWorkflowException as exc:
            raise _map_exception(exc) from exc
        finally:
            _current_deadline.reset(token)


def _map_exception(exc: SpiffWorkflowException) -> HeduiError:
    cause: BaseException | None = exc
    while cause is not None:
        # our own errors raised inside scripts (sandbox refusals, timeouts, a missing calendar
        # year from add_working_days ...) keep their code through SpiffWorkflow's wrapping
        if isinstance(cause, HeduiError):
            return cause
        cause = cause.__cause__ or getattr(cause, "exception", None) or cause.__context__
    task = getattr(exc, "task", None)
    bpmn_id = getattr(getattr(task, "task_spec", None), "bpmn_id", None)
    logger.warning("workflow engine error at %s: %s", bpmn_id, exc.__class__.__name__)
    return WorkflowError(
        f"流程引擎执行出错（{bpmn_id or '未知步骤'}）: {exc}",
        task_id=str(task.id) if task is not None else None,
        bpmn_id=bpmn_id,
    )


from engine.runtime.workflow import Workflow  # noqa: E402  (Workflow refers back to BpmnRuntime)
