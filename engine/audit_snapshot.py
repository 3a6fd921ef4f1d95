"""The comparable state of a workflow (a replay's or the stored one) and the differences between two.

Task ids are uuid4 and differ between runs, so nothing here names a task by id: user tasks by BPMN
id and data, waiting timers and messages by element, due time, name and correlation key.
"""

from __future__ import annotations

import json
from typing import Any

from engine.runtime import Workflow

MISSING = "<missing>"


def plain(value: Any) -> Any:
    """JSON-shaped copy (what a save and load would give), for comparing and showing."""
    return json.loads(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str))


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def snapshot(wf: Workflow, default_key: str) -> dict[str, Any]:
    """The comparable state of a workflow: no task ids, lists in a stable order.

    :param default_key: the correlation key of catch events without a ``correlationKey`` (the business key).
    """
    open_tasks = [{"bpmn_id": t.bpmn_id, "process_id": t.process_id, "data": plain(wf.task_data(t.task_id))}
                  for t in wf.ready_human_tasks()]
    timers, messages = wf.waiting_timers(), wf.waiting_messages()
    waiting: dict[str, set[str]] = {}
    for task_id, bpmn_id in [(t.task_id, t.bpmn_id) for t in timers] + [(m.task_id, m.bpmn_id) for m in messages]:
        waiting.setdefault(task_id, set()).add(bpmn_id)
    return {
        "completed": wf.is_completed,
        "trace": [[s.process_id, s.bpmn_id, s.state] for s in wf.trace()],
        "open_tasks": sorted(open_tasks, key=lambda t: (t["bpmn_id"], canonical_json(t["data"]))),
        "timers": sorted(({"bpmn_id": t.bpmn_id, "due_at": t.due_at.isoformat()} for t in timers),
                         key=lambda t: (t["bpmn_id"], t["due_at"])),
        "messages": sorted(({"bpmn_id": m.bpmn_id, "message_name": m.message_name,
                             "correlation_key": m.correlation_key if m.correlation_key is not None else default_key}
                            for m in messages), key=canonical_json),
        "waiting": sorted(({"elements": sorted(elements), "data": plain(wf.task_data(task_id))}
                           for task_id, elements in waiting.items()), key=canonical_json),
        "data": plain(wf.data),
    }


def flatten(state: dict[str, Any]) -> dict[str, str]:
    """Every comparable fact of a snapshot (but the trace) as ``path -> canonical JSON``."""
    flat = {"completed": canonical_json(state["completed"])}
    for aspect, name in (("open_tasks", lambda t: t["bpmn_id"]), ("waiting", lambda w: "|".join(w["elements"]))):
        seen: dict[str, int] = {}
        for item in state[aspect]:
            label = name(item)
            seen[label] = seen.get(label, 0) + 1
            prefix = f"{aspect}/{label}#{seen[label]}"
            flat[prefix] = "open"
            flat.update({f"{prefix}/data/{k}": canonical_json(v) for k, v in item["data"].items()})
    for aspect in ("timers", "messages"):
        counts: dict[str, int] = {}
        for item in state[aspect]:
            label = canonical_json(item)
            counts[label] = counts.get(label, 0) + 1
            flat[f"{aspect}/{label}#{counts[label]}"] = "waiting"
    flat.update({f"data/{k}": canonical_json(v) for k, v in state["data"].items()})
    return flat


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """``(aspect, path, expected, actual)`` for every fact the two snapshots disagree on, trace first."""
    out: list[tuple[str, str, Any, Any]] = []
    e_trace, a_trace = expected["trace"], actual["trace"]
    for i in range(max(len(e_trace), len(a_trace))):
        e, a = (e_trace[i] if i < len(e_trace) else None), (a_trace[i] if i < len(a_trace) else None)
        if e != a:
            out.append(("trace", f"trace[{i}]", e, a))
            break
    e_flat, a_flat = flatten(expected), flatten(actual)
    for path in sorted(e_flat.keys() | a_flat.keys()):
        e_val, a_val = e_flat.get(path, MISSING), a_flat.get(path, MISSING)
        if e_val != a_val:
            out.append((path.split("/", 1)[0], path, _shown(e_val), _shown(a_val)))
    return out


def _shown(value: str) -> Any:
    return None if value == MISSING else ("<present>" if value in ("open", "waiting") else json.loads(value))
