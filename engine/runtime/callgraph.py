"""The call graph of a bundle: which process's call activities run which process.

Deploy refuses a cycle in it (a process calling itself, directly or through others): a path that
reached the call again would nest called processes without end inside one request. A cycle is
refused even when a gateway guards it; repetition is a loop of sequence flows inside one process.

The graph also says which user tasks can belong to one case: those of the process, of every
process it calls (transitively) and of every process that calls it. Separation-of-duties rules
may name any of them (the runtime checks a case's completed tasks whatever process they ran in).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from engine.runtime.types import BPMN_NS
from engine.runtime.types import DeployProblem


@dataclass(frozen=True)
class Call:
    """One call activity: ``caller``'s element ``element_id`` runs ``called``."""

    caller: str
    called: str
    file: str
    element_id: str
    name: str
    line: int | None


@dataclass
class CallGraph:
    #: caller -> its call activities, first call of each called process only, in document order
    calls: dict[str, dict[str, Call]] = field(default_factory=dict)
    #: process -> the ids of its user tasks (embedded subprocesses included)
    user_tasks: dict[str, set[str]] = field(default_factory=dict)
    #: process -> user tasks of its callers outside the graph (deployed ones)
    caller_tasks: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, trees: Iterable[tuple[str, Any]], caller_tasks: Mapping[str, Iterable[str]] | None = None) -> CallGraph:
        """The graph of the executable processes in ``trees`` (file name, parsed BPMN root)."""
        graph = cls(caller_tasks={pid: set(tasks) for pid, tasks in (caller_tasks or {}).items()})
        for name, tree in trees:
            for process in tree.iterfind(f"{{{BPMN_NS}}}process"):
                pid = process.get("id")
                if process.get("isExecutable", "true") != "true" or not pid:
                    continue
                graph.user_tasks[pid] = {t.get("id") for t in process.iter(f"{{{BPMN_NS}}}userTask")}
                own = graph.calls.setdefault(pid, {})
                for el in process.iter(f"{{{BPMN_NS}}}callActivity"):
                    called = (el.get("calledElement") or "").strip()
                    if called and called not in own:
                        own[called] = Call(pid, called, name, el.get("id"), el.get("name") or el.get("id"),
                                           el.sourceline)
        return graph

    def cycle_problems(self, first: Iterable[str] = ()) -> list[DeployProblem]:
        """One problem per cycle found, at the call activity of the cycle's first process among ``first``."""
        preferred = list(first)
        out = []
        for cycle in self._cycles([*preferred, *sorted(self.calls)]):
            start = next((i for i, pid in enumerate(cycle) if pid in preferred), 0)
            cycle = cycle[start:-1] + cycle[:start] + [cycle[start]]
            call = self.calls[cycle[0]][cycle[1]]
            out.append(DeployProblem(
                call.file, f"调用活动「{call.name}」形成循环调用：{' → '.join(cycle)}；流程不能直接或间接调用自身"
                "（有网关条件也不行），重复办理请在流程内用回连的顺序流表达",
                element_id=call.element_id, line=call.line, code="call_cycle"))
        return out

    def _cycles(self, order: list[str]) -> list[list[str]]:
        """Cycles closed by the back edges of a depth-first search, each as ``[a, b, …, a]``."""
        state: dict[str, str] = {}  # "open" while on the path, "done" after
        path: list[str] = []
        found: list[list[str]] = []

        def visit(pid: str) -> None:
            state[pid] = "open"
            path.append(pid)
            for called in self.calls.get(pid, {}):
                if state.get(called) == "open":
                    found.append(path[path.index(called):] + [called])
                elif called not in state:
                    visit(called)
            path.pop()
            state[pid] = "done"

        for pid in order:
            if pid not in state:
                visit(pid)
        return found

    def case_user_tasks(self, pid: str) -> set[str]:
        """The user tasks a case containing ``pid`` may have: of every process reachable from a caller of it,
        and of the deployed callers of any of those callers."""
        callers = {pid} | {p for p in self.calls if pid in self._reachable(p)}
        tasks = {t for root in callers for p in self._reachable(root) for t in self.user_tasks.get(p, set())}
        return tasks | {t for p in callers for t in self.caller_tasks.get(p, set())}

    def _reachable(self, pid: str) -> set[str]:
        seen, todo = {pid}, [pid]
        while todo:
            for called in self.calls.get(todo.pop(), {}):
                if called not in seen:
                    seen.add(called)
                    todo.append(called)
        return seen
