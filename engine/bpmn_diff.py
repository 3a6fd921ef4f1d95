"""Semantic diff of two deployed versions' files: which BPMN/DMN elements were added, removed or changed.

Elements are matched by id within a file of the same name. An element's *facets* are what a
designer means by "its content": name, lane, incoming/outgoing flows, condition expression,
script, timer expression, ``spiffworkflow:properties``, documentation, default flow, other
attributes and extension elements. Diagram interchange (``bpmndi``/``dmndi``/``dc``/``di``:
positions and sizes) is compared separately, so a file whose only change is its layout says
"仅图形布局变化". A unified text diff per file is the secondary view. Pure: lxml and difflib only.
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

from lxml import etree

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
_SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"

#: element kinds as designers know them; anything else shows its BPMN/DMN tag
KIND_NAMES = {
    "definitions": "定义文件", "process": "流程", "collaboration": "协作", "participant": "池（参与者）",
    "laneSet": "泳道集", "lane": "泳道", "startEvent": "开始事件", "endEvent": "结束事件",
    "intermediateCatchEvent": "中间捕获事件", "intermediateThrowEvent": "中间抛出事件", "boundaryEvent": "边界事件",
    "userTask": "用户任务", "scriptTask": "脚本任务", "serviceTask": "服务任务", "manualTask": "人工任务",
    "businessRuleTask": "业务规则任务", "sendTask": "发送任务", "receiveTask": "接收任务", "task": "任务",
    "callActivity": "调用活动", "subProcess": "子流程", "exclusiveGateway": "排他网关", "parallelGateway": "并行网关",
    "inclusiveGateway": "包容网关", "eventBasedGateway": "事件网关", "sequenceFlow": "顺序流",
    "messageFlow": "消息流", "message": "消息", "signal": "信号", "error": "错误定义", "escalation": "升级定义",
    "correlationProperty": "关联属性", "dataObject": "数据对象", "dataObjectReference": "数据对象引用",
    "dataStoreReference": "数据存储引用", "property": "属性", "textAnnotation": "文本注释", "association": "关联",
    "decision": "决策", "decisionTable": "决策表", "input": "输入列", "output": "输出列", "rule": "规则",
    "inputEntry": "输入条件", "outputEntry": "输出结果", "inputExpression": "输入表达式",
}
_EVENT_KINDS = {"timerEventDefinition": "定时", "messageEventDefinition": "消息", "errorEventDefinition": "错误",
                "signalEventDefinition": "信号", "escalationEventDefinition": "升级",
                "terminateEventDefinition": "终止", "conditionalEventDefinition": "条件"}
_EVENT_TAGS = ("startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent")
#: children folded into their parent even when a modeler gave them an id
_PART_SUFFIXES = ("EventDefinition", "LoopCharacteristics")
_PART_TAGS = {"documentation", "conditionExpression", "script", "incoming", "outgoing", "flowNodeRef",
              "extensionElements", "timeDate", "timeDuration", "timeCycle", "text"}
#: attributes with their own facet (the rest are shown as "属性 <name>")
_ATTR_FACETS = {"name": "名称", "default": "默认流", "sourceRef": "起点", "targetRef": "终点"}
#: attributes a modeler rewrites on every save
_IGNORED_ATTRS = {"id", "exporter", "exporterVersion"}
_DI_NAMESPACES = {"DI", "DC", "BPMNDI", "DMNDI"}
LAYOUT_ONLY = "仅图形布局变化"
FORMAT_ONLY = "仅文本格式变化（无语义与布局变化）"


@dataclass(frozen=True)
class Change:
    """One facet of one element that differs: ``key`` is stable (API), ``label`` Chinese."""

    key: str
    label: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ElementDiff:
    """An element added, removed or changed (``status``), with its kind in Chinese."""

    status: str  # added | removed | changed
    element_id: str
    kind: str
    kind_name: str
    name: str | None
    changes: tuple[Change, ...] = ()

    @property
    def status_name(self) -> str:
        return {"added": "新增", "removed": "删除", "changed": "修改"}[self.status]


@dataclass(frozen=True)
class FileDiff:
    """One file of the two versions: its status, element changes, layout change and text diff."""

    filename: str
    status: str  # added | removed | changed | unchanged
    elements: tuple[ElementDiff, ...]
    layout_changed: bool
    text_diff: str

    @property
    def summary(self) -> str | None:
        """"仅图形布局变化" (or formatting only) when the file changed without any semantic change."""
        if self.status != "changed" or self.elements:
            return None
        return LAYOUT_ONLY if self.layout_changed else FORMAT_ONLY


@dataclass(frozen=True)
class DefinitionDiff:
    """All files of two versions compared (``old`` and ``new`` are labels, e.g. 第 1 版)."""

    files: tuple[FileDiff, ...]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return all(f.status == "unchanged" for f in self.files)

    @property
    def semantic_changes(self) -> int:
        return sum(len(f.elements) + (f.status in ("added", "removed")) for f in self.files)

    @property
    def summary(self) -> str | None:
        """A one-line verdict when nothing semantic changed (identical, layout only, formatting only)."""
        if self.identical:
            return "两个版本的文件完全相同"
        if self.semantic_changes:
            return None
        return LAYOUT_ONLY if any(f.layout_changed for f in self.files) else FORMAT_ONLY


def diff_files(old: Mapping[str, str], new: Mapping[str, str], *, old_label: str = "旧版本",
               new_label: str = "新版本") -> DefinitionDiff:
    """Compare two versions' files (name → XML text), file by file, element by element."""
    files = tuple(_diff_file(name, old.get(name), new.get(name), old_label, new_label)
                  for name in sorted(set(old) | set(new)))
    counts = {"added": 0, "removed": 0, "changed": 0}
    for f in files:
        for element in f.elements:
            counts[element.status] += 1
    return DefinitionDiff(files, counts)


