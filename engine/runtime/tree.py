"""Cheaper task-tree walks for the workflows Hedui runs (same tasks, same order as SpiffWorkflow's).

SpiffWorkflow never prunes finished tasks (a loop adds tasks every round), and one step walks
the whole tree many times: ``do_engine_steps`` looks for READY tasks on every pass,
``update_waiting_tasks`` looks for WAITING tasks after *every* completed task, ``is_completed``
looks for an unfinished one. ``TaskIterator`` pays for each visited task with ``list.pop(0)``,
a ``children`` list built through the task dictionary, list concatenation and three method
calls, which made these walks the largest part of a step at loop round 50 (BENCHMARKS.md).

:class:`HeduiBpmnWorkflow` routes those walks through :func:`walk`, a stack-based pre-order
walk that visits exactly the tasks ``TaskIterator``/``BpmnTaskIterator`` visit, in the same
order, with the same descent rules (state threshold, ``max_depth`` with the same depth
bookkeeping, ``end_at_spec``, subprocesses) and applies the same filter objects. Only the
depth-first order is reimplemented; a breadth-first request goes to the stock iterator.
The workflow's behaviour and its serialized state are unchanged (tests/engine/test_runtime_fast_paths.py
compares both walks on every diagram).

**Stems.** Most walks look for unfinished tasks (READY, WAITING, not finished), yet a loop's tree is
one long chain of finished tasks with the live ones at its bottom, so each walk crossed the whole
history to reach them (~10 walks a step). A walk of the whole tree that cannot yield a finished task records its
*stem*: the point ``X`` where everything it popped so far was finished and ``X`` was the only task
left to visit, with the walk's depth there. The next such walk starts at ``X`` when the stem still
holds. It holds until a task on it changes, and every change SpiffWorkflow can make to a task's
state, children or parent goes through one of five methods (``Task._set_state``,
``Task._child_added_notify``, the ``Task.children`` and ``Task.parent`` setters,
``Workflow._remove_task``), which :func:`_install_stem_guards` wraps to retire every recorded stem
when they touch a task that lies on one (tasks are marked as they join a stem). That list is
checked against SpiffWorkflow's source by a test, so an upgrade that adds a mutation path fails
loudly instead of serving a stale stem.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskFilter
from SpiffWorkflow.util.task import TaskIterator
from SpiffWorkflow.util.task import TaskState
from SpiffWorkflow.workflow import Workflow as _SpiffWorkflow

from engine.runtime.dumping import FragmentCache

_DEFAULT_MAX_DEPTH = 1000  # TaskIterator's default
_FINISHED = int(TaskState.FINISHED_MASK)

# --- stems (see the module docstring) --------------------------------------------------------------------

_generations = itertools.count(1)
#: the current stem generation; a recorded stem is valid while it equals the one it was recorded under.
#: Every change takes a value never used before (``next`` on a count is atomic), so no interleaving
#: of threads can bring back a retired generation.
_generation = next(_generations)


def _retire_stems() -> None:
    global _generation
    _generation = next(_generations)


def _install_stem_guards() -> None:
    """Wrap SpiffWorkflow's task-tree mutations so that a change to a task on a stem retires all stems."""
    from SpiffWorkflow.task import Task

    if getattr(Task, "_hedui_stem_guards", False):
        return
    set_state, child_added, remove_task = Task._set_state, Task._child_added_notify, _SpiffWorkflow._remove_task
    children, parent = Task.children, Task.parent

    def guarded_set_state(self: Any, value: int) -> None:
        if self._in_stem and value != self._state:
            _retire_stems()
        set_state(self, value)

    def guarded_child_added(self: Any, child: Any) -> None:
        if self._in_stem:
            _retire_stems()
        child_added(self, child)

    def guarded_remove_task(self: Any, task_id: Any) -> None:
        task = self.tasks.get(task_id)
        if task is not None and (task._in_stem or getattr(task.parent, "_in_stem", False)):
            _retire_stems()
        remove_task(self, task_id)

    def set_children(self: Any, tasks: Any) -> None:
        _retire_stems()
        children.fset(self, tasks)

    def set_parent(self: Any, task: Any) -> None:
        _retire_stems()
        parent.fset(self, task)

    Task._in_stem = False
    Task._set_state, Task._child_added_notify = guarded_set_state, guarded_child_added
    Task.children, Task.parent = property(children.fget, set_children), property(parent.fget, set_parent)
    _SpiffWorkflow._remove_task = guarded_remove_task
    Task._hedui_stem_guards = True


