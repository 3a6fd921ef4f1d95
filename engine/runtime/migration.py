"""Move a running workflow onto another deployed version of its diagram (SpiffWorkflow's spec diff).

SpiffWorkflow 3.2 aligns the old and new specs by BPMN id (``SpiffWorkflow.bpmn.util.diff``), swaps
the specs of aligned tasks and resets every READY/WAITING task's branch, so what lies ahead is
predicted again from the new diagram. This module wraps that in plain Hedui values and adds the
compatibility rule Hedui applies before it lets a case move (docs/process-design.md):

A case is **blocked** when

* a task it is at now (READY, WAITING or STARTED: an open human task, claimed or not, a waiting
  timer or message, an event-based gateway, a running subprocess) no longer exists in the target,
  changed its kind (task type), its lane (role) or its form, or waits for another event
  (a message catch that now waits for another message, a timer turned into a message ...);
* a task it already finished, or one already predicted after a running subprocess, no longer exists
  in the target: the stored state names its step, and the target definition could not restore it;
* a running subprocess' diagram is missing from the target, or a task is in the ERROR state.

A subprocess that has **finished** (a call activity's called process, an embedded subprocess,
whose task in the caller is done) is history of the caller: its outcome is in the caller's data.
When the target's diagram of it lacks one of its steps (or the diagram is gone), the case is not
blocked: the finished subprocess' task tree is dropped from the state (its steps stay in the event
log and the task rows) instead of being carried onto a diagram that cannot hold it.

Everything else is compatible: changed attributes of finished tasks are history; READY tasks are
re-predicted, so future steps follow the new diagram, but keep their data (a multi-instance child
its item); a waiting timer whose timer definition is unchanged keeps its due time (SpiffWorkflow's
reset would compute it anew), one whose definition changed is computed anew under the engine clock
at the time of the migration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.util.diff import SpecDiff
from SpiffWorkflow.bpmn.util.diff import diff_workflow
from SpiffWorkflow.bpmn.util.diff import migrate_workflow
from SpiffWorkflow.util.task import TaskState

from engine.errors import InvalidStateError
from engine.errors import WorkflowError

if TYPE_CHECKING:
    from engine.runtime.core import BpmnRuntime
    from engine.runtime.core import SpecSource
    from engine.runtime.workflow import Workflow

#: where a case "is": the tasks a migration has to carry over
_CURRENT = TaskState.READY | TaskState.WAITING | TaskState.STARTED
#: the tasks SpiffWorkflow's migration resets and predicts again from the new spec
_RESET = TaskState.READY | TaskState.WAITING


@dataclass(frozen=True)
class SpecChange:
    """One task of the diagram (or of a subprocess diagram) added, removed or changed in the target."""

    process_id: str
    bpmn_id: str
    name: str
    #: added | removed | changed
    change: str
    #: for ``changed``: the spec attributes that differ (``outputs``, ``extensions``, ``bpmn_name`` ...)
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CurrentTask:
    """A task the case is at now (no task id: it is shown, not acted on)."""

    bpmn_id: str
    name: str
    #: READY | WAITING | STARTED
    state: str


@dataclass(frozen=True)
class Blocker:
    """Why a case cannot move: the task and a reason code (``engine.services.instance_migration`` words it)."""

    bpmn_id: str
    name: str
    state: str
    #: removed | kind_changed | lane_changed | form_changed | event_changed | history_removed |
    #: pending_removed | subprocess_removed | error
    reason: str


@dataclass(frozen=True)
class MigrationCheck:
    """Whether a loaded workflow can move to the target, and what it is at now."""

    current: tuple[CurrentTask, ...]
    blockers: tuple[Blocker, ...]
    #: waiting timers whose timer definition changed: their due time is computed anew
    retimed: tuple[str, ...] = ()
    #: finished subprocesses / called processes whose tree the migration drops (the target lacks one of
    #: their steps), by the name of the element that ran them
    dropped: tuple[str, ...] = ()

    @property
    def compatible(self) -> bool:
        return not self.blockers


# --- spec level ---------------------------------------------------------------------------------------


def diff_specs(runtime: BpmnRuntime, from_key: str, from_source: SpecSource, to_key: str,
               to_source: SpecSource) -> list[SpecChange]:
    """The tasks added, removed and changed between two definitions (their subprocess diagrams included)."""
    old, old_deps = runtime._specs(from_key, from_source)
    new, new_deps = runtime._specs(to_key, to_source)
    registry = runtime._state().serializer.registry
    out = _changes(SpecDiff(registry, old, new), old.name)
    for name, spec in old_deps.items():
        if name in new_deps:
            out += _changes(SpecDiff(registry, spec, new_deps[name]), name)
        else:
            out += [SpecChange(name, s.bpmn_id, _name(s), "removed") for s in _named(spec.task_specs.values())]
    for name in sorted(set(new_deps) - set(old_deps)):
        out += [SpecChange(name, s.bpmn_id, _name(s), "added") for s in _named(new_deps[name].task_specs.values())]
    return out


def _changes(diff: SpecDiff, process_id: str) -> list[SpecChange]:
    out = [SpecChange(process_id, s.bpmn_id, _name(s), "added") for s in _named(diff.added)]
    out += [SpecChange(process_id, s.bpmn_id, _name(s), "removed") for s in _named(diff.removed)]
    out += [SpecChange(process_id, s.bpmn_id, _name(s), "changed", tuple(sorted(attrs)))
            for s, attrs in diff.changed.items() if s.bpmn_id]
    return sorted(out, key=lambda c: (c.change, c.bpmn_id))


def _named(specs: Iterable[Any]) -> list[Any]:
    """Only the diagram's own elements (SpiffWorkflow adds internal specs without a BPMN id)."""
    return [s for s in specs if getattr(s, "bpmn_id", None)]


