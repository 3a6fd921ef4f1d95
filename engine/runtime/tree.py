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
The workflow's behaviour and its serialized state are unchanged (tests/engine/test_tree_walk.py
compares both walks on every diagram).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskFilter
from SpiffWorkflow.util.task import TaskIterator
from SpiffWorkflow.util.task import TaskState

from engine.runtime.dumping import FragmentCache

_DEFAULT_MAX_DEPTH = 1000  # TaskIterator's default


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
        return walk(first_task or self.task_tree, task_filter, bpmn=True, kids=self._kids, **options)

    def update_waiting_tasks(self) -> None:
        # Workflow.update_waiting_tasks: plain TaskIterator (it does not enter subprocesses), and
        # lazily, like the original: a task's children are taken before the task is updated
        if self.verify_walks:
            self._verify(self.task_tree, False, {"state": TaskState.WAITING})
        for task in walk(self.task_tree, TaskFilter(state=TaskState.WAITING), bpmn=False, kids=self._kids):
            task.task_spec._update(task)

    def is_completed(self) -> bool:
        if not self.completed:
            if self.verify_walks:
                self._verify(self.task_tree, False, {"state": TaskState.NOT_FINISHED_MASK})
            unfinished = walk(self.task_tree, TaskFilter(state=TaskState.NOT_FINISHED_MASK), bpmn=False,
                              kids=self._kids)
            if next(unfinished, None) is None:
                self.completed = True
        return self.completed

    def _verify(self, first: Any, bpmn: bool, kwargs: dict[str, Any]) -> None:
        stock = list((BpmnTaskIterator if bpmn else TaskIterator)(first, **dict(kwargs)))
        kwargs.pop("depth_first", None)
        task_filter, options = _filter(kwargs, bpmn=bpmn)
        ours = list(walk(first, task_filter, bpmn=bpmn, kids=self._kids, **options))
        if ours != stock:
            raise AssertionError(f"task walk differs from SpiffWorkflow's: {len(ours)} vs {len(stock)} tasks")


__all__ = ["HeduiBpmnWorkflow", "walk"]