_install_stem_guards()


def _min_state(state_mask: int) -> int:
    """The state below which a task's children are not visited (as ``TaskIterator.__init__``)."""
    if state_mask & TaskState.PREDICTED_MASK:
        return int(TaskState.MAYBE)
    if state_mask & TaskState.DEFINITE_MASK:
        return int(TaskState.FUTURE)
    return int(TaskState.COMPLETED)


def walk(
    first: Any,
    task_filter: Any,
    *,
    bpmn: bool,
    kids: dict[Any, tuple[list[Any], list[Any]]] | None = None,
    stems: dict[Any, tuple[int, Any, int, tuple[Any, ...]]] | None = None,
    end_at_spec: str | None = None,
    max_depth: int = _DEFAULT_MAX_DEPTH,
    skip_subprocesses: bool = False,
) -> Iterator[Any]:
    """Yield the tasks under ``first`` (itself included) that ``task_filter`` matches, depth first.

    The explicit stack holds ``TaskIterator.task_list`` reversed (its head is the stack's top),
    so every push/pop is O(1); ``depth`` follows ``TaskIterator``'s own arithmetic so that
    ``max_depth`` cuts the walk at the same place.

    :param bpmn: descend into subprocesses as ``BpmnTaskIterator`` does (else as ``TaskIterator``).
    :param kids: a cache of each task's child tasks (reversed), kept by the workflow across walks:
        an entry is used only while the task's list of child ids is still equal to the one it
        was built from, so a changed tree never yields stale children. Resolving child ids
        through the task dictionary hashes ``UUID`` objects in Python, the walk's largest cost.
    :param stems: where the workflow keeps its walks' stems (module docstring); used and recorded
        only by walks that cannot yield a finished task, with the default depth limit and no
        ``end_at_spec`` (the walks whose path through finished tasks does not depend on the filter).
    """
    if kids is None:
        kids = {}
    state_mask = task_filter.state
    min_state = _min_state(state_mask)
    matches = task_filter.matches
    finished_only = state_mask <= TaskState.FINISHED_MASK
    subprocesses = first.workflow.top_workflow.subprocesses if bpmn else None
    stack = [first]
    depth = 0
    key: tuple[Any, ...] | None = None
    subs_now: tuple[Any, ...] = ()
    if stems is not None and not state_mask & _FINISHED and end_at_spec is None and max_depth == _DEFAULT_MAX_DEPTH:
        key = (first, bpmn, skip_subprocesses, finished_only)
        subs_now = tuple(subprocesses.items()) if subprocesses else ()
        stem = stems.get(key)
        if stem is not None and stem[0] == _generation and stem[3] == subs_now:
            stack, depth = [stem[1]], stem[2]
    recording = key is not None
    while stack:
        task = stack.pop()
        children = task._children
        sub = subprocesses.get(task.id) if subprocesses else None
        state = task._state
        if ((children or sub is not None) and (state >= min_state or sub is not None)
                and depth < max_depth and task.task_spec.name != end_at_spec):
            cached = kids.get(task)
            if cached is None or cached[0] != children:
                lookup = task.workflow.tasks.get
                cached = kids[task] = (list(children), [lookup(c) for c in reversed(children)])
            stack.extend(cached[1])
            if sub is not None and not skip_subprocesses and not (state >= TaskState.FINISHED_MASK and finished_only):
                stack.append(sub.task_tree)
            depth += 1
        elif stack:
            # TaskIterator._handle_leaf_depth: climb to the parent of the next task to visit
            ancestor = stack[-1].parent
            current = task.parent
            while current is not None and current != ancestor:
                current = current.parent
                depth -= 1
        if recording:
            if state & _FINISHED:
                task._in_stem = True
                if len(stack) == 1:
                    stems[key] = (_generation, stack[0], depth, subs_now)  # type: ignore[index]  # key set with stems
            else:
                recording = False
        if state & state_mask and matches(task):
            yield task