def _diff_file(name: str, old: str | None, new: str | None, old_label: str, new_label: str) -> FileDiff:
    text = text_diff(name, old or "", new or "", old_label, new_label)
    if old is None or new is None:
        status = "added" if old is None else "removed"
        return FileDiff(name, status, (), False, text)
    if old == new:
        return FileDiff(name, "unchanged", (), False, "")
    before, after = _parse(old), _parse(new)
    elements = diff_elements(before, after)
    return FileDiff(name, "changed", elements, _layout(before) != _layout(after), text)


def text_diff(name: str, old: str, new: str, old_label: str, new_label: str) -> str:
    """The unified diff of one file (three lines of context)."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=f"{name}（{old_label}）",
                                 tofile=f"{name}（{new_label}）", lineterm="")
    return "\n".join(lines)


def _parse(xml: str) -> etree._Element | None:
    try:
        return etree.fromstring(xml.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError:
        return None  # deployed files always parse; a broken one simply has no elements to compare


@dataclass(frozen=True)
class _Element:
    kind: str
    kind_name: str
    name: str | None
    facets: dict[str, tuple[str, str]]  # key -> (label, value)


def diff_elements(before: etree._Element | None, after: etree._Element | None) -> tuple[ElementDiff, ...]:
    """Elements matched by id: added and changed in the new file's order, then removed ones."""
    old, new = _elements(before), _elements(after)
    out: list[ElementDiff] = []
    for element_id, element in new.items():
        previous = old.get(element_id)
        if previous is None:
            out.append(ElementDiff("added", element_id, element.kind, element.kind_name, element.name))
            continue
        changes = _changes(previous, element)
        if changes or previous.kind != element.kind:
            if previous.kind != element.kind:
                changes = (Change("kind", "类型", previous.kind_name, element.kind_name), *changes)
            out.append(ElementDiff("changed", element_id, element.kind, element.kind_name, element.name, changes))
    out.extend(ElementDiff("removed", element_id, e.kind, e.kind_name, e.name)
               for element_id, e in old.items() if element_id not in new)
    return tuple(out)


def _changes(old: _Element, new: _Element) -> tuple[Change, ...]:
    keys = list(old.facets) + [k for k in new.facets if k not in old.facets]
    changes = []
    for key in keys:
        before, after = old.facets.get(key), new.facets.get(key)
        old_value, new_value = (before[1] if before else None), (after[1] if after else None)
        if old_value != new_value:
            label = after[0] if after else before[0] if before else key
            changes.append(Change(key, label, old_value, new_value))
    return tuple(changes)


def _is_di(el: etree._Element) -> bool:
    """Diagram interchange (BPMNDI, DMNDI, DC, DI namespaces): positions and sizes, not process content."""
    ns = (etree.QName(el).namespace or "").upper().rstrip("/")
    return ns.rsplit("/", 1)[-1] in _DI_NAMESPACES


def _local(el: etree._Element) -> str:
    name: str = etree.QName(el).localname
    return name


def _is_part(tag: str) -> bool:
    return tag in _PART_TAGS or tag.endswith(_PART_SUFFIXES)


def _elements(root: etree._Element | None) -> dict[str, _Element]:
    if root is None:
        return {}
    lanes, flows = _lanes_and_flows(root)
    out: dict[str, _Element] = {}
    for el in root.iter(etree.Element):
        element_id = el.get("id")
        if not element_id or _is_di(el) or _is_part(_local(el)) or _inside_di_or_part(el):
            continue
        facets = _facets(el, lanes.get(element_id), flows)
        out[element_id] = _Element(_local(el), kind_name(el), el.get("name"), facets)
    return out


def _inside_di_or_part(el: etree._Element) -> bool:
    """Inside diagram interchange, or inside a part folded into its element (an event definition, ...)."""
    return any(_is_di(a) or _is_part(_local(a)) for a in el.iterancestors())


def kind_name(el: etree._Element) -> str:
    """The element's kind in Chinese; events are named by their definition (定时事件, 消息边界事件, ...)."""
    tag = _local(el)
    base = KIND_NAMES.get(tag, tag)
    if tag not in _EVENT_TAGS:
        return base
    prefixes = [name for child in el for t, name in _EVENT_KINDS.items() if _local(child) == t]
    if not prefixes:
        return base
    if tag in ("intermediateCatchEvent", "intermediateThrowEvent"):
        return f"{prefixes[0]}事件"
    return f"{prefixes[0]}{base}"


