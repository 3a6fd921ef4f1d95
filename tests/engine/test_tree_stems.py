"""Walks start at their stem while it holds, and never after a task on it changed (issue #2: cost flat as a case grows).

``engine.runtime.tree`` lets a walk that cannot yield a finished task start where the previous one
found only finished tasks behind it (its *stem*). These tests prove the three things that make that
safe: the walks still return exactly what SpiffWorkflow's own iterators return while a loop grows;
each of the five ways SpiffWorkflow changes a task on a stem retires the stem (a stale one would
return a different result: every mutation test below fails without its guard); and SpiffWorkflow's
source holds no other way to change a task's state, children or parent (an upgrade that adds one
fails here instead of serving a stale stem).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest
import SpiffWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskFilter
from SpiffWorkflow.util.task import TaskIterator
from SpiffWorkflow.util.task import TaskState

import forms
from engine.clock import FixedClock
from engine.runtime import BpmnRuntime
from engine.runtime import parse_bundle
from engine.runtime import tree
from engine.runtime.tree import HeduiBpmnWorkflow

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone(timedelta(hours=8)))
#: the filters whose walks use stems (they cannot yield a finished task)
_UNFINISHED: list[dict[str, Any]] = [
    {"state": TaskState.READY}, {"state": TaskState.READY, "manual": True}, {"state": TaskState.WAITING},
    {"state": TaskState.NOT_FINISHED_MASK}, {"state": TaskState.PREDICTED_MASK},
    {"state": TaskState.READY, "skip_subprocesses": True},
]


@pytest.fixture(scope="module")
def loop_spec() -> str:
    files = {"bench_loop.bpmn": (ROOT / "tests/perf/data/bench_loop.bpmn").read_bytes()}
    parsed, problems = parse_bundle(files, known_roles=["intake_officer"], known_forms=forms.form_keys())
    assert problems == []
    return parsed[0].serialized_spec


def _rounds(loop_spec: str, rounds: int) -> Iterator[HeduiBpmnWorkflow]:
    wf = BpmnRuntime(FixedClock(T0)).new_workflow("bench_loop", loop_spec)
    wf.run_engine_steps()
    for i in range(rounds):
        wf.complete_task(wf.ready_human_tasks()[0].task_id, {"remark": f"第 {i} 轮"})
        assert isinstance(wf.wf, HeduiBpmnWorkflow)
        yield wf.wf


def _same_as_spiffworkflow(wf: HeduiBpmnWorkflow) -> None:
    for kwargs in _UNFINISHED:
        assert list(wf.get_tasks_iterator(**kwargs)) == list(BpmnTaskIterator(wf.task_tree, **kwargs)), kwargs
    for state in (TaskState.WAITING, TaskState.NOT_FINISHED_MASK):
        ours = list(tree.walk(wf.task_tree, TaskFilter(state=state), bpmn=False, kids=wf._kids, stems=wf._stems))
        assert ours == list(TaskIterator(wf.task_tree, state=state))
    assert wf.is_completed() == (next(TaskIterator(wf.task_tree, state=TaskState.NOT_FINISHED_MASK), None) is None)


def _stem_depth(wf: HeduiBpmnWorkflow) -> int:
    stem = wf._stems[(wf.task_tree, True, False, True)]
    assert stem[0] == tree._generation, "the stem was retired"
    return int(stem[1].depth)


def test_walks_start_deep_in_a_growing_loop_and_return_what_spiffworkflow_returns(loop_spec: str) -> None:
    depths = []
    for wf in _rounds(loop_spec, 30):
        _same_as_spiffworkflow(wf)
        depths.append(_stem_depth(wf))
    # each round adds three finished tasks to the chain and the stem follows them down
    assert depths[-1] >= 3 * 29 and depths == sorted(depths)


def _parked(loop_spec: str) -> tuple[HeduiBpmnWorkflow, Any]:
    """A loop at round 8 whose walks have a stem, and a finished task on that stem."""
    *_, wf = _rounds(loop_spec, 8)
    _same_as_spiffworkflow(wf)
    on_stem = next(t for t in wf.get_tasks(state=TaskState.COMPLETED, spec_name="count_round") if t._in_stem)
    assert on_stem.depth < _stem_depth(wf)
    return wf, on_stem


def _retires(wf: HeduiBpmnWorkflow, change: Any) -> None:
    before = tree._generation
    change()
    _same_as_spiffworkflow(wf)  # a stale stem would return something else here (but for a new parent)
    assert tree._generation != before


def test_a_stem_task_whose_state_changes_retires_the_stem(loop_spec: str) -> None:
    wf, task = _parked(loop_spec)
    _retires(wf, lambda: task._set_state(TaskState.READY))
    assert task in wf.get_tasks(state=TaskState.READY)


def test_a_child_added_to_a_stem_task_retires_the_stem(loop_spec: str) -> None:
    wf, task = _parked(loop_spec)
    added: list[Any] = []
    _retires(wf, lambda: added.append(Task(wf, wf.spec.task_specs["handle_round"], task, state=TaskState.READY)))
    assert added[0] in wf.get_tasks(state=TaskState.READY, manual=True)


def test_a_stem_task_given_other_children_retires_the_stem(loop_spec: str) -> None:
    wf, task = _parked(loop_spec)
    ready = wf.get_tasks(state=TaskState.READY, manual=True)[0]
    _retires(wf, lambda: setattr(task, "children", [*task.children, ready]))
    assert wf.get_tasks(state=TaskState.READY, manual=True) == [ready, ready]


def test_a_task_removed_under_a_stem_task_retires_the_stem(loop_spec: str) -> None:
    wf, task = _parked(loop_spec)
    _retires(wf, lambda: wf._remove_task(task.children[0].id))
    assert wf.get_tasks(state=TaskState.NOT_FINISHED_MASK) == []


def test_a_new_parent_retires_the_stem(loop_spec: str) -> None:
    wf, task = _parked(loop_spec)
    _retires(wf, lambda: setattr(task, "parent", task.parent))


#: every function in SpiffWorkflow that assigns or mutates a task's ``_state``, ``_children`` or ``_parent``
_MUTATORS = {
    # guarded by engine.runtime.tree._install_stem_guards
    ("task.py", "_set_state"), ("task.py", "_child_added_notify"), ("task.py", "children"),
    ("task.py", "parent"), ("workflow.py", "_remove_task"),
    # a new task (its parent learns of it through _child_added_notify)
    ("task.py", "__init__"),
    # deserializers: they build a new workflow object, which has no stems yet
    ("bpmn/serializer/default/workflow.py", "from_dict"), ("serializer/dict.py", "deserialize_task"),
    ("serializer/xml.py", "deserialize_task"),
    # the non-BPMN SubWorkflow spec: no diagram Hedui deploys can contain it (deploy parses BPMN only)
    ("specs/SubWorkflow.py", "_create_subworkflow"),
}


class _Mutations(ast.NodeVisitor):
    def __init__(self) -> None:
        self.function: list[str] = []
        self.found: set[str] = set()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.function.append(node.name)
        self.generic_visit(node)
        self.function.pop()

    def _note(self, target: ast.AST) -> None:
        if isinstance(target, ast.Attribute) and target.attr in ("_state", "_children", "_parent"):
            self.found.add(self.function[-1] if self.function else "<module>")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._note(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._note(node.target)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("append", "remove", "insert", "extend", "pop",
                                                            "clear", "sort", "reverse", "__setitem__"):
            self._note(func.value)
        self.generic_visit(node)


def test_spiffworkflow_changes_a_task_only_where_the_guards_are() -> None:
    root = Path(SpiffWorkflow.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        visitor = _Mutations()
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        found |= {(path.relative_to(root).as_posix(), name) for name in visitor.found}
    assert found == _MUTATORS