def _name(spec: Any) -> str:
    if isinstance(spec, LoopTask) and not getattr(spec, "bpmn_name", None):
        child = getattr(spec, "_wf_spec", None) and spec._wf_spec.task_specs.get(spec.task_spec)
        if child is not None:  # a multi-instance task is named by its instances' spec
            return _name(child)
    return str(getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or spec.name)


# --- instance level -----------------------------------------------------------------------------------


def check_migration(workflow: Workflow, to_key: str, to_source: SpecSource) -> MigrationCheck:
    """Apply the compatibility rule (module docstring) to a loaded workflow; changes nothing."""
    new, new_deps = workflow.runtime._specs(to_key, to_source)
    registry = workflow.runtime._state().serializer.registry
    with workflow._guard():
        top, subs = diff_workflow(registry, workflow.wf, new, new_deps)
        return _check(workflow.wf, top, subs, _Same(registry), _droppable(workflow.wf, subs))


def migrate(workflow: Workflow, to_key: str, to_source: SpecSource) -> MigrationCheck:
    """Move a workflow onto the target spec, then run its engine steps (the caller saves it).

    :raises InvalidStateError: the workflow is not compatible (nothing was changed).
    :raises WorkflowError: the migrated tree still names a step the target lacks (nothing is saved).
    """
    runtime, wf = workflow.runtime, workflow.wf
    new, new_deps = runtime._specs(to_key, to_source)
    registry = runtime._state().serializer.registry
    with workflow._guard():
        top, subs = diff_workflow(registry, wf, new, new_deps)
        same = _Same(registry)
        finished = _droppable(wf, subs)
        check = _check(wf, top, subs, same, finished)
        if not check.compatible:
            raise InvalidStateError("该案件当前状态与新版本不兼容，不能迁移", code="migration_blocked")
        for subprocess in finished:
            if subprocess.parent_task_id in wf.subprocesses:  # else gone with the one it was nested in
                wf.delete_subprocess(wf.get_task_from_id(subprocess.parent_task_id))
        kept = _reset_tasks(wf, top, subs, same)
        migrate_workflow(top, wf, new, reset_mask=_RESET)
        for sp_id, sp_diff in subs.items():
            subprocess = wf.subprocesses.get(sp_id)
            if subprocess is not None and sp_diff is not None:
                migrate_workflow(sp_diff, subprocess, new_deps[subprocess.spec.name], reset_mask=_RESET)
        wf.subprocess_specs = new_deps
        _restore(kept)
        _assert_restorable(wf, new, new_deps)
        fragments = getattr(wf, "fragments", None)
        if fragments is not None:
            fragments.entries.clear()  # cached task texts name the old specs (engine.runtime.dumping)
    workflow.run_engine_steps()
    return check


