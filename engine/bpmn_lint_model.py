"""The read-only view of one BPMN file the lint rules share (pure lxml; no SpiffWorkflow here).

The rules in ``engine.bpmn_lint_flow`` and ``engine.bpmn_lint_rules`` return :class:`Hit` values;
``engine.bpmn_lint`` turns them into warning findings with the file name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import NamedTuple

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "spiffworkflow": SPIFF_NS}

ACTIVITIES = frozenset({"task", "userTask", "scriptTask", "serviceTask", "sendTask", "receiveTask", "manualTask",
                        "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess"})
GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway",
                      "complexGateway"})
EVENTS = frozenset({"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"})
FLOW_NODES = ACTIVITIES | GATEWAYS | EVENTS
#: containers whose start events begin when the container is entered
SUBPROCESSES = frozenset({"subProcess", "transaction"})
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class Hit(NamedTuple):
    """One warning a rule found: stable code, element, source line, Chinese message."""

    code: str
    element_id: str | None
    line: int | None
    message: str


def local(el: Any) -> str | None:
    """The BPMN-namespace local name of ``el`` (None for DI, extension elements, comments)."""
    tag = el.tag
    if not isinstance(tag, str) or not tag.startswith(f"{{{BPMN_NS}}}"):
        return None
    return tag[len(BPMN_NS) + 2:]


def is_snake_case(value: str | None) -> bool:
    return bool(value) and _SNAKE.match(value or "") is not None


def has_cjk(value: str | None) -> bool:
    return bool(value) and _CJK.search(value or "") is not None


def hit(code: str, el: Any, message: str) -> Hit:
    """A hit located at ``el`` (its id and source line; neither when the element is unknown)."""
    if el is None:
        return Hit(code, None, None, message)
    return Hit(code, el.get("id"), el.sourceline, message)


@dataclass
class Diagram:
    """One parsed ``.bpmn`` file and what the rules look up in it more than once."""

    filename: str
    root: Any
    #: role code -> party (``agency``, ``entrusting``, ``sharing``, ``none``) from the role catalogue
    role_parties: Mapping[str, str] = field(default_factory=dict)

    def processes(self) -> list[Any]:
        return list(self.root.iterfind("bpmn:process", NS))

    def executable_processes(self) -> list[Any]:
        """The processes the engine runs (``isExecutable`` defaults to true, as deploy reads it)."""
        return [p for p in self.processes() if p.get("isExecutable", "true") == "true"]

    def drawn(self) -> set[str]:
        """The ``bpmnElement`` of every BPMNShape and BPMNEdge in the file."""
        return {el.get("bpmnElement") for el in self.root.iter(f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge")}

    def has_diagram(self) -> bool:
        return next(self.root.iter(f"{{{BPMNDI_NS}}}BPMNDiagram"), None) is not None

    def participants(self, process_id: str) -> list[Any]:
        return [p for p in self.root.iter(f"{{{BPMN_NS}}}participant") if p.get("processRef") == process_id]


def flow_nodes(container: Any) -> Iterator[Any]:
    """Every flow node inside ``container`` (a process), subprocesses' contents included."""
    for el in container.iter():
        if local(el) in FLOW_NODES:
            yield el


def properties(el: Any) -> dict[str, str]:
    """The ``spiffworkflow:property`` values directly on ``el`` (not on nested elements)."""
    path = "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
    return {p.get("name"): p.get("value") or "" for p in el.iterfind(path, NS)}


def documentation(el: Any) -> str:
    """The text of ``el``'s own ``bpmn:documentation`` children."""
    return "".join((d.text or "") for d in el.iterfind("bpmn:documentation", NS)).strip()


def has_definition(el: Any, kind: str) -> bool:
    """Whether the event ``el`` carries a ``bpmn:<kind>EventDefinition``."""
    return el.find(f"bpmn:{kind}EventDefinition", NS) is not None


def owner(el: Any) -> Any:
    """The flow element an expression belongs to (the event rather than its definition)."""
    while el is not None and (not el.get("id") or str(el.tag).endswith("EventDefinition")):
        el = el.getparent()
    return el
