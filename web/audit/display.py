"""How the audit pages show recorded data: form labels instead of field names, personal data masked.

Submitted form data and process data can carry ID numbers (the household's subjects) and account
numbers. The pages mask every such value (SEC-13) unless the auditor unmasked the case for a stated
purpose, which is recorded (SEC-12); the exports keep the record as it is (exports are recorded too).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from forms.ids import mask_id
from web.inbox.diagram import BPMN_NS
from web.inbox.taskform import task_form

#: an 18-character resident ID number, or a long run of digits (bank card and account numbers)
_PERSONAL = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{12,})(?![0-9A-Za-z])")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_YES_NO = {True: "是", False: "否"}


def mask_text(text: str) -> str:
    return _PERSONAL.sub(lambda m: mask_id(m.group(0)), text)


def masked(value: Any) -> Any:
    """``value`` with every ID or account number in it masked (dicts and lists walked)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 12:
        return mask_id(str(value))
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


@dataclass(frozen=True)
class DataLine:
    name: str
    label: str
    value: str


def data_lines(data: Any, form_key: str | None = None, *, unmasked: bool = False) -> list[DataLine]:
    """Submitted or process data as ``label: value`` lines, using the task form's labels and choice names."""
    if not isinstance(data, dict):
        return [] if data is None else [DataLine("", "内容", _text(data if unmasked else masked(data)))]
    labels: dict[str, str] = {}
    choices: dict[str, dict[str, str]] = {}
    for spec in task_form(form_key, {}, "").fields if form_key else ():
        labels[spec.name] = spec.label
        choices[spec.name] = dict(spec.choices)
    lines = []
    items: dict[str, Any] = data  # a JSON object: its keys are text
    for name, value in items.items():
        shown = value if unmasked else masked(value)
        if isinstance(shown, str) and shown in choices.get(name, {}):
            shown = f"{choices[name][shown]}（{shown}）"
        lines.append(DataLine(name, labels.get(name, name), _text(shown)))
    return lines


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return _YES_NO[value]
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def element_names(xml: str | None) -> dict[str, str]:
    """BPMN element id -> its name (or type) in the pinned diagram, for naming replayed steps."""
    if not xml:
        return {}
    try:
        root = etree.fromstring(xml.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError:
        return {}
    names: dict[str, str] = {}
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        element_id = element.get("id")
        if element_id and element.get("name"):
            names[element_id] = element.get("name")
    return names


def containers(xml: str | None, element_ids: list[str]) -> list[str]:
    """The sub-processes enclosing any of ``element_ids`` (a waiting timer inside the exchange sub-process
    means that sub-process is running), outermost first."""
    if not xml or not element_ids:
        return []
    try:
        root = etree.fromstring(xml.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError:
        return []
    found: dict[str, None] = {}
    wanted = set(element_ids)
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        if element.get("id") not in wanted:
            continue
        chain = [a.get("id") for a in element.iterancestors(f"{{{BPMN_NS}}}subProcess", f"{{{BPMN_NS}}}transaction")]
        for ancestor in reversed(chain):
            if ancestor:
                found.setdefault(ancestor, None)
    return list(found)
