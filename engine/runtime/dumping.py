"""Incremental state dumps: reuse the JSON of finished tasks that did not change since the last dump.

A finished task's serialized form almost never changes again, yet a full dump converts and
encodes every task of the never-pruned tree on every step (at loop round 50 that was the
largest growing cost after the tree walks, BENCHMARKS.md). :func:`dump_json` produces
**exactly** the text ``BpmnWorkflowSerializer.serialize_json`` produces — the stored state,
its ``state_sha256`` in the event chain and the audit replay are unaffected — but takes the
text of a finished task from a per-workflow cache when everything its text is made of is
provably unchanged:

* the task's own fields (state, last change, triggered flag, parent, children ids);
* its ``data``, its parent's ``data`` (the stored form is a delta against the parent) and its
  ``internal_data``, compared with copies taken when the text was made.

Comparing with a copy only proves "unchanged" for values that cannot change behind the
copy's back, so only tasks whose three dictionaries hold scalars (str, int, float, bool,
None, date, datetime, Decimal) or flat lists/dicts of scalars are cached; anything nested
deeper (notes P4: nested values are shared between tasks and may be mutated in place) is
encoded afresh every time, as before. The JSON text is assembled the way the stdlib encoder
writes a dict (``{"key": value, ...}`` with the default separators), which is what makes the
result byte-identical (tests/engine/test_incremental_dump.py compares it with a full dump
after every step of every diagram).
"""

from __future__ import annotations

import json
from datetime import date
from datetime import datetime
from decimal import Decimal
from typing import Any

from SpiffWorkflow.util.task import TaskState

_SCALARS = frozenset({str, int, float, bool, type(None), date, datetime, Decimal})
_FINISHED = TaskState.FINISHED_MASK
#: how the stdlib encoder writes a dict key (ensure_ascii, the default)
_key = json.encoder.encode_basestring_ascii


def _snapshot(values: dict[str, Any]) -> dict[str, Any] | None:
    """A copy that ``==`` can compare with later, or None if ``values`` holds anything nested."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        kind = type(value)
        if kind in _SCALARS:
            out[key] = value
        elif kind is list:
            if not all(type(v) in _SCALARS for v in value):
                return None
            out[key] = list(value)
        elif kind is dict:
            if not all(type(v) in _SCALARS for v in value.values()):
                return None
            out[key] = dict(value)
        else:
            return None
    return out


class _Entry:
    """What a finished task's text was made of (objects and copies), and the text."""

    __slots__ = ("state", "changed", "triggered", "parent_id", "children", "parent", "data", "parent_data",
                 "internal", "data_copy", "parent_copy", "internal_copy", "piece")

    # SpiffWorkflow's task fields (untyped: Any); the copies are _snapshot()s
    state: Any
    changed: Any
    triggered: Any
    parent_id: Any
    children: list[Any]
    parent: Any
    data: dict[str, Any]
    parent_data: dict[str, Any] | None
    internal: dict[str, Any]
    data_copy: dict[str, Any]
    parent_copy: dict[str, Any] | None
    internal_copy: dict[str, Any]
    #: the ``"<task id>": <task JSON>`` text
    piece: str

    def fresh(self, task: Any) -> bool:
        parent = self.parent
        return (task._state == self.state and task.last_state_change == self.changed
                and task.triggered == self.triggered and task._parent is self.parent_id
                and task.data is self.data and task.internal_data is self.internal
                and (parent is None or parent.data is self.parent_data)
                and task._children == self.children and self.data_copy == self.data
                and self.internal_copy == self.internal
                and (parent is None or self.parent_copy == self.parent_data))


class FragmentCache:
    """The JSON text of a workflow's finished tasks, valid while their inputs are unchanged.

    Keyed by the task object (identity hashing is cheap; ``UUID.__hash__`` runs in Python).
    """

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[Any, _Entry] = {}

    def piece(self, task: Any, encode: Any, convert: Any) -> str:
        """``"<task id>": <task JSON>`` as it appears inside the ``tasks`` mapping."""
        entry = self.entries.get(task)
        if entry is not None and entry.fresh(task):
            return entry.piece
        piece = f"{_key(str(task.id))}: {encode(convert(task))}"
        if task._state & _FINISHED:
            self._keep(task, piece)
        elif entry is not None:
            del self.entries[task]
        return piece

    def _keep(self, task: Any, piece: str) -> None:
        parent = task.parent
        parent_data = parent.data if parent is not None else None
        data, internal = _snapshot(task.data), _snapshot(task.internal_data)
        parent_copy = _snapshot(parent_data) if parent_data is not None else None
        if data is None or internal is None or (parent_data is not None and parent_copy is None):
            self.entries.pop(task, None)
            return
        entry = _Entry()
        entry.state, entry.changed, entry.triggered = task._state, task.last_state_change, task.triggered
        entry.parent_id, entry.children, entry.parent = task._parent, list(task._children), parent
        entry.data, entry.parent_data, entry.internal = task.data, parent_data, task.internal_data
        entry.data_copy, entry.parent_copy, entry.internal_copy = data, parent_copy, internal
        entry.piece = piece
        self.entries[task] = entry

    def prune(self, live: dict[Any, Any]) -> None:
        """Forget tasks that left the tree (reset, cancelled predictions), once they pile up."""
        if len(self.entries) > 2 * len(live) + 16:
            self.entries = {t: e for t, e in self.entries.items() if live.get(t.id) is t}


def _join(items: list[tuple[str, str]]) -> str:
    """``{"k": v, ...}`` from encoded keys and values, exactly as ``json.dumps`` writes a dict."""
    return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}" if items else "{}"


def dump_json(serializer: Any, workflow: Any, cache: FragmentCache) -> str:
    """``serializer.serialize_json(workflow)``, reusing cached task texts (see the module docstring)."""
    registry = serializer.registry
    encoder = serializer._encoder_cls()  # what json.dumps(..., cls=...) builds with default options
    encode = encoder.encode
    registry._encoder_mode = True
    try:
        # the top-level converter, with the (large) task mapping taken out: every value but
        # "tasks" is encoded as usual, "tasks" is assembled from the per-task texts in order
        tasks = workflow.tasks
        workflow.tasks = {}
        try:
            dct = registry.convert(workflow)
        finally:
            workflow.tasks = tasks
        convert, piece = registry.convert, cache.piece
        task_text = "{" + ", ".join([piece(task, encode, convert) for task in tasks.values()]) + "}" if tasks else "{}"
        dct[serializer.VERSION_KEY] = serializer.VERSION
        parts = [(_key(k), task_text if k == "tasks" else encode(v)) for k, v in dct.items()]
    finally:
        registry._encoder_mode = False
    cache.prune(tasks)
    return _join(parts)
