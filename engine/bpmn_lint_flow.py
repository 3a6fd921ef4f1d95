"""Lint rules over a process's sequence flows: gateways, reachability, dead ends (pure lxml).

The graph follows sequence flows, link events (throw → catch of the same name in the same container),
boundary events (an activity → the events attached to it) and containers: entering a subprocess starts its
start events, every container starts its event subprocesses (which start themselves), an ad-hoc subprocess
enables all its children. Compensation handlers are outside the normal flow and never reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from engine.bpmn_lint_model import BPMN_NS
from engine.bpmn_lint_model import FLOW_NODES
from engine.bpmn_lint_model import NS
from engine.bpmn_lint_model import SUBPROCESSES
from engine.bpmn_lint_model import Hit
from engine.bpmn_lint_model import flow_nodes
from engine.bpmn_lint_model import has_definition
from engine.bpmn_lint_model import hit
from engine.bpmn_lint_model import local

_BRANCHING = ("exclusiveGateway", "inclusiveGateway")


@dataclass
class _Graph:
    nodes: dict[str, Any]
    #: edges a token or event can take (sequence flows, links, boundary events); what "a way to an end" follows
    edges: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: container -> what entering it starts (start events, event subprocesses, ad-hoc children)
    starts: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    outgoing: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    #: throw link events that continue at a catch link event
    linked: set[str] = field(default_factory=set)


def flow_hits(process: Any) -> list[Hit]:
    """Gateway, reachability and dead-end warnings of one process."""
    graph = _graph(process)
    out = _gateway_hits(graph)
    reached = _reach(graph, process.get("id"))
    exempt = {i for i, el in graph.nodes.items() if _exempt(el)}
    out += [hit("unreachable", el, f"「{_label(el)}」从任何开始事件都无法到达，永远不会执行："
                                   "请检查通向它的顺序流，或删除它")
            for i, el in graph.nodes.items() if i not in reached and i not in exempt]
    out += _dead_end_hits(graph, [i for i in graph.nodes if i in reached and i not in exempt])
    return out


def _graph(process: Any) -> _Graph:
    graph = _Graph({el.get("id"): el for el in flow_nodes(process) if el.get("id")})
    for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        source, target = flow.get("sourceRef"), flow.get("targetRef")
        graph.edges[source].add(target)
        graph.outgoing[source].append(flow)
    for el in graph.nodes.values():
        kind = local(el)
        if kind == "boundaryEvent" and el.get("attachedToRef"):
            graph.edges[el.get("attachedToRef")].add(el.get("id"))
        if kind in SUBPROCESSES:  # event subprocesses included: they start themselves
            graph.starts[el.get("id")] |= _children(el, {"startEvent"})
        elif kind == "adHocSubProcess":
            graph.starts[el.get("id")] |= _children(el, set(FLOW_NODES))
    graph.starts[process.get("id")] |= _children(process, {"startEvent"})  # the process is the root
    for container in [process, *(el for el in graph.nodes.values() if local(el) in SUBPROCESSES)]:
        graph.starts[container.get("id")] |= {c.get("id") for c in container
                                              if local(c) == "subProcess" and c.get("triggeredByEvent") == "true"}
        _link_events(graph, container)
    return graph


def _children(container: Any, kinds: set[str]) -> set[str]:
    return {c.get("id") for c in container if local(c) in kinds and c.get("id")}


def _link_events(graph: _Graph, container: Any) -> None:
    """Throw link events continue at the catch link event of the same name in the same container."""
    def link_name(event: Any) -> str | None:
        definition = event.find("bpmn:linkEventDefinition", NS)
        return None if definition is None else (definition.get("name") or event.get("name"))

    catches = {link_name(c): c.get("id") for c in container if local(c) == "intermediateCatchEvent" and link_name(c)}
    for throw in container:
        name = link_name(throw) if local(throw) == "intermediateThrowEvent" else None
        if name and name in catches:
            graph.edges[throw.get("id")].add(catches[name])
            graph.linked.add(throw.get("id"))


def _reach(graph: _Graph, root: str) -> set[str]:
    seen: set[str] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        for nxt in graph.edges.get(node, set()) | graph.starts.get(node, set()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _exempt(el: Any) -> bool:
    """Compensation handlers and event subprocesses are not part of the normal flow."""
    parent = el.getparent()
    return (el.get("isForCompensation") == "true" or has_definition(el, "compensate")
            or (local(el) == "subProcess" and el.get("triggeredByEvent") == "true")
            or (parent is not None and local(parent) == "adHocSubProcess"))


def _gateway_hits(graph: _Graph) -> list[Hit]:
    out = []
    for node_id, el in graph.nodes.items():
        flows = graph.outgoing.get(node_id, [])
        if local(el) not in _BRANCHING or len(flows) < 2:
            continue
        default = el.get("default")
        if not default:
            out.append(hit("gateway_without_default", el,
                           f"分支网关「{_label(el)}」有 {len(flows)} 条出口但没有默认流：条件都不成立时流程会出错停住；"
                           "请把其中一条设为默认流（default）"))
        for flow in flows:
            condition = flow.find("bpmn:conditionExpression", NS)
            if flow.get("id") != default and (condition is None or not (condition.text or "").strip()):
                out.append(hit("flow_without_condition", flow,
                               f"网关「{_label(el)}」的出口「{_label(flow)}」既不是默认流也没有条件："
                               "请为它写条件表达式，或设为默认流"))
    return out


def _dead_end_hits(graph: _Graph, candidates: Iterable[str]) -> list[Hit]:
    ends = {i for i, el in graph.nodes.items() if local(el) == "endEvent"}
    reverse: dict[str, set[str]] = defaultdict(set)
    for source, targets in graph.edges.items():
        for target in targets:
            reverse[target].add(source)
    finishing = set(ends)
    todo = list(ends)
    while todo:
        for source in reverse.get(todo.pop(), set()):
            if source not in finishing:
                finishing.add(source)
                todo.append(source)
    out = []
    for node_id in candidates:
        el = graph.nodes[node_id]
        if local(el) == "endEvent":
            continue
        if not graph.outgoing.get(node_id) and node_id not in graph.linked:
            out.append(hit("dead_end", el, f"「{_label(el)}」没有出口顺序流，流程会停在这里："
                                           "请连到后续步骤或结束事件"))
        elif node_id not in finishing:
            out.append(hit("dead_end", el, f"从「{_label(el)}」出发无法到达任何结束事件（只能在循环中打转）："
                                           "请给循环一个出口，连到结束事件"))
    return out


def _label(el: Any) -> str:
    return el.get("name") or el.get("id") or "?"