def _filter(kwargs: dict[str, Any], bpmn: bool) -> tuple[Any, dict[str, Any]]:
    """Split iterator options from filter options, as the stock constructors do."""
    options: dict[str, Any] = {
        k: kwargs.pop(k) for k in ("end_at_spec", "max_depth", "skip_subprocesses") if k in kwargs}
    task_filter = kwargs.pop("task_filter", None)
    if task_filter is None:
        task_filter = BpmnTaskFilter(**kwargs) if bpmn else TaskFilter(**kwargs)
    return task_filter, options


class HeduiBpmnWorkflow(BpmnWorkflow):  # type: ignore[misc]  # SpiffWorkflow ships no types: its classes are Any
    """``BpmnWorkflow`` whose whole-tree walks use :func:`walk` (same results, fewer instructions).

    Serialized under the stock type name (``BpmnWorkflow``), so stored states are unchanged.
    """

    #: Workflow.completed (set in Workflow.__init__, restored by the deserializer)
    completed: bool
    __fragments: FragmentCache
    __kids: dict[Any, tuple[list[Any], list[Any]]]
    __stems: dict[Any, tuple[int, Any, int, tuple[Any, ...]]]

    @property
    def fragments(self) -> FragmentCache:
        """The JSON of this workflow's finished tasks from its last dump (``engine.runtime.dumping``)."""
        try:
            return self.__fragments
        except AttributeError:
            self.__fragments = FragmentCache()
            return self.__fragments

    @property
    def _kids(self) -> dict[Any, tuple[list[Any], list[Any]]]:
        # created lazily: the deserializer builds workflows without calling __init__'s tail
        try:
            return self.__kids
        except AttributeError:
            self.__kids = {}
            return self.__kids

    @property
    def _stems(self) -> dict[Any, tuple[int, Any, int, tuple[Any, ...]]]:
        try:
            return self.__stems
        except AttributeError:
            self.__stems = {}
            return self.__stems

    #: compare every walk with SpiffWorkflow's own iterator first (tests; makes walks slower)
    verify_walks = False

    def get_tasks_iterator(self, first_task: Any = None, **kwargs: Any) -> Iterator[Any]:
        if kwargs.get("depth_first", True) is False:
            stock: Iterator[Any] = BpmnTaskIterator(first_task or self.task_tree, **kwargs)
            return stock
        if self.verify_walks:
            self._verify(first_task or self.task_tree, True, dict(kwargs))
        kwargs.pop("depth_first", None)
        task_filter, options = _filter(kwargs, bpmn=True)
        first = first_task or self.task_tree
        # stems only for walks of the whole tree (the costly ones): one per kind, not one per inner start
        stems = self._stems if first is self.task_tree else None
        return walk(first, task_filter, bpmn=True, kids=self._kids, stems=stems, **options)

    def update_waiting_tasks(self) -> None:
        # Workflow.update_waiting_tasks: plain TaskIterator (it does not enter subprocesses), and
        # lazily, like the original: a task's children are taken before the task is updated
        if self.verify_walks:
            self._verify(self.task_tree, False, {"state": TaskState.WAITING})
        for task in walk(self.task_tree, TaskFilter(state=TaskState.WAITING), bpmn=False, kids=self._kids,
                         stems=self._stems):
            task.task_spec._update(task)

    def is_completed(self) -> bool:
        if not self.completed:
            if self.verify_walks:
                self._verify(self.task_tree, False, {"state": TaskState.NOT_FINISHED_MASK})
            unfinished = walk(self.task_tree, TaskFilter(state=TaskState.NOT_FINISHED_MASK), bpmn=False,
                              kids=self._kids, stems=self._stems)
            if next(unfinished, None) is None:
                self.completed = True
        return self.completed

    def _verify(self, first: Any, bpmn: bool, kwargs: dict[str, Any]) -> None:
        stock = list((BpmnTaskIterator if bpmn else TaskIterator)(first, **dict(kwargs)))
        kwargs.pop("depth_first", None)
        task_filter, options = _filter(kwargs, bpmn=bpmn)
        stems = self._stems if first is self.task_tree else None
        ours = list(walk(first, task_filter, bpmn=bpmn, kids=self._kids, stems=stems, **options))
        if ours != stock:
            raise AssertionError(f"task walk differs from SpiffWorkflow's: {len(ours)} vs {len(stock)} tasks")


__all__ = ["HeduiBpmnWorkflow", "walk"]