def _lanes_and_flows(root: etree._Element) -> tuple[dict[str, str], dict[str, tuple[list[str], list[str]]]]:
    """Lane name per flow node, and (incoming, outgoing) flow ids per node from the flows' refs."""
    lanes: dict[str, str] = {}
    for lane in root.iter(etree.Element):
        if _local(lane) == "lane" and not _is_di(lane):
            for ref in lane:
                if _local(ref) == "flowNodeRef" and ref.text:
                    lanes[ref.text.strip()] = lane.get("name") or lane.get("id") or ""
    flows: dict[str, tuple[list[str], list[str]]] = {}
    for flow in root.iter(etree.Element):
        if _local(flow) == "sequenceFlow" and not _is_di(flow):
            flows.setdefault(flow.get("sourceRef", ""), ([], []))[1].append(flow.get("id", ""))
            flows.setdefault(flow.get("targetRef", ""), ([], []))[0].append(flow.get("id", ""))
    return lanes, flows


def _facets(el: etree._Element, lane: str | None, flows: dict[str, tuple[list[str], list[str]]]
            ) -> dict[str, tuple[str, str]]:
    facets: dict[str, tuple[str, str]] = {}
    for attr, value in sorted(el.attrib.items()):
        attr = etree.QName(attr).localname
        if attr not in _IGNORED_ATTRS:
            facets[attr] = (_ATTR_FACETS.get(attr, f"属性 {attr}"), value)
    if lane is not None:
        facets["lane"] = ("泳道", lane)
    incoming, outgoing = flows.get(el.get("id", ""), ([], []))
    if incoming:
        facets["incoming"] = ("流入", ", ".join(sorted(incoming)))
    if outgoing:
        facets["outgoing"] = ("流出", ", ".join(sorted(outgoing)))
    for child in el:
        if not isinstance(child.tag, str) or _is_di(child):
            continue
        tag = _local(child)
        if child.get("id") and not _is_part(tag):
            continue  # an element of its own
        _child_facets(facets, tag, child)
    return facets


def _child_facets(facets: dict[str, tuple[str, str]], tag: str, child: etree._Element) -> None:
    if tag in ("incoming", "outgoing"):
        return  # derived from the flows' sourceRef/targetRef above
    if tag == "flowNodeRef":
        _append(facets, "flow_node_refs", "包含节点", (child.text or "").strip())
    elif tag == "documentation":
        _append(facets, "documentation", "文档说明", _text(child))
    elif tag == "conditionExpression":
        facets["condition"] = ("条件表达式", _text(child))
    elif tag == "script":
        facets["script"] = ("脚本", _text(child))
    elif tag == "text":  # DMN entries and expressions
        facets["text"] = ("表达式", _text(child))
    elif tag == "extensionElements":
        _extension_facets(facets, child)
    elif tag == "timerEventDefinition":
        for part in child:
            if isinstance(part.tag, str):
                facets["timer"] = ("定时表达式", f"{_local(part)}: {_text(part)}")
    elif tag.endswith("EventDefinition"):
        facets[f"event:{tag}"] = ("事件定义", _canonical(child))
    else:
        _append(facets, f"child:{tag}", tag, _canonical(child))


def _extension_facets(facets: dict[str, tuple[str, str]], ext: etree._Element) -> None:
    for item in ext:
        if not isinstance(item.tag, str):
            continue
        tag = _local(item)
        if tag == "properties" and etree.QName(item).namespace == _SPIFF_NS:
            for prop in item:
                if isinstance(prop.tag, str) and prop.get("name"):
                    facets[f"property:{prop.get('name')}"] = (f"属性 {prop.get('name')}", prop.get("value", ""))
        elif tag in ("preScript", "postScript"):
            facets[tag] = ({"preScript": "前置脚本", "postScript": "后置脚本"}[tag], _text(item))
        else:
            _append(facets, f"extension:{tag}", f"扩展 {tag}", _canonical(item))


def _append(facets: dict[str, tuple[str, str]], key: str, label: str, value: str) -> None:
    if key in facets:
        value = facets[key][1] + "\n" + value
    facets[key] = (label, value)


def _text(el: etree._Element) -> str:
    """Text content with indentation and surrounding blank lines removed (re-indenting is no change)."""
    raw = "".join(el.itertext())
    return textwrap.dedent(raw.replace("\r\n", "\n")).strip()


def _canonical(el: etree._Element) -> str:
    """A stable one-line form of a subtree: tag, attributes (without part ids), texts."""
    attrs = " ".join(f"{etree.QName(k).localname}={v!r}" for k, v in sorted(el.attrib.items()) if k != "id")
    inner = " ".join(_canonical(c) for c in el if isinstance(c.tag, str))
    text = (el.text or "").strip()
    return f"<{_local(el)}{' ' + attrs if attrs else ''}>{text}{inner}</{_local(el)}>"


def _layout(root: etree._Element | None) -> list[str]:
    """The diagram interchange part of a file, canonicalised, to tell layout changes from none."""
    if root is None:
        return []
    return [_canonical(el) for el in root if isinstance(el.tag, str) and _is_di(el)]
