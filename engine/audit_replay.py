"""Replay a case: re-execute its recorded commands against its pinned definition, compare with what is stored.

The event log is the command log (DESIGN "History"). A replay starts a fresh workflow from the
``started`` event and re-executes every ``task_completed``, ``message_received`` and ``timer_fired``
event in order, with a :class:`~engine.clock.FixedClock` set to the time each one happened (the
engine's clock, so timers and ``now()`` see what they saw then) and the working-day deadlines the
command recorded (``engine.deadlines``; older events: the calendar as it is now).

A ``migrated`` event (``engine.services.instance_migration``) moves the replay onto the target
definition it names and applies the same migration there (same clock, same pinned deadlines), so
the events before it are checked against the version the case ran on then, those after against
the target.

Task ids are uuid4 and differ between runs (notes §h, 4.3), so recorded commands are mapped onto
the replay by what is stable: a user task by its BPMN id, a message by its name and correlation
key, a timer by its BPMN id and due time. States are compared the same way (the path of finished
elements, open user tasks, waiting timers and messages, and the data), never by task id.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine.audit_results import REPLAYED_KINDS
from engine.audit_results import Divergence
from engine.audit_results import ReplayResult
from engine.audit_results import ReplayStep
from engine.audit_snapshot import MISSING as _MISSING
from engine.audit_snapshot import canonical_json as _json
from engine.audit_snapshot import differences
from engine.audit_snapshot import flatten as _flatten
from engine.audit_snapshot import plain as _plain
from engine.audit_snapshot import snapshot
from engine.calendar import WorkingCalendar
from engine.clock import FixedClock
from engine.context import EngineContext
from engine.deadlines import PinnedDeadlines
from engine.deadlines import recorded
from engine.errors import HeduiError
from engine.errors import NotFoundError
from engine.history import instance_stream
from engine.models import Event
from engine.models import ProcessDefinition
from engine.models import WorkflowInstance
from engine.persistence import spec_loader
from engine.runtime import BpmnRuntime
from engine.runtime import Workflow
from engine.runtime.core import DeadlineFn
from engine.runtime.migration import migrate

logger = logging.getLogger(__name__)

class _DivergedError(Exception):
    def __init__(self, divergence: Divergence) -> None:
        super().__init__(divergence.message)
        self.divergence = divergence


# --- the replay runtime ------------------------------------------------------------------------------------

_local = threading.local()


def _replay_runtime(ctx: EngineContext) -> tuple[BpmnRuntime, FixedClock]:
    """A runtime of our own whose clock we set per event, cached per thread and per live runtime.

    It mirrors the live runtime's script helpers and time limit; ``now`` and ``add_working_days``
    are rebuilt by the constructor around the replay clock.
    """
    cached = getattr(_local, "entry", None)
    if cached is not None and cached[0]() is ctx.runtime:
        return cached[1], cached[2]
    clock = FixedClock(ctx.now())
    # BpmnRuntime has no public "same runtime, other clock" constructor; read what it was built with
    functions = {k: v for k, v in getattr(ctx.runtime, "_functions", {}).items()
                 if k not in ("now", "add_working_days")}
    runtime = BpmnRuntime(clock, functions=functions, script_time_limit=getattr(ctx.runtime, "_time_limit", 2.0))
    runtime.saved_limit = 0
    _local.entry = (weakref.ref(ctx.runtime), runtime, clock)
    return runtime, clock


def deadline_for(ctx: EngineContext) -> DeadlineFn:
    """The working-day calendar the live engine uses (``web.state`` passes it as ``ctx.deadline``)."""
    return ctx.deadline if ctx.deadline is not None else WorkingCalendar(ctx.session).deadline


# --- the replay itself -------------------------------------------------------------------------------------


@dataclass
class _Case:
    """What a replay needs about one instance, read once."""

    instance: WorkflowInstance
    definition_hash: str
    spec: Callable[[], str]
    events: list[Event]
    default_key: str

    def spec_of(self, session: Any, content_hash: str) -> Callable[[], str]:
        """The serialized spec of another definition (a migration's source or target), by its hash."""
        if content_hash == self.definition_hash:
            return self.spec
        return lambda: session.execute(select(ProcessDefinition.serialized_spec)
                                       .where(ProcessDefinition.content_hash == content_hash)).scalar_one()

    @property
    def first_hash(self) -> str:
        """The definition the case started on: the source of its first migration, else its pinned one."""
        migrated = [e for e in self.events if e.kind == "migrated" and isinstance(e.payload, dict)]
        return str(migrated[0].payload.get("from_hash")) if migrated else self.definition_hash


def load_case(ctx: EngineContext, instance_id: int) -> _Case:
    instance = ctx.session.get(WorkflowInstance, instance_id)
    if instance is None:
        raise NotFoundError("案件不存在", instance_id=instance_id)
    definition_hash = ctx.session.execute(
        select(ProcessDefinition.content_hash).where(ProcessDefinition.id == instance.definition_id)
    ).scalar_one()
    events = list(ctx.session.execute(
        select(Event).where(Event.stream == instance_stream(instance_id)).order_by(Event.seq)
    ).scalars())
    definition_id = instance.definition_id
    return _Case(instance, definition_hash, lambda: spec_loader(ctx.session, definition_id), events,
                 instance.business_key or f"instance:{instance_id}")


class Replayer:
    """Re-executes one case's events step by step (``run``), then compares with the stored state."""

    def __init__(self, ctx: EngineContext, case: _Case, deadline: DeadlineFn, *, keep_snapshots: bool) -> None:
        self.ctx, self.case = ctx, case
        #: the calendar, overridden per event by the deadlines the live command pinned (engine.deadlines)
        self.deadline = PinnedDeadlines(deadline)
        self.runtime, self.clock = _replay_runtime(ctx)
        self.keep_snapshots = keep_snapshots
        self.wf: Workflow | None = None
        #: the definition the replay runs on now (switched by each ``migrated`` event)
        self.definition_hash = case.first_hash
        self.steps: list[ReplayStep] = []
        self.applied: list[Event] = []
        self.notes: list[str] = []
        #: recorded ids of the tasks completed so far
        self._completed: set[str] = set()
        self._stored_wf: Workflow | None = None
        #: timers the last sweep fired, not yet matched to their events: ``(bpmn_id, due_at, fired_at)``
        self._fired: list[tuple[str, datetime, datetime]] = []

    # -- driving

    def run(self) -> Divergence | None:
        for event in self.case.events:
            if event.kind not in REPLAYED_KINDS:
                continue
            try:
                self._check_definition(event)
                self._apply(event)
            except _DivergedError as diverged:
                return diverged.divergence
            except HeduiError as exc:
                return self._divergence(event, "command", None, "命令可正常执行", exc.message,
                                        f"重放第 {event.seq} 号事件时流程引擎报错：{exc.message}")
            except Exception as exc:  # a tampered or malformed record must be reported, never abort an audit
                logger.warning("replaying event %s of instance %s failed", event.seq, self.case.instance.id,
                               exc_info=True)
                return self._divergence(event, "command", None, "命令可正常执行", exc.__class__.__name__,
                                        f"重放第 {event.seq} 号事件失败（{exc.__class__.__name__}），记录可能已损坏")
            self.applied.append(event)
            if self.keep_snapshots:
                assert self.wf is not None
                self.steps.append(ReplayStep(event.seq, event.kind, event.bpmn_id, event.actor, event.occurred_at,
                                             snapshot(self.wf, self.case.default_key)))
        if self.wf is None:
            return Divergence(None, None, None, "command", None, "started", None, "事件日志中没有案件启动事件")
        return None

    def _apply(self, event: Event) -> None:
        self.clock.set(event.occurred_at)
        self.deadline.recorded = recorded(event.payload)
        if event.kind == "started":
            self._start(event)
        elif self.wf is None:
            raise _DivergedError(self._divergence(event, "command", None, "started", None,
                                                  f"第 {event.seq} 号事件之前没有案件启动事件"))
        elif event.kind == "task_completed":
            self._complete(event)
        elif event.kind == "message_received":
            self._message(event)
        elif event.kind == "migrated":
            self._migrate(event)
        else:
            self._timer(event)

    def _check_definition(self, event: Event) -> None:
        expected: str | None = self.definition_hash
        if event.kind == "migrated":
            payload = event.payload if isinstance(event.payload, dict) else {}
            expected, found = payload.get("to_hash"), payload.get("from_hash")
            if found != self.definition_hash:
                raise _DivergedError(self._divergence(
                    event, "definition", None, self.definition_hash, found,
                    f"第 {event.seq} 号迁移事件记录的原版本与案件当时运行的版本不同"))
        if event.definition_hash is not None and event.definition_hash != expected:
            raise _DivergedError(self._divergence(
                event, "definition", None, expected, event.definition_hash,
                f"第 {event.seq} 号事件记录的流程版本与案件锁定的版本不同"))

    def _start(self, event: Event) -> None:
        payload = event.payload or {}
        if self.wf is not None or payload.get("process_id") != self.case.instance.process_id:
            raise _DivergedError(self._divergence(event, "command", None, self.case.instance.process_id,
                                                  payload.get("process_id"), f"第 {event.seq} 号启动事件与案件不符"))
        self.wf = self.runtime.new_workflow(self.definition_hash,
                                            self.case.spec_of(self.ctx.session, self.definition_hash),
                                            payload.get("data") or {}, deadline=self.deadline)
        self.wf.run_engine_steps()

    def _migrate(self, event: Event) -> None:
        """Apply the recorded migration (the definition check already matched its source and target)."""
        assert self.wf is not None
        target = str((event.payload or {}).get("to_hash"))
        migrate(self.wf, target, self.case.spec_of(self.ctx.session, target))
        self.definition_hash = target

    def _complete(self, event: Event) -> None:
        assert self.wf is not None
        task_id = self._task_for(event)
        self.wf.complete_task(task_id, (event.payload or {}).get("data") or {})

    def _message(self, event: Event) -> None:
        assert self.wf is not None
        payload = event.payload or {}
        name, key = payload.get("message_name"), payload.get("correlation_key")
        waiting = [m for m in self.wf.waiting_messages() if m.message_name == name
                   and (m.correlation_key if m.correlation_key is not None else self.case.default_key) == key]
        if not waiting:
            raise _DivergedError(self._divergence(
                event, "command", None, {"message_name": name, "correlation_key": key},
                [m.message_name for m in self.wf.waiting_messages()],
                f"重放到第 {event.seq} 号事件时，流程并未在等待消息「{name}」（{key}）"))
        self.wf.deliver_message(waiting[0].task_id, str(name), payload.get("payload"))

    def _timer(self, event: Event) -> None:
        assert self.wf is not None
        payload = event.payload or {}
        due, fired_at = _parse(payload.get("due_at")), _parse(payload.get("fired_at")) or event.occurred_at
        before = [(t.bpmn_id, t.due_at) for t in self.wf.waiting_timers()]
        if (event.bpmn_id, due) in before:
            self.clock.set(fired_at)
            self.wf.run_engine_steps()
            after = [(t.bpmn_id, t.due_at) for t in self.wf.waiting_timers()]
            for item in after:
                if item in before:
                    before.remove(item)
            self._fired = [(b, d, fired_at) for b, d in before]
        already = [f for f in self._fired if f[0] == event.bpmn_id and f[1] == due and f[2] == fired_at]
        if not already:
            raise _DivergedError(self._divergence(
                event, "command", None, {"bpmn_id": event.bpmn_id, "due_at": payload.get("due_at")},
                [{"bpmn_id": b, "due_at": d.isoformat()} for b, d in before],
                f"重放到第 {event.seq} 号事件时，定时器 {event.bpmn_id}"
                f"（到期 {payload.get('due_at')}）未在等待或未触发"))
        self._fired.remove(already[0])

    # -- mapping recorded user tasks onto the replay

    def _task_for(self, event: Event) -> str:
        assert self.wf is not None
        recorded = event.task_id or ""
        candidates = [t.task_id for t in self.wf.ready_human_tasks() if t.bpmn_id == event.bpmn_id]
        if recorded in self._completed:  # the same task completed twice
            candidates = []
        if not candidates:
            open_now = sorted(t.bpmn_id for t in self.wf.ready_human_tasks())
            raise _DivergedError(self._divergence(
                event, "command", None, event.bpmn_id, open_now,
                f"重放到第 {event.seq} 号事件时，任务「{event.bpmn_id}」不是待办状态"
                f"（待办：{', '.join(open_now) or '无'}）"))
        self._completed.add(recorded)
        return self._closest(event, candidates) if len(candidates) > 1 else candidates[0]

    def _closest(self, event: Event, candidates: list[str]) -> str:
        """Several READY tasks share the BPMN id (multi-instance, parallel branches): which one was it?

        The event names the live task only by its uuid, which the replay does not have, so the
        recorded task's data in the stored state (e.g. its multi-instance item) picks the replay task
        with the same inputs; ties keep the order of creation (tree order).
        """
        wf = self.wf
        assert wf is not None
        submitted = set(((event.payload or {}).get("data") or {}).keys())
        try:
            recorded = _plain(self._stored().task_data(event.task_id or ""))
        except Exception:  # no hint available (task gone, state unreadable): keep creation order
            recorded = {}

        def score(task_id: str) -> int:
            data = _plain(wf.task_data(task_id))
            return sum(1 for k, v in data.items() if k not in submitted and recorded.get(k, _MISSING) == v)

        scores = [score(t) for t in candidates]
        best = max(scores)
        if scores.count(best) > 1:
            self.notes.append(f"event {event.seq}: {scores.count(best)} ready tasks {event.bpmn_id} with the same "
                              "inputs; took the first created")
        return candidates[scores.index(best)]

    def _stored(self) -> Workflow:
        if self._stored_wf is None:
            instance = self.case.instance
            self._stored_wf = self.runtime.load(self.case.definition_hash, self.case.spec, instance.state,
                                                instance.serializer_version, deadline=self.deadline)
        return self._stored_wf

    # -- comparing

    def compare(self) -> Divergence | None:
        """Compare the replayed final state with the stored one; blame the event that produced the first difference."""
        assert self.wf is not None
        replayed = self.steps[-1].state if self.steps else snapshot(self.wf, self.case.default_key)
        instance = self.case.instance
        try:
            stored = snapshot(self._stored(), self.case.default_key)
        except Exception as exc:  # a tampered blob can break the deserializer in any way
            logger.warning("stored state of instance %s unreadable: %s", instance.id, exc.__class__.__name__)
            last = self.applied[-1] if self.applied else None
            return Divergence(last.seq if last else None, last.kind if last else None, None, "state", None,
                              "可读取的流程状态", exc.__class__.__name__, "存储的流程状态无法读取（可能被篡改）")
        found = differences(replayed, stored)
        if not found:
            return None
        return self._blame(found)

    def _blame(self, found: list[tuple[str, str, Any, Any]]) -> Divergence:
        """The earliest step that produced one of the differences (needs the per-step snapshots)."""
        best: tuple[int, tuple[str, str, Any, Any]] | None = None
        for diff in found:
            step = self._step_of(diff)
            if best is None or step < best[0]:
                best = (step, diff)
        assert best is not None
        index, (aspect, path, expected, actual) = best
        event = self.applied[index]
        where = f"{event.kind} {event.bpmn_id}" if event.bpmn_id else event.kind
        message = (f"第 {event.seq} 号事件（{where}）之后：{_ASPECT_NAMES.get(aspect, aspect)} {path} "
                   f"按事件日志重放为 {_json(expected)}，存储状态中为 {_json(actual)}")
        return self._divergence(event, aspect, path, expected, actual, message)

    def _step_of(self, diff: tuple[str, str, Any, Any]) -> int:
        """Index of the step whose re-execution produced the replayed side of ``diff`` (last step if none)."""
        last = len(self.steps) - 1
        if not self.steps:
            return max(len(self.applied) - 1, 0)
        aspect, path = diff[0], diff[1]
        if aspect == "completed":
            # "not finished yet" holds from the first step on: a stored state further on than the log
            # (a cut-off tail, a forged finish) is explained by nothing after the last recorded step
            return last
        if aspect == "trace":
            position = int(path[len("trace["):-1])
            return next((i for i, s in enumerate(self.steps) if len(s.state["trace"]) > position), last)
        values = [_flatten(s.state).get(path, _MISSING) for s in self.steps]
        changed = [i for i in range(len(values)) if values[i] != (values[i - 1] if i else _MISSING)]
        return changed[-1] if changed else last

    def _divergence(self, event: Event, aspect: str, path: str | None, expected: Any, actual: Any,
                    message: str) -> Divergence:
        return Divergence(event.seq, event.kind, event.bpmn_id, aspect, path, expected, actual, message)


_ASPECT_NAMES = {"trace": "已完成步骤", "completed": "办结状态", "open_tasks": "待办任务", "timers": "等待中的定时器",
                 "messages": "等待中的消息", "waiting": "等待中任务的数据", "data": "流程数据"}


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def replay_case(ctx: EngineContext, case: _Case, deadline: DeadlineFn, *, steps: bool = False) -> ReplayResult:
    """Replay one loaded case; on an inconsistency, replay again step by step to find the first divergence."""
    replayer = Replayer(ctx, case, deadline, keep_snapshots=steps)
    divergence = replayer.run() or replayer.compare()
    if divergence is not None and not steps and divergence.aspect not in ("command", "definition", "state"):
        # localizing needs the state after every step: only paid for when something is wrong
        replayer = Replayer(ctx, case, deadline, keep_snapshots=True)
        divergence = replayer.run() or replayer.compare()
    return ReplayResult(case.instance.id, case.instance.business_key, divergence is None, len(replayer.applied),
                        divergence, replayer.steps if steps else [], replayer.notes)