def _workflows(wf: Any, top: Any, subs: dict[Any, Any]) -> list[tuple[Any, Any]]:
    """(workflow, its diff) for the top level and every subprocess (diff None: diagram missing)."""
    return [(wf, top)] + [(wf.subprocesses[sp_id], d) for sp_id, d in subs.items() if sp_id in wf.subprocesses]


def _droppable(wf: Any, subs: dict[Any, Any]) -> list[Any]:
    """Finished subprocesses the target cannot hold (diagram gone or a step removed), outermost first."""
    out: list[Any] = []
    for sp_id, diff in subs.items():
        subprocess, parent = wf.subprocesses.get(sp_id), wf.get_task_from_id(sp_id)
        if subprocess is None or parent is None or not parent.has_state(TaskState.FINISHED_MASK):
            continue
        if diff is None or any(diff.alignment.get(t) is None for t in subprocess.tasks.values()):
            out.append(subprocess)
    return sorted(out, key=lambda sp: sp.depth)


class _Same:
    """Compares event definitions by their serialized form (what the stored spec holds)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def __call__(self, old: Any, new: Any) -> bool:
        if old is None or new is None:
            return old is new
        return bool(type(old) is type(new) and self.registry.convert(old) == self.registry.convert(new))


def _check(wf: Any, top: Any, subs: dict[Any, Any], same: _Same, finished: list[Any]) -> MigrationCheck:
    """:param finished: the finished subprocesses the migration drops (:func:`_droppable`): never blockers."""
    current: list[CurrentTask] = []
    blockers: list[Blocker] = []
    internal: list[Blocker] = []
    retimed: list[str] = []
    for workflow, diff in _workflows(wf, top, subs):
        if workflow in finished:
            continue
        if diff is None:
            spec = workflow.spec
            blockers.append(Blocker(spec.name, _name(spec), "STARTED", "subprocess_removed"))
            continue
        reset = [t for t in workflow.get_tasks(state=_RESET, skip_subprocesses=True)]
        for task in workflow.get_tasks(skip_subprocesses=True):
            found = _task_blockers(task, diff, reset, retimed, same)
            (blockers if task.task_spec.bpmn_id else internal).extend(found)
            if task.has_state(_CURRENT) and task.task_spec.bpmn_id:
                current.append(CurrentTask(task.task_spec.bpmn_id, _name(task.task_spec),
                                           TaskState.get_name(task.state)))
    # SpiffWorkflow's own helper tasks (a boundary event's split/join ...) only matter when nothing
    # named in the diagram explains the refusal
    dropped = tuple(dict.fromkeys(_name(wf.get_task_from_id(sp.parent_task_id).task_spec) for sp in finished))
    return MigrationCheck(tuple(current), tuple(dict.fromkeys(blockers or internal)), tuple(dict.fromkeys(retimed)),
                          dropped)


def _task_blockers(task: Any, diff: Any, reset: list[Any], retimed: list[str], same: _Same) -> list[Blocker]:
    spec, target = task.task_spec, diff.alignment.get(task)
    state = TaskState.get_name(task.state)
    if task.has_state(TaskState.ERROR):
        return [Blocker(spec.bpmn_id or spec.name, _name(spec), state, "error")]
    if target is None:
        if task.has_state(_CURRENT):
            return [Blocker(spec.bpmn_id or spec.name, _name(spec), state, "removed")]
        if any(task.is_descendant_of(r) for r in reset):
            return []  # a prediction under a reset task: dropped and predicted again
        reason = "history_removed" if task.has_state(TaskState.FINISHED_MASK) else "pending_removed"
        return [Blocker(spec.bpmn_id or spec.name, _name(spec), state, reason)]
    if not task.has_state(_CURRENT):
        return []
    change = _changed_current(spec, target, same)
    if change == "retimed":
        retimed.append(spec.bpmn_id or spec.name)
        return []
    return [Blocker(spec.bpmn_id or spec.name, _name(spec), state, change)] if change else []


def _changed_current(spec: Any, target: Any, same: _Same) -> str | None:
    """Why a current task's new spec does not fit it (None: it fits; ``retimed``: its timer is recomputed)."""
    if type(spec) is not type(target):
        return "kind_changed"
    if getattr(spec, "lane", None) != getattr(target, "lane", None):
        return "lane_changed"
    if _props(spec).get("formKey") != _props(target).get("formKey"):
        return "form_changed"
    old, new = getattr(spec, "event_definition", None), getattr(target, "event_definition", None)
    if old is None and new is None:
        return None
    if type(old) is not type(new):
        return "event_changed"
    if same(old, new):
        return None
    return "retimed" if isinstance(old, TimerEventDefinition) else "event_changed"


