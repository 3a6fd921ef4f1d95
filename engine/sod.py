"""Separation of duties: pure rules over a case's history, declared on BPMN user tasks.

A task may declare (``spiffworkflow:properties``):

* ``sodNotSameAs`` — user-task ids of the same case (this process, or one it calls or is called by)
  whose completers may not do this task
  (SD-1: 审核复审 not by whoever did 受理初审; 出具报告 not by either);
* ``sodRule`` — the rule's name shown in refusals (default ``SoD``);
* ``dualControl=true`` — a second, different person confirms what the tasks named in
  ``sodNotSameAs`` prepared (SD-2); the deploy check requires those references;
* ``sodNotRaisedBy`` — a source in :data:`RAISER_SOURCES`: whoever raised the requests the
  instance handles (at another level, in another case) may not do this task: ``escalation``, the
  county reviewer who entrusted an upper case may not do its 审核复审 (PS-5, PS-6);
  ``cross_city_requests``, the county staff who raised a cross-city request may not review the
  city's batch (PS-7). The guard (engine.assignment) looks the raisers up per source.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass

RULE_TEXT = {
    "SD-1": "受理初审、审核复审与出具核对报告须由三名不同人员办理",
    "SD-2": "数据交换须由两名不同的备案交换人员共同完成",
    "SD-3": "只有已备案且在有效期内的交换人员可以交换数据",
    "SD-CR": "失信登记的提出与审批须由两名不同人员办理",
}

#: ``sodNotRaisedBy`` sources: what the refused person did, for the explanation
RAISER_SOURCES = {
    "escalation": "在下级核对机构办理了本案的审核复审并提出上级委托",
    "cross_city_requests": "提出了本批次中的跨地市核对请求",
}


@dataclass(frozen=True)
class Violation:
    """Why ``username`` may not do a task: the rule and the earlier step it collides with."""

    rule: str
    conflicting_task: str
    explanation: str


def declared_exclusions(properties: Mapping[str, str]) -> list[str]:
    return [v.strip() for v in (properties.get("sodNotSameAs") or "").split(",") if v.strip()]


def violations(properties: Mapping[str, str], done_by: Mapping[str, Iterable[str]], username: str,
               task_names: Mapping[str, str] | None = None) -> list[Violation]:
    """Rules ``username`` would break by doing a task with ``properties``.

    :param done_by: for each user-task id of the case, who completed it (every occurrence).
    :param task_names: Chinese names of the task ids, for the explanation.
    """
    rule = properties.get("sodRule") or ("SD-2" if properties.get("dualControl") == "true" else "SoD")
    names = task_names or {}
    out = []
    for task_id in declared_exclusions(properties):
        if username in set(done_by.get(task_id, ())):
            step = names.get(task_id, task_id)
            why = RULE_TEXT.get(rule, "不相容岗位须由不同人员办理")
            out.append(Violation(rule, task_id, f"您已办理本案的「{step}」，不能再办理此步骤（{rule}：{why}）"))
    return out


def raiser_violation(properties: Mapping[str, str], raisers: Iterable[str], username: str) -> Violation | None:
    """The rule ``username`` would break by doing a task declaring ``sodNotRaisedBy`` (None if none)."""
    source = properties.get("sodNotRaisedBy")
    if not source or username not in set(raisers):
        return None
    rule = properties.get("sodRule") or "SoD"
    what = RAISER_SOURCES.get(source, "提出了本环节所审核的请求")
    return Violation(rule, source, f"您{what}，不能审核（{rule}：提出请求的人员不得审核该请求）")
