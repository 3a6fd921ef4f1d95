"""Parse and validate BPMN/DMN files into storable process specs.

Validation = the BPMN XSD (with the spiffworkflow extensions) + SpiffWorkflow's
own parse + no call cycle (engine.runtime.callgraph) + Hedui's conventions (one
executable process per file named after it, lanes name known roles, user tasks
carry a known form key, properties parse, separation-of-duties rules point at
user tasks of the case, expressions compile in the sandbox). Every problem names
file, element id and line.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import VALIDATOR
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.defaults import UserTask

from engine.runtime.callgraph import CallGraph
from engine.runtime.sandbox import source_problems
from engine.runtime.types import BPMN_NS
from engine.runtime.types import SPIFF_NS
from engine.runtime.types import DeployProblem
from engine.runtime.types import ParsedProcess
from engine.runtime.types import UserTaskInfo
from engine.sod import RAISER_SOURCES

NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

#: the ``spiffworkflow:properties`` Hedui understands; anything else is a typo
USER_TASK_PROPERTIES = {"formKey", "dueWorkingDays", "sodNotSameAs", "sodRule", "dualControl", "allowedDecisions",
                        "exchangeUnit", "sodNotRaisedBy"}
EVENT_PROPERTIES = {"correlationKey"}
#: process-level ``spiffworkflow:properties``: ``instanceDueVariable`` names the data variable holding the
#: instance's own deadline (copied into ``workflow_instances.due_at`` on every save)
PROCESS_PROPERTIES = {"instanceDueVariable"}
_ISO_DURATION_BARE = re.compile(r"^R?\d*/?P(T?\d|\d)", re.IGNORECASE)
_PROCESS_ID = re.compile(r"^[a-z][a-z0-9_]*$")
#: SpiffWorkflow parse errors with a code of their own (the lint's warning of the same code is then not repeated)
_SPIFF_CODES = {"Non-default exclusive outgoing sequence flow without condition": "flow_without_condition"}


@dataclass
class _File:
    name: str
    kind: str  # "bpmn" | "dmn"
    tree: Any
    lines: dict[str, int]


def parse_bundle(
    files: Mapping[str, bytes],
    *,
    known_roles: Iterable[str],
    known_forms: Iterable[str],
    processes: Iterable[str] | None = None,
    caller_tasks: Mapping[str, Iterable[str]] | None = None,
) -> tuple[list[ParsedProcess], list[DeployProblem]]:
    """Parse ``files`` (name -> content) and return the processes or every problem found.

    :param processes: the process ids to build (default: every process in a BPMN file).
    :param caller_tasks: process id -> user tasks of its callers outside ``files`` (deployed), which its
        separation-of-duties rules may name as well.
    """
    problems: list[DeployProblem] = []
    parsed_files = [f for f in (_read_file(name, content, problems) for name, content in files.items()) if f]
    if problems:
        return [], problems
    parser = SpiffBpmnParser(validator=VALIDATOR)
    owners: dict[str, str] = {}
    for f in parsed_files:
        _add_to_parser(parser, f, owners, problems)
    declared = {pid for f in parsed_files for pid in _process_ids(f)}
    wanted = list(processes) if processes is not None else [p for f in parsed_files for p in _process_ids(f)]
    problems.extend(p for f in parsed_files for p in _missing_called_processes(f, declared))
    graph = CallGraph.of(((f.name, f.tree) for f in parsed_files if f.kind == "bpmn"), caller_tasks)
    problems.extend(graph.cycle_problems(wanted))
    if problems:
        return [], problems
    by_name = {f.name: f for f in parsed_files}
    results = []
    for process_id in wanted:
        result = _build_process(parser, process_id, owners, by_name, problems)
        if result is not None:
            results.append(result)
    roles, forms = set(known_roles), set(known_forms)
    for f in parsed_files:
        if f.kind == "bpmn":
            problems.extend(_check_conventions(f, roles, forms, graph))
    return ([], problems) if problems else (results, [])


def _read_file(name: str, content: bytes, problems: list[DeployProblem]) -> _File | None:
    kind = "dmn" if name.endswith(".dmn") else "bpmn"
    try:
        tree = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        problems.append(DeployProblem(name, f"XML 格式错误: {exc.msg}", line=exc.lineno, code="xml_malformed"))
        return None
    lines = {el.get("id"): el.sourceline for el in tree.iter() if isinstance(el.tag, str) and el.get("id")}
    return _File(name, kind, tree, lines)


def _process_ids(f: _File) -> list[str]:
    if f.kind != "bpmn":
        return []
    return [p.get("id") for p in f.tree.iterfind("bpmn:process", NS) if p.get("isExecutable", "true") == "true"]


def _add_to_parser(parser: SpiffBpmnParser, f: _File, owners: dict[str, str], problems: list[DeployProblem]) -> None:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if f.kind == "dmn":
                parser.add_dmn_xml(f.tree, filename=f.name)
                return
            parser.add_bpmn_xml(f.tree, filename=f.name)
    except ValidationException as exc:
        problems.append(_from_validation(exc, f))
        return
    # deprecated constructs are refused now rather than breaking on the next engine upgrade
    problems.extend(DeployProblem(f.name, f"已弃用的写法: {w.message}", code="deprecated_construct") for w in caught)
    for process_id in _process_ids(f):
        owners[process_id] = f.name


def _missing_called_processes(f: _File, declared: set[str]) -> list[DeployProblem]:
    """Call activities whose called process is neither in the bundle nor deployed (deploy adds the deployed ones).

    SpiffWorkflow's own refusal names neither the call activity nor its line, and is in English.
    """
    out = []
    for el in f.tree.iter(f"{{{BPMN_NS}}}callActivity"):
        called, name = (el.get("calledElement") or "").strip(), el.get("name") or el.get("id")
        if not called:
            message = f"调用活动「{name}」未指定被调用的流程（calledElement）"
        elif called not in declared:
            message = f"调用活动「{name}」调用的流程「{called}」尚未部署，也不在本次部署的文件中"
        else:
            continue
        out.append(DeployProblem(f.name, message, element_id=el.get("id"), line=el.sourceline,
                                 code="called_process_missing"))
    return out


def _from_validation(exc: ValidationException, f: _File | None = None, fallback: str = "") -> DeployProblem:
    file = exc.file_name or (f.name if f else fallback)
    element = getattr(exc, "id", None) or None
    line = getattr(exc, "line_number", None) or (f.lines.get(element) if f and element else None)
    message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    code = next((c for text, c in _SPIFF_CODES.items() if message.startswith(text)), "bpmn_invalid")
    return DeployProblem(file, message, element_id=element, line=int(line) if line else None, code=code)


def _build_process(
    parser: SpiffBpmnParser,
    process_id: str,
    owners: dict[str, str],
    by_name: dict[str, _File],
    problems: list[DeployProblem],
) -> ParsedProcess | None:
    owner = owners.get(process_id, "")
    try:
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        problems.append(_from_validation(exc, by_name.get(exc.file_name or owner), owner))
        return None
    names = [owner] + sorted({owners[n] for n in subprocess_specs if n in owners} - {owner})
    names += _dmn_files_for(by_name, [by_name[n] for n in names])
    serialized, version = serialize_spec(spec, subprocess_specs)
    tasks = tuple(
        UserTaskInfo(s.name, ts.bpmn_id, ts.bpmn_name or ts.bpmn_id, ts.lane, dict(_properties(ts)))
        for s in [spec, *subprocess_specs.values()]
        for ts in s.task_specs.values()
        if isinstance(ts, UserTask)
    )
    problems.extend(_duplicate_user_tasks(tasks, owners, by_name))
    trees = [by_name[n].tree for n in names if n in by_name and by_name[n].kind == "bpmn"]
    has_timers = any(next(t.iter(f"{{{BPMN_NS}}}timerEventDefinition"), None) is not None for t in trees)
    has_messages = any(next(t.iter(f"{{{BPMN_NS}}}messageEventDefinition", f"{{{BPMN_NS}}}receiveTask"), None)
                       is not None for t in trees)
    own = by_name.get(owner)
    properties = process_properties(own, process_id) if own is not None else {}
    return ParsedProcess(process_id, spec.description or process_id, tuple(names), serialized, version, tasks,
                         has_timers=has_timers, has_messages=has_messages, properties=properties)


def _duplicate_user_tasks(tasks: Iterable[UserTaskInfo], owners: Mapping[str, str],
                          by_name: Mapping[str, _File]) -> list[DeployProblem]:
    """A called process's user task with the id of another of the case's user tasks (caller or other callee).

    Hedui knows a case's tasks by BPMN id (task rows, separation-of-duties rules, names, migration):
    two tasks of one case with one id would take each other's rules.
    """
    first: dict[str, str] = {}
    out = []
    for task in tasks:
        other = first.setdefault(task.bpmn_id, task.process_id)
        if other == task.process_id:
            continue
        file = by_name.get(owners.get(task.process_id, ""))
        out.append(DeployProblem(
            file.name if file else owners.get(other, ""),
            f"用户任务 ID「{task.bpmn_id}」在流程「{other}」和被调用的流程「{task.process_id}」中重复；"
            "同一案件的用户任务 ID 须唯一", element_id=task.bpmn_id,
            line=file.lines.get(task.bpmn_id) if file else None, code="user_task_id_duplicate"))
    return out


def process_properties(f: _File, process_id: str) -> dict[str, str]:
    """The ``spiffworkflow:properties`` directly on a ``bpmn:process`` (SpiffWorkflow keeps none of them)."""
    for process in f.tree.iterfind("bpmn:process", NS):
        if process.get("id") == process_id:
            return _own_properties(process)
    return {}


def _own_properties(process: Any) -> dict[str, str]:
    path = "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
    return {p.get("name"): p.get("value") for p in process.iterfind(path, NS)}


def _dmn_files_for(by_name: dict[str, _File], bpmn_files: list[_File]) -> list[str]:
    wanted = set()
    for f in bpmn_files:
        for el in f.tree.iter(f"{{{SPIFF_NS}}}calledDecisionId"):
            wanted.add((el.text or "").strip())
    out = []
    for f in by_name.values():
        if f.kind == "dmn" and any(el.get("id") in wanted for el in f.tree.iter() if isinstance(el.tag, str)):
            out.append(f.name)
    return sorted(out)


def _properties(task_spec: Any) -> Mapping[str, str]:
    return getattr(task_spec, "extensions", {}).get("properties", {}) or {}


def serialize_spec(spec: Any, subprocess_specs: Mapping[str, Any]) -> tuple[str, str]:
    """Return the JSON of ``{"spec", "subprocess_specs"}`` and the serializer version."""
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    full = json.loads(serializer.serialize_json(BpmnWorkflow(spec, dict(subprocess_specs))))
    body = {"spec": full["spec"], "subprocess_specs": full["subprocess_specs"]}
    return json.dumps(body, separators=(",", ":")), serializer.VERSION


# --- Hedui conventions ---------------------------------------------------------------


def _check_conventions(f: _File, roles: set[str], forms: set[str], graph: CallGraph) -> list[DeployProblem]:
    problems: list[DeployProblem] = []
    processes = f.tree.findall("bpmn:process", NS)
    executable = [p for p in processes if p.get("isExecutable", "true") == "true"]
    stem = PurePath(f.name).stem
    if len(executable) != 1 or executable[0].get("id") != stem:
        ids = ", ".join(p.get("id") or "（无 ID）" for p in executable) or "无"
        message = f"每个文件须且仅须包含一个与文件名同名的可执行流程（{stem}），实际为: {ids}"
        problems.append(DeployProblem(f.name, message, code="file_name_mismatch"))
    for process in executable:
        problems.extend(_check_process(f, process, roles, forms, graph.case_user_tasks(process.get("id"))))
    return problems


def _check_process(f: _File, process: Any, roles: set[str], forms: set[str],
                   case_tasks: set[str]) -> list[DeployProblem]:
    """:param case_tasks: the user tasks a case running ``process`` may have (``sodNotSameAs`` may name any)."""
    problems = []
    pid = process.get("id")
    if not _PROCESS_ID.match(pid or ""):
        problems.append(_at(f, pid, f"流程 ID「{pid}」须为小写 snake_case", code="process_id_not_snake_case"))
    lanes = {ref.text.strip(): lane.get("name") for lane in process.iter(f"{{{BPMN_NS}}}lane")
             for ref in lane.iterfind("bpmn:flowNodeRef", NS) if ref.text}
    for lane in process.iter(f"{{{BPMN_NS}}}lane"):
        if lane.get("name") not in roles:
            problems.append(_at(f, lane.get("id"), f"泳道名称「{lane.get('name')}」不是已登记的角色代码",
                                code="lane_role_unknown"))
    for task in process.iter(f"{{{BPMN_NS}}}userTask"):
        problems.extend(_check_user_task(f, task, lanes.get(task.get("id")), forms, case_tasks))
    problems.extend(_check_expressions(f, process))
    problems.extend(_check_process_properties(f, process))
    return problems


def _check_process_properties(f: _File, process: Any) -> list[DeployProblem]:
    pid, props = process.get("id"), _own_properties(process)
    unknown = sorted({str(name) for name in props} - PROCESS_PROPERTIES)
    out = []
    if unknown:
        out.append(_at(f, pid, f"未知的流程属性 {', '.join(unknown)}；允许: {', '.join(sorted(PROCESS_PROPERTIES))}",
                       code="process_property_unknown"))
    variable = props.get("instanceDueVariable")
    if variable is not None and not (variable.isidentifier() and variable.isascii()):
        out.append(_at(f, pid, f"instanceDueVariable 须为数据变量名，实际为「{variable}」",
                       code="instance_due_variable_invalid"))
    return out


def _check_user_task(
        f: _File, task: Any, lane: str | None, forms: set[str], case_tasks: set[str]) -> list[DeployProblem]:
    tid = task.get("id")
    props = {p.get("name"): p.get("value") for p in task.iter(f"{{{SPIFF_NS}}}property")}
    out = []
    if lane is None:
        out.append(_at(f, tid, "用户任务必须位于某个泳道（泳道名即角色）中", code="user_task_without_lane"))
    unknown = sorted({str(name) for name in props} - USER_TASK_PROPERTIES)  # a nameless property: "None"
    if unknown:
        out.append(_at(f, tid, f"未知的任务属性 {', '.join(unknown)}；允许: {', '.join(sorted(USER_TASK_PROPERTIES))}",
                       code="task_property_unknown"))
    form_key = props.get("formKey")
    if not form_key:
        out.append(_at(f, tid, "用户任务缺少 formKey 属性", code="form_key_missing"))
    elif form_key not in forms:
        out.append(_at(f, tid, f"表单「{form_key}」不存在于 forms/", code="form_unknown"))
    out.extend(_check_property_values(f, tid, props, case_tasks))
    return out


def _check_property_values(f: _File, tid: str, props: dict[str, str], case_tasks: set[str]) -> list[DeployProblem]:
    out = []
    due = props.get("dueWorkingDays")
    if due is not None and not (due.isdigit() and 0 < int(due) <= 366):
        out.append(_at(f, tid, f"dueWorkingDays 须为 1–366 的整数，实际为「{due}」", code="due_working_days_invalid"))
    for ref in _split(props.get("sodNotSameAs")):
        if ref not in case_tasks:
            out.append(_at(f, tid, f"不相容规则引用的任务「{ref}」在本流程中不存在", code="sod_reference_unknown"))
    if props.get("dualControl", "false") not in ("true", "false"):
        out.append(_at(f, tid, "dualControl 须为 true 或 false", code="dual_control_invalid"))
    elif props.get("dualControl") == "true" and not _split(props.get("sodNotSameAs")):
        out.append(_at(f, tid, "dualControl=true 须用 sodNotSameAs 指明由谁准备（复核人不能是准备人）",
                        code="dual_control_without_sod"))
    if props.get("exchangeUnit") and source_problems(props["exchangeUnit"], "eval"):
        out.append(_at(f, tid, "exchangeUnit 表达式无法在受限环境中编译", code="expression_invalid"))
    if "sodNotRaisedBy" in props and props["sodNotRaisedBy"] not in RAISER_SOURCES:
        out.append(_at(f, tid, f"sodNotRaisedBy 须为 {', '.join(sorted(RAISER_SOURCES))} 之一",
                       code="sod_raised_by_invalid"))
    allowed = _split(props.get("allowedDecisions"))
    if any(d not in ("accept", "return", "terminate") for d in allowed):
        out.append(_at(f, tid, "allowedDecisions 只能取 accept、return、terminate", code="allowed_decisions_invalid"))
    return out


def _check_expressions(f: _File, process: Any) -> list[DeployProblem]:
    """Compile every expression and script with the sandbox's own rules (what runs is what was checked)."""
    out = []
    modes = {"conditionExpression": "eval", "timeDate": "eval", "timeDuration": "eval", "timeCycle": "eval",
             "script": "exec"}
    for tag, mode in modes.items():
        for el in process.iter(f"{{{BPMN_NS}}}{tag}"):
            text = (el.text or "").strip()
            owner = _owner_id(el)
            if tag.startswith("time") and _ISO_DURATION_BARE.match(text):
                out.append(_at(f, owner, f"定时表达式「{text}」是 Python 表达式，ISO 字面量须加引号: \"{text}\"", el,
                              code="timer_literal_unquoted"))
                continue
            errors = source_problems(text, mode) if text else ["表达式为空"]
            if errors:
                out.append(_at(f, owner, f"表达式无法在受限环境中编译: {errors[0]}", el, code="expression_invalid"))
    for el in process.iter(f"{{{SPIFF_NS}}}messagePayload", f"{{{SPIFF_NS}}}preScript", f"{{{SPIFF_NS}}}postScript"):
        text = (el.text or "").strip()
        mode = "eval" if el.tag.endswith("messagePayload") else "exec"
        errors = source_problems(text, mode) if text else []
        if errors:
            out.append(_at(f, _owner_id(el), f"表达式无法在受限环境中编译: {errors[0]}", el, code="expression_invalid"))
    return out


def _owner_id(el: Any) -> str | None:
    """The id of the flow element an expression belongs to (events rather than their definitions)."""
    while el is not None and (not el.get("id") or str(el.tag).endswith("EventDefinition")):
        el = el.getparent()
    return el.get("id") if el is not None else None


def _at(f: _File, element_id: str | None, message: str, el: Any = None, *, code: str) -> DeployProblem:
    line = el.sourceline if el is not None else f.lines.get(element_id or "")
    return DeployProblem(f.name, message, element_id=element_id, line=line, code=code)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]