def _props(spec: Any) -> dict[str, str]:
    return dict((getattr(spec, "extensions", None) or {}).get("properties", {}) or {})


def _reset_tasks(wf: Any, top: Any, subs: dict[Any, Any], same: _Same) -> dict[Any, tuple[Any, int, dict[str, Any],
                                                                                   dict[str, Any] | None]]:
    """What SpiffWorkflow's reset would throw away from the tasks it resets: their data and internal data.

    A reset task gets its parent's data and empty internal data. That loses a multi-instance child's
    item and iteration, and a waiting timer's computed due time, so both are put back afterwards —
    except the internal data of a waiting task whose event definition changed (its timer is recomputed).
    """
    kept: dict[Any, tuple[Any, int, dict[str, Any], dict[str, Any] | None]] = {}
    for workflow, diff in _workflows(wf, top, subs):
        for task in workflow.get_tasks(state=_RESET, skip_subprocesses=True):
            target = diff.alignment.get(task)
            old = getattr(task.task_spec, "event_definition", None)
            unchanged = target is not None and same(old, getattr(target, "event_definition", None))
            kept[task.id] = (workflow, task.state, task.data, dict(task.internal_data) if unchanged else None)
    return kept


def _restore(kept: dict[Any, tuple[Any, int, dict[str, Any], dict[str, Any] | None]]) -> None:
    """Put back what the reset threw away, on the tasks that are still there in the same state."""
    for task_id, (workflow, state, data, internal) in kept.items():
        task = workflow.tasks.get(task_id)
        if task is None or task.state != state:
            continue
        task.data = data
        if internal is not None:
            task.internal_data = internal


def _assert_restorable(wf: Any, new: Any, new_deps: dict[str, Any]) -> None:
    """Every task must name a spec of the target, or the saved state could not be loaded again."""
    for workflow in [wf, *wf.subprocesses.values()]:
        spec = new if workflow is wf else new_deps.get(workflow.spec.name)
        for task in workflow.tasks.values():
            if spec is None or spec.task_specs.get(task.task_spec.name) is not task.task_spec:
                raise WorkflowError(f"迁移后步骤「{_name(task.task_spec)}」在新版本中不存在，已取消迁移",
                                    code="migration_incomplete")
