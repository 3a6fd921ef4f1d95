"""Lint rules over one process's elements: user tasks, timers, names, ids, diagram interchange, data.

Each rule is a small function ``(diagram, process) -> list[Hit]``; docs/process-design.md "Lint" lists
them with why and how to fix. None repeats a check deploy already refuses (engine/runtime/parsing.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine.bpmn_lint_model import BPMN_NS
from engine.bpmn_lint_model import FLOW_NODES
from engine.bpmn_lint_model import NS
from engine.bpmn_lint_model import SPIFF_NS
from engine.bpmn_lint_model import Diagram
from engine.bpmn_lint_model import Hit
from engine.bpmn_lint_model import documentation
from engine.bpmn_lint_model import flow_nodes
from engine.bpmn_lint_model import has_cjk
from engine.bpmn_lint_model import has_definition
from engine.bpmn_lint_model import hit
from engine.bpmn_lint_model import is_snake_case
from engine.bpmn_lint_model import local
from engine.bpmn_lint_model import owner
from engine.bpmn_lint_model import properties
from engine.runtime.sandbox import source_problems

#: ids bpmn-js generates for the arrows and lanes a designer draws (``Flow_0x1y2z3``, ``Lane_1a2b3c4``): exempt from
#: id_not_snake_case, as neither appears in the history, SoD rules or forms (a lane is known by its name, §2)
GENERATED_IDS = {"sequenceFlow": re.compile(r"^(Sequence)?Flow_[0-9a-z]{7}$"),
                 "lane": re.compile(r"^Lane_[0-9a-z]{7}$")}
#: what staff must not read in 办理说明 (same pattern as tests/web/test_demo_crawl.py): variable, job, issue names
_CODE_WORDS = re.compile(r"[a-z]+(?:_[a-z0-9]+)+|[a-z]+\.[a-z_]+|#\d+")
_QUOTED = re.compile(r"""^(['"])(.*)\1$""", re.S)
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                       r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_DURATION_SECONDS = (365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1)
_NAIVE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?$")
#: role parties whose holders are never a case's candidates (docs §2)
_NO_CANDIDATES = {"none", "sharing"}


def user_task_hits(d: Diagram, process: Any) -> list[Hit]:
    """Deadline, 办理说明 and its wording for every user task."""
    out = []
    for task in process.iter(f"{{{BPMN_NS}}}userTask"):
        name = task.get("name") or task.get("id")
        if "dueWorkingDays" not in properties(task) and not _has_timer_boundary(process, task):
            out.append(hit("user_task_without_deadline", task, f"用户任务「{name}」没有办理时限：请设置 dueWorkingDays"
                                                               "（工作日，PR-5、PS-10），或挂一个边界定时事件作为期限"))
        doc = documentation(task)
        if not doc:
            out.append(hit("user_task_without_documentation", task, f"用户任务「{name}」没有办理说明：请用中文写 "
                                                                    "bpmn:documentation（查什么、依据哪条规定），办理页面会显示给经办人"))
        elif _CODE_WORDS.search(doc):
            words = "、".join(dict.fromkeys(_CODE_WORDS.findall(doc)))
            out.append(hit("documentation_not_for_staff", task, f"用户任务「{name}」的办理说明含有变量、作业或问题编号"
                                                                f"（{words}）：办理说明是给经办人看的，请改用中文说明"))
    return out


def _has_timer_boundary(process: Any, task: Any) -> bool:
    """A timer boundary event on the task or on a subprocess around it bounds how long the task can wait."""
    bounded = {task.get("id")}
    parent = task.getparent()
    while parent is not None and parent is not process:
        bounded.add(parent.get("id"))
        parent = parent.getparent()
    return any(b.get("attachedToRef") in bounded and has_definition(b, "timer")
               for b in process.iter(f"{{{BPMN_NS}}}boundaryEvent"))


def timer_hits(d: Diagram, process: Any) -> list[Hit]:
    """Calendar-time durations of a day or more, and date literals without a time zone (docs §4)."""
    out = []
    for el in process.iter(f"{{{BPMN_NS}}}timeDuration", f"{{{BPMN_NS}}}timeCycle", f"{{{BPMN_NS}}}timeDate"):
        quoted = _QUOTED.match((el.text or "").strip())
        if quoted is None:
            continue  # an expression (or a bare literal, which deploy refuses)
        literal, event = quoted.group(2).strip(), owner(el)
        if local(el) == "timeDate":
            if _NAIVE_DATETIME.match(literal):
                out.append(hit("timer_without_timezone", event,
                               f"定时时间「{literal}」没有时区，会按服务器所在时区理解："
                               "请写明时区，如 \"2026-12-31T23:59:59+08:00\""))
        elif _seconds(literal) >= 86400:
            out.append(hit("calendar_duration_timer", event,
                           f"定时「{literal}」按日历时间计算（含节假日）：法定时限须按工作日，"
                           "请在脚本中用 add_working_days(now(), n) 算出期限，再用 timeDate 引用"))
    return out


def _seconds(literal: str) -> float:
    """The length of an ISO 8601 duration (the last ``P…`` part of a cycle), 0 when it is none."""
    part = next((p for p in reversed(literal.upper().split("/")) if p.startswith("P")), "")
    match = _DURATION.match(part)
    if match is None:
        return 0
    return sum(float(v) * unit for v, unit in zip(match.groups(), _DURATION_SECONDS, strict=True) if v)


def name_hits(d: Diagram, process: Any) -> list[Hit]:
    """Processes, pools and user tasks carry Chinese names (lanes are exempt: their name is the role code)."""
    named = [process, *d.participants(process.get("id")), *process.iter(f"{{{BPMN_NS}}}userTask")]
    kinds = {"process": "流程", "participant": "泳池", "userTask": "用户任务"}
    out = []
    for el in named:
        kind, name = kinds[local(el) or ""], (el.get("name") or "").strip()
        if not name:
            out.append(hit("missing_name", el, f"{kind}「{el.get('id')}」没有名称：请填写中文名称，经办人看到的是名称"))
        elif not has_cjk(name):
            out.append(hit("name_not_chinese", el, f"{kind}「{el.get('id')}」的名称「{name}」不含中文：请改为中文名称"))
    return out


def id_hits(d: Diagram, process: Any) -> list[Hit]:
    """Flow nodes, lanes and sequence flows have snake_case ids (the process id itself is a deploy check)."""
    checked = [*flow_nodes(process), *process.iter(f"{{{BPMN_NS}}}lane"), *process.iter(f"{{{BPMN_NS}}}sequenceFlow")]
    out = []
    for el in checked:
        element_id = el.get("id")
        if element_id and not is_snake_case(element_id):
            generated = GENERATED_IDS.get(local(el) or "")
            if generated is not None and generated.match(element_id):
                continue
            out.append(hit("id_not_snake_case", el,
                           f"ID「{element_id}」不是小写 snake_case：ID 会出现在办理历史、不相容规则和测试中，"
                           "请改为如 intake_check 的形式（同时修改引用它的地方）"))
    return out


def diagram_hits(d: Diagram, process: Any) -> list[Hit]:
    """Every node, lane, flow and the pool is drawn (docs §1): bpmn-js shows only what has DI."""
    if not d.has_diagram():
        return [hit("missing_diagram", process, "文件没有图形信息（BPMNDiagram）：经办人和审计人员无法查看流程图，"
                                                "请用建模工具（bpmn-js）打开并保存")]
    drawn, out = d.drawn(), []
    pools = d.participants(process.get("id"))
    if not pools:
        out.append(hit("missing_diagram", process,
                       "流程没有泳池（collaboration 中引用本流程的 participant）：请添加泳池"))
    shaped = [*pools, *process.iter(f"{{{BPMN_NS}}}lane"), *flow_nodes(process)]
    for el in shaped:
        if el.get("id") not in drawn:
            out.append(hit("missing_diagram", el, f"「{el.get('name') or el.get('id')}」没有图形（BPMNShape）："
                                                  "流程图中看不到它，请在建模工具中重新放置"))
    for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        if flow.get("id") not in drawn:
            out.append(hit("missing_diagram", flow, f"顺序流「{flow.get('id')}」没有连线图形（BPMNEdge）："
                                                    "流程图中看不到它，请在建模工具中重新连线"))
    return out


def lane_hits(d: Diagram, process: Any) -> list[Hit]:
    """A user task in the lane of an oversight or sharing role has no candidates (docs §2)."""
    user_tasks = {t.get("id") for t in process.iter(f"{{{BPMN_NS}}}userTask")}
    out = []
    for lane in process.iter(f"{{{BPMN_NS}}}lane"):
        party = d.role_parties.get(lane.get("name") or "")
        refs = {(r.text or "").strip() for r in lane.iterfind("bpmn:flowNodeRef", NS)}
        if party in _NO_CANDIDATES and refs & user_tasks:
            out.append(hit("lane_role_without_candidates", lane, f"泳道「{lane.get('name')}」的角色不属于案件的任何单位"
                                                                 f"（{party}），其中的用户任务没有人能认领：请改用办案单位的角色"))
    return out


def data_hits(d: Diagram, process: Any) -> list[Hit]:
    """Multi-instance data is declared (§1, §6), loop waits have their own key (§5), runtime expressions compile."""
    declared = {el.get("id") for el in process.iter(f"{{{BPMN_NS}}}property", f"{{{BPMN_NS}}}dataObject",
                                                      f"{{{BPMN_NS}}}dataInput", f"{{{BPMN_NS}}}dataOutput")}
    out = []
    for ref in process.iter(f"{{{BPMN_NS}}}loopDataInputRef", f"{{{BPMN_NS}}}loopDataOutputRef"):
        if (ref.text or "").strip() not in declared:
            out.append(hit("loop_data_not_declared", owner(ref),
                           f"多实例引用的数据「{(ref.text or '').strip()}」没有声明：请在流程中声明同名 bpmn:property"
                           "（建模工具保存时会丢掉未声明的引用）"))
    out += _loop_message_hits(process)
    out += _runtime_expression_hits(process)
    return out


def _loop_message_hits(process: Any) -> list[Hit]:
    out = []
    for el in process.iter():
        if local(el) not in FLOW_NODES and local(el) != "receiveTask":
            continue
        waits = local(el) == "receiveTask" or (local(el) in ("intermediateCatchEvent", "boundaryEvent")
                                               and has_definition(el, "message"))
        if waits and "correlationKey" not in properties(el) and _in_loop(el, process):
            out.append(hit("loop_message_without_key", el,
                           f"多实例中的消息等待「{el.get('name') or el.get('id')}」没有 correlationKey："
                           "各实例会共用业务编号，回复无法区分；请设置如 case_no + \":\" + unit 的关联键"))
    return out


def _in_loop(el: Any, process: Any) -> bool:
    parent = el.getparent()
    while parent is not None and parent is not process:
        if parent.find("bpmn:multiInstanceLoopCharacteristics", NS) is not None:
            return True
        parent = parent.getparent()
    return False


def _runtime_expression_hits(process: Any) -> list[Hit]:
    """Expressions deploy does not compile (docs §7): correlation keys and multi-instance expressions."""
    sources: list[tuple[Any, str]] = [
        (owner(p), p.get("value") or "")
        for p in process.iter(f"{{{SPIFF_NS}}}property") if p.get("name") == "correlationKey"]
    sources += [(owner(el), el.text or "") for el in process.iter(f"{{{BPMN_NS}}}loopCardinality",
                                                                   f"{{{BPMN_NS}}}completionCondition")]
    out = []
    for el, text in sources:
        errors = source_problems(text.strip(), "eval") if text.strip() else ["表达式为空"]
        if errors:
            out.append(hit("runtime_expression_invalid", el,
                           f"表达式「{text.strip()}」无法在受限环境中编译（{errors[0]}）："
                           "部署时不检查它，运行到这里时会出错，请修正"))
    return out


RULES: tuple[Callable[[Diagram, Any], list[Hit]], ...] = (
    user_task_hits, timer_hits, name_hits, id_hits, diagram_hits, lane_hits, data_hits,
)
