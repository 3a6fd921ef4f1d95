"""The runtime's fast paths change cost, never results (issue #2 benchmarks; DESIGN "Instance state").

* ``engine.runtime.tree``: the task-tree walk visits exactly the tasks SpiffWorkflow's own
  iterators visit, in the same order, for every filter and option the library uses.
* ``engine.runtime.dumping``: the incremental dump is byte-identical to a full
  ``serialize_json`` after every step — also when a script mutates nested data in place
  (notes P4) or someone edits a finished task's data behind the engine's back — so the stored
  state, its ``state_sha256`` in the hash chain and the audit replay are unaffected.

The whole suite can also be run with both checks switched on everywhere
(``BpmnRuntime.verify_dumps`` and ``HeduiBpmnWorkflow.verify_walks``, see their docstrings).
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskFilter
from SpiffWorkflow.util.task import TaskIterator
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

import forms
from engine.clock import FixedClock
from engine.context import Actor
from engine.models import WorkflowInstance
from engine.runtime import BpmnRuntime
from engine.runtime import Workflow
from engine.runtime import parse_bundle
from engine.runtime.tree import HeduiBpmnWorkflow
from engine.runtime.tree import walk
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone(timedelta(hours=8)))

#: a loop whose script mutates nested data in place (notes P4) and keeps a flat list growing
_NESTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs_nested_loop" targetNamespace="http://hedui.example/bpmn/test">
  <bpmn:process id="nested_loop" name="test: nested data mutated in place" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_intake" name="intake_officer">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>init</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>handle</bpmn:flowNodeRef><bpmn:flowNodeRef>bump</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>gw</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="init">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>tally = {"inner": {"n": 0}}
rounds = 0
seen = []</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="handle">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formKey" value="acknowledge" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:incoming>f_again</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:scriptTask id="bump">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>tally["inner"]["n"] = tally["inner"]["n"] + 1
rounds = rounds + 1
seen = seen + [rounds]</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" default="f_done">
      <bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f_again</bpmn:outgoing><bpmn:outgoing>f_done</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f_done</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="init" />
    <bpmn:sequenceFlow id="f2" sourceRef="init" targetRef="handle" />
    <bpmn:sequenceFlow id="f3" sourceRef="handle" targetRef="bump" />
    <bpmn:sequenceFlow id="f4" sourceRef="bump" targetRef="gw" />
    <bpmn:sequenceFlow id="f_again" sourceRef="gw" targetRef="handle">
      <bpmn:conditionExpression>rounds &lt; 12</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_done" sourceRef="gw" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture(scope="module")
def specs() -> dict[str, str]:
    files = {"bench_loop.bpmn": (ROOT / "tests/perf/data/bench_loop.bpmn").read_bytes(), "nested_loop.bpmn": _NESTED}
    parsed, problems = parse_bundle(files, known_roles=["intake_officer"], known_forms=forms.form_keys())
    assert problems == []
    return {p.process_id: p.serialized_spec for p in parsed}


@pytest.fixture
def rt() -> BpmnRuntime:
    return BpmnRuntime(FixedClock(T0))


def _steps(rt: BpmnRuntime, spec: str, process_id: str, rounds: int, **extra: Any) -> Any:
    """Yield the workflow after its start and after every completed round (form data plus ``extra``)."""
    wf = rt.new_workflow(process_id, spec)
    wf.run_engine_steps()
    yield wf
    for i in range(rounds):
        ready = wf.ready_human_tasks()
        if not ready:
            return
        wf.complete_task(ready[0].task_id, {"remark": f"第 {i} 轮", **extra})
        yield wf


_FILTERS: list[dict[str, Any]] = [
    {}, {"state": TaskState.READY}, {"state": TaskState.READY, "manual": True},
    {"state": TaskState.READY, "manual": False}, {"state": TaskState.WAITING},
    {"state": TaskState.NOT_FINISHED_MASK}, {"state": TaskState.FINISHED_MASK},
    {"state": TaskState.PREDICTED_MASK}, {"spec_name": "handle_round"}, {"lane": "intake_officer"},
    {"max_depth": 3}, {"max_depth": 17, "state": TaskState.COMPLETED}, {"end_at_spec": "gw_more"},
    {"skip_subprocesses": True, "state": TaskState.READY},
]


def test_walk_visits_what_spiffworkflow_visits(rt: BpmnRuntime, specs: dict[str, str]) -> None:
    checked = 0
    for wf in _steps(rt, specs["bench_loop"], "bench_loop", 30):
        tree = wf.wf
        assert isinstance(tree, HeduiBpmnWorkflow)
        for kwargs in _FILTERS:
            stock = list(BpmnTaskIterator(tree.task_tree, **kwargs))
            assert list(tree.get_tasks_iterator(**kwargs)) == stock, kwargs
            checked += 1
        for state in (TaskState.WAITING, TaskState.NOT_FINISHED_MASK, TaskState.ANY_MASK):
            plain = list(TaskIterator(tree.task_tree, state=state))
            assert list(walk(tree.task_tree, TaskFilter(state=state), bpmn=False)) == plain
        # from an inner task, as SpiffWorkflow's own code sometimes starts
        completed = tree.get_tasks(state=TaskState.COMPLETED)
        inner = completed[len(completed) // 2]
        assert list(tree.get_tasks_iterator(inner)) == list(BpmnTaskIterator(inner))
    assert checked > 30 * len(_FILTERS)


def test_restored_workflows_walk_fast_and_serialize_under_the_stock_name(rt: BpmnRuntime,
                                                                          specs: dict[str, str]) -> None:
    *_, wf = _steps(rt, specs["bench_loop"], "bench_loop", 3)
    state = rt.dump(wf)
    assert '"typename": "BpmnWorkflow"' in state and "Hedui" not in state
    restored = rt.load("bench_loop", specs["bench_loop"], state, rt.serializer_version)
    assert isinstance(restored.wf, HeduiBpmnWorkflow)
    assert rt.dump(restored) == state


@pytest.mark.parametrize("process_id", ["bench_loop", "nested_loop"])
def test_incremental_dump_equals_a_full_dump_after_every_step(rt: BpmnRuntime, specs: dict[str, str],
                                                              process_id: str) -> None:
    serializer = rt._state().serializer
    dumps = 0
    for wf in _steps(rt, specs[process_id], process_id, 40):
        assert rt.dump(wf) == serializer.serialize_json(wf.wf)
        dumps += 1
    assert wf.is_completed or process_id == "bench_loop"
    assert dumps > 12
    cached = len(wf.wf.fragments.entries)
    if process_id == "bench_loop":
        # finished tasks were really served from the cache (else this test proves nothing about it)
        assert cached > len(wf.wf.tasks) // 2
    else:
        # nested data may change behind a copy's back: such tasks are always encoded afresh
        assert all("tally" not in t.data for t in wf.wf.fragments.entries) and cached < 5


def test_nested_data_is_never_served_stale(rt: BpmnRuntime, specs: dict[str, str]) -> None:
    """P4: the in-place edit reaches earlier tasks' snapshots; the dump must show it like a full dump."""
    *_, wf = _steps(rt, specs["nested_loop"], "nested_loop", 12)
    stored = rt.dump(wf)
    assert stored == rt._state().serializer.serialize_json(wf.wf)
    assert '"n": 12' in stored and wf.is_completed


def test_edits_behind_the_engines_back_invalidate_the_cached_text(rt: BpmnRuntime, specs: dict[str, str]) -> None:
    *_, wf = _steps(rt, specs["bench_loop"], "bench_loop", 8, tags=["甲", "乙"], flags={"urgent": False})
    serializer = rt._state().serializer
    rt.dump(wf)
    finished = [t for t in wf.wf.get_tasks(state=TaskState.COMPLETED)
                if t in wf.wf.fragments.entries and "tags" in t.data]
    edits = [
        lambda t: t.data["tags"].append("丙"),  # a flat list, in place
        lambda t: t.data["flags"].__setitem__("urgent", True),  # a flat dict, in place
        lambda t: t.data.__setitem__("remark", "改过"),  # a scalar, in place
        lambda t: setattr(t, "data", dict(t.data, extra=1)),  # a new dict
        lambda t: t.internal_data.__setitem__("note", "x"),
        lambda t: setattr(t, "last_state_change", t.last_state_change + 1),
    ]
    assert len(finished) > len(edits)
    for edit, task in zip(edits, finished[-len(edits):], strict=True):
        before = rt.dump(wf)
        edit(task)
        after = rt.dump(wf)
        assert after == serializer.serialize_json(wf.wf) and after != before


def test_a_workflow_of_another_class_gets_a_full_dump(rt: BpmnRuntime, specs: dict[str, str]) -> None:
    *_, wf = _steps(rt, specs["bench_loop"], "bench_loop", 2)
    expected = rt._state().serializer.serialize_json(wf.wf)
    plain = Workflow(rt, wf.wf)
    plain.wf.__class__ = HeduiBpmnWorkflow.__mro__[1]  # the stock BpmnWorkflow
    assert rt.dump(plain) == expected


# --------------------------------------------------------------------------- through the services

INTAKE = Actor("li_intake", "intake_officer")


def test_the_committed_workflow_is_handed_over_and_a_rollback_drops_it(  # type: ignore[no-untyped-def]
        ctx, deploy) -> None:
    """The workflow cache gets the saved workflow at commit (session-class listeners), never after a rollback."""
    deploy("linear_review.bpmn")
    instance = start_instance(ctx, "linear_review", actor=INTAKE, business_key="HD-2026-0100")
    ctx.session.commit()
    assert ctx.runtime._saved[instance.id][0] == instance.version
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    complete_task(ctx, task.id, {"remark": "材料齐全"}, actor=INTAKE)
    assert instance.id not in ctx.runtime._saved  # taken for the step, not back before the commit
    ctx.session.rollback()
    assert instance.id not in ctx.runtime._saved and ctx.session.info.get("hedui_saved_workflows") is None
    ctx.session.expire_all()
    [task] = list_open_tasks(ctx, instance_id=instance.id)
    complete_task(ctx, task.id, {"remark": "材料齐全"}, actor=INTAKE)
    ctx.session.commit()
    version, saved = ctx.runtime._saved[instance.id]
    assert version == instance.version
    stored = ctx.session.execute(select(WorkflowInstance.state).where(WorkflowInstance.id == instance.id)).scalar_one()
    assert ctx.runtime.dump(Workflow(ctx.runtime, saved)) == stored
