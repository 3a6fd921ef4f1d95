"""What auditors use: a case's timeline, its replay, tamper detection over the whole log, and the access log.

* :func:`timeline` turns a case's event stream into rows for display and export: who (user, role,
  unit) did what, when, on which element, under which version of the diagram, with which data.
* :func:`replay_instance` re-executes the case's commands against its pinned definition and
  compares the outcome with the stored state (:mod:`engine.audit_replay`).
* :func:`verify_all` / :func:`verify_instance` (:mod:`engine.audit_verify`) check the hash chain,
  that every stored state is the one its last command recorded (``state_sha256``), and that every
  event names the definition the instance is pinned to.
* :func:`record_access` writes ``audit_viewed`` / ``history_exported`` to the *system* stream, so
  reading a case never adds to the case's own stream (its replay log).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine.assignment import AUDITOR_ROLE
from engine.assignment import visible_to
from engine.audit_replay import deadline_for
from engine.audit_replay import load_case
from engine.audit_replay import replay_case
from engine.audit_results import REPLAYED_KINDS
from engine.audit_results import Divergence
from engine.audit_results import ReplayResult
from engine.audit_results import ReplayStep
from engine.audit_verify import STATE_PLACE
from engine.audit_verify import VerifyProblem
from engine.audit_verify import VerifyReport
from engine.audit_verify import verify_all
from engine.audit_verify import verify_instance
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.history import append_system_event
from engine.history import instance_stream
from engine.models import Event
from engine.models import HumanTask
from engine.models import Membership
from engine.models import ProcessDefinition
from engine.models import Region
from engine.models import Role
from engine.models import Unit
from engine.models import User
from engine.models import WorkflowInstance
from engine.models.escalation import ESCALATION_STATUS_NAMES
from forms.summary import describe

__all__ = [
    "REPLAYED_KINDS",
    "Divergence",
    "ReplayResult",
    "ReplayStep",
    "TimelineRow",
    "VerifyProblem",
    "VerifyReport",
    "assert_can_audit",
    "iter_replays",
    "record_access",
    "replay_instance",
    "timeline",
    "STATE_PLACE",
    "verify_all",
    "verify_instance",
]

KIND_NAMES = {
    "started": "启动案件",
    "task_claimed": "认领任务",
    "task_released": "退回待认领",
    "task_reassigned": "改派任务",
    "task_completed": "办结任务",
    "message_received": "收到消息",
    "timer_fired": "定时器触发",
    "migrated": "迁移到新版本",
    "refused": "拒绝操作",
    "entrustment_received": "收到委托",
    "task_overdue": "任务逾期",
    "authorisation_ended": "授权书终止",
    "report_issued": "出具核对报告",
    "report_superseded": "出具更正报告（替代原报告）",
    "report_viewed": "查阅核对报告",
    "report_downloaded": "下载核对报告",
    "report_printed": "打印核对报告",
    "expired_report_used": "依据已过期的核对报告反馈审批结果",
    # escalation and re-verification (PS-5, PS-7, PS-8, PS-9)
    "escalation_step": "上级核对进展",
    "upper_items_dropped": "不提请上级核对的项目",
    "upper_reports_overdue": "上级核对报告逾期",
    "cross_city_gathered": "汇总跨地市核对请求",
    "recheck_filed": "提出复核",
    "recheck_refused": "不予受理复核",
    "recheck_declined": "决定不复核",
    "recheck_entrusted": "委托复核",
    "recheck_completed": "复核完成",
    "recheck_report_issued": "出具复核报告",
    "recheck_batch_created": "创建批量复核批次",
    "recheck_batch_paused": "暂停批量复核",
    "recheck_batch_resumed": "恢复批量复核",
    "recheck_batch_completed": "批量复核完成",
    # system stream
    "deployed": "部署流程定义",
    "definition_activated": "启用流程定义版本",
    "migration_run_created": "发起后台版本迁移",
    "migration_run_paused": "暂停后台版本迁移",
    "migration_run_resumed": "继续后台版本迁移",
    "migration_run_cancelled": "取消后台版本迁移",
    "migration_run_done": "后台版本迁移完成",
    "user_created": "创建用户",
    "package_imported": "导入数据包",
    "package_refused": "拒收数据包",
    "archive_sealed": "封存案件档案",
    # data exchange (DX-4, PS-10)
    "exchange_request_created": "生成数据交换请求",
    "exchange_request_overdue": "数据交换请求超期未反馈",
    "exchange_result_late": "信息共享单位逾期反馈",
}
#: actors that are not people (engine jobs, the command line), as the history names them
SYSTEM_ACTORS = {"system": "系统", "cli": "系统管理员（命令行）", "archive": "系统（档案封存）"}
#: the diagrams' message names (bpmn/*.bpmn) as the history shows them
MESSAGE_NAMES = {
    "entrustment": "委托", "exchange_request": "数据交换请求", "exchange_result": "数据交换结果",
    "exchange_delay": "延期反馈说明", "material_notice": "补充材料通知", "recheck_result": "复核结果",
    "cross_city_entrusted": "跨地市核对委托", "cross_city_reports_back": "跨地市核对报告返回",
    "upper_reports_returned": "上级核对报告返回",
}
_ACTION_NAMES = {"claim": "认领", "complete": "办理", "reassign": "改派", "release": "退回"}


# --- replay ------------------------------------------------------------------------------------------------


def replay_instance(ctx: EngineContext, instance_id: int, *, steps: bool = False) -> ReplayResult:
    """Re-execute a case's recorded commands against its pinned definition and compare with the stored state.

    :param steps: also return the replayed state after every re-executed event (``snapshots``).
    :raises NotFoundError: no such instance.
    """
    return replay_case(ctx, load_case(ctx, instance_id), deadline_for(ctx), steps=steps)


def iter_replays(ctx: EngineContext, instance_ids: Iterable[int] | None = None) -> Iterator[ReplayResult]:
    """Replay the given instances (default: every instance, by id), one result at a time."""
    if instance_ids is None:
        instance_ids = ctx.session.execute(select(WorkflowInstance.id).order_by(WorkflowInstance.id)).scalars().all()
    deadline = deadline_for(ctx)
    for instance_id in instance_ids:
        yield replay_case(ctx, load_case(ctx, instance_id), deadline)


# --- timeline ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineRow:
    """One event of a case as an auditor reads it."""

    seq: int
    occurred_at: datetime
    kind: str
    kind_name: str
    actor: str
    actor_name: str | None
    actor_role: str | None
    role_name: str | None
    unit_code: str | None
    unit_name: str | None
    bpmn_id: str | None
    task_name: str | None
    task_id: str | None
    process_id: str | None
    definition_version: int | None
    definition_hash: str | None
    summary: str
    payload: Any
    hash: str

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["occurred_at"] = self.occurred_at.isoformat()
        return out


def timeline(ctx: EngineContext, instance_id: int, kinds: Iterable[str] | None = None,
             actor: str | None = None) -> list[TimelineRow]:
    """Every event of a case in order (optionally only some kinds, or one actor's), ready to show or export.

    The unit is derived: the task's unit when the actor holds the role there, else the case unit
    (or any unit) where the actor holds it; a sharing unit answering as ``unit:<code>`` is that unit.
    """
    instance = ctx.session.get(WorkflowInstance, instance_id)
    if instance is None:
        raise NotFoundError("案件不存在", instance_id=instance_id)
    query = select(Event).where(Event.stream == instance_stream(instance_id)).order_by(Event.seq)
    wanted = [k for k in (kinds or []) if k]
    if wanted:
        query = query.where(Event.kind.in_(wanted))
    if actor:
        query = query.where(Event.actor == actor)
    events = list(ctx.session.execute(query).scalars())
    lookup = _Lookup(ctx, instance, events)
    return [lookup.row(e) for e in events]


class _Lookup:
    """The names a timeline needs, read once per call (no query per row)."""

    def __init__(self, ctx: EngineContext, instance: WorkflowInstance, events: list[Event]) -> None:
        session = ctx.session
        self.instance = instance
        usernames = {e.actor for e in events} | {
            str(e.payload[key]) for e in events if e.kind in ("task_reassigned", "task_released")
            and isinstance(e.payload, dict) for key in ("previous", "to") if e.payload.get(key)}
        self.users = dict(session.execute(
            select(User.username, User.display_name).where(User.username.in_(usernames))).all())
        self.roles = dict(session.execute(select(Role.code, Role.name)).all())
        memberships = session.execute(
            select(User.username, Membership.role_code, Membership.unit_id)
            .join(Membership, Membership.user_id == User.id).where(User.username.in_(usernames))
        ).all()
        self.held: dict[tuple[str, str], list[int]] = {}
        for username, role, unit_id in memberships:
            self.held.setdefault((username, role), []).append(unit_id)
        unit_codes = {e.actor.removeprefix("unit:") for e in events if e.actor.startswith("unit:")}
        unit_codes |= {e.payload["unit"] for e in events
                       if isinstance(e.payload, dict) and isinstance(e.payload.get("unit"), str)}
        unit_ids = {u for ids in self.held.values() for u in ids}
        self.units = {u.id: u for u in session.execute(
            select(Unit).where(Unit.id.in_(unit_ids) | Unit.code.in_(unit_codes))).scalars()}
        self.units_by_code = {u.code: u for u in self.units.values()}
        self.task_units = dict(session.execute(
            select(HumanTask.id, HumanTask.unit_id).where(HumanTask.instance_id == instance.id)).all())
        tasks = session.execute(select(HumanTask.bpmn_id, HumanTask.name, HumanTask.form_key)
                                .where(HumanTask.instance_id == instance.id)).all()
        self.task_names = {bpmn_id: name for bpmn_id, name, _ in tasks}
        self.task_forms = {bpmn_id: form_key for bpmn_id, _, form_key in tasks if form_key}
        hashes = {e.definition_hash for e in events if e.definition_hash}
        self.definitions = {d.content_hash: d for d in session.execute(
            select(ProcessDefinition).where(ProcessDefinition.content_hash.in_(hashes))).scalars()}
        for d in self.definitions.values():
            for t in (d.task_catalogue or {}).get("user_tasks", []):
                self.task_names.setdefault(t["bpmn_id"], t["name"])
                if (t.get("properties") or {}).get("formKey"):
                    self.task_forms.setdefault(t["bpmn_id"], t["properties"]["formKey"])

    def unit(self, e: Event) -> Unit | None:
        if e.actor.startswith("unit:"):
            return self.units_by_code.get(e.actor.removeprefix("unit:"))
        recorded = e.payload.get("unit") if isinstance(e.payload, dict) else None
        if isinstance(recorded, str) and recorded in self.units_by_code:
            return self.units_by_code[recorded]  # the unit the command was recorded for (newer events)
        held = self.held.get((e.actor, e.actor_role or ""), [])
        preferred = [self.task_units.get(e.task_id or ""), self.instance.agency_unit_id,
                     self.instance.entrusting_unit_id]
        for unit_id in [u for u in preferred if u is not None] + sorted(held):
            if unit_id in held:
                return self.units.get(unit_id)
        return None

    def system_actor(self, actor: str) -> str | None:
        """An actor that is not a person, as people read it (a sharing unit by its name, jobs as 系统)."""
        if actor.startswith("unit:"):
            unit = self.units_by_code.get(actor.removeprefix("unit:"))
            return unit.name if unit else None
        if actor.startswith("job:"):
            return "系统（后台作业）"
        return SYSTEM_ACTORS.get(actor)

    def row(self, e: Event) -> TimelineRow:
        unit = self.unit(e)
        definition = self.definitions.get(e.definition_hash or "")
        task_name = self.task_names.get(e.bpmn_id or "", e.bpmn_id) if e.bpmn_id else None
        return TimelineRow(
            seq=e.seq, occurred_at=e.occurred_at, kind=e.kind, kind_name=KIND_NAMES.get(e.kind, e.kind),
            actor=e.actor, actor_name=self.users.get(e.actor) or self.system_actor(e.actor), actor_role=e.actor_role,
            role_name=self.roles.get(e.actor_role or ""), unit_code=unit.code if unit else None,
            unit_name=unit.name if unit else None, bpmn_id=e.bpmn_id, task_name=task_name, task_id=e.task_id,
            process_id=definition.process_id if definition else None,
            definition_version=definition.version if definition else None, definition_hash=e.definition_hash,
            summary=_summary(e, task_name, self.task_forms.get(e.bpmn_id or ""),
                             definition.name if definition else None, self.users), payload=e.payload, hash=e.hash,
        )


def _summary(e: Event, task_name: str | None, form_key: str | None = None, process: str | None = None,
             users: dict[str, str] | None = None) -> str:
    p = e.payload if isinstance(e.payload, dict) else {}
    task = f"「{task_name}」" if task_name else ""
    if e.kind == "started":
        return f"启动流程「{process or p.get('process_id')}」（业务编号 {p.get('business_key') or '无'}）"
    if e.kind == "task_claimed":
        return f"认领任务{task}"
    if e.kind in ("task_released", "task_reassigned"):
        return _assignment_summary(e.kind, p, task, users or {})
    if e.kind == "task_completed":
        data = p.get("data")
        brief = describe(form_key, data) if isinstance(data, dict) else json.dumps(data, ensure_ascii=False)
        return f"办结任务{task}" + (f"：{brief}" if brief else "")
    if e.kind == "message_received":
        name = MESSAGE_NAMES.get(str(p.get("message_name")), p.get("message_name"))
        return f"收到消息「{name}」（{p.get('correlation_key')}）"
    if e.kind == "timer_fired":
        return f"定时器{task}到期触发（到期时间 {p.get('due_at')}）"
    if e.kind == "migrated":
        return (f"迁移到新版本：第 {p.get('from_version')} 版 → 第 {p.get('to_version')} 版"
                f"（原因：{p.get('reason') or '未填写'}）")
    if e.kind == "entrustment_received":
        return (f"收到委托 {p.get('entrustment_number')}（{p.get('entrusting_unit')} → {p.get('agency_unit')}，"
                f"核对对象 {len(p.get('subject_ids') or [])} 人）")
    if e.kind == "task_overdue":
        return f"任务{task}已逾期（期限 {p.get('due_at')}）"
    if e.kind == "authorisation_ended":
        return f"授权书 {p.get('authorisation_id')} 终止（最后有效日 {p.get('last_day')}，原因 {p.get('reason')}）"
    if e.kind == "escalation_step":
        status = ESCALATION_STATUS_NAMES.get(str(p.get("status")), p.get("status"))
        note = f"：{p['note']}" if p.get("note") else ""
        return f"{p.get('escalation_no')} {status}（{p.get('unit')}）{note}"
    if e.kind == "upper_items_dropped":
        return f"审核复审未委托上级核对、本案不再核对的事项：{'、'.join(p.get('items') or [])}"
    if e.kind == "upper_reports_overdue":
        late = "、".join(str(x.get("escalation_no")) for x in p.get("escalations") or [])
        return f"上级核对报告已逾期，本案继续等待：{late}"
    if e.kind == "recheck_report_issued":
        return f"复核核对案件 {p.get('case_no')} 出具复核报告 {p.get('number')}"
    if e.kind == "cross_city_gathered":
        return f"汇总跨地市核对请求为批次 {p.get('batch_no')}：{'、'.join(p.get('requests') or [])}"
    if e.kind == "refused":
        action = _ACTION_NAMES.get(str(p.get("action")), p.get("action"))
        rule = f"（{p['rule']}）" if p.get("rule") else ""
        return f"拒绝{action}任务{task}{rule}：{p.get('message')}"
    return KIND_NAMES.get(e.kind, e.kind)


def _assignment_summary(kind: str, p: dict[str, Any], task: str, users: dict[str, str]) -> str:
    """A release or a supervisor's reassignment, people by their names (the payload keeps the usernames)."""
    def name(username: Any) -> str:
        return users.get(str(username), str(username))

    reason = f"（原因：{p['reason']}）" if p.get("reason") else ""
    if kind == "task_released":
        whose = f"{name(p['previous'])} 认领的" if p.get("by_supervisor") and p.get("previous") else ""
        return f"将{whose}任务{task}退回待认领{reason}"
    previous = name(p["previous"]) if p.get("previous") else "（未认领）"
    return f"将任务{task}由 {previous} 改派给 {name(p.get('to'))}{reason}"


# --- who may audit, and the access log ---------------------------------------------------------------------


def assert_can_audit(ctx: EngineContext, user_id: int, instance: WorkflowInstance) -> str:
    """Allow reading a case's history to auditors over its region and to staff of its units (PR-4, AR-4).

    :returns: the role the access is granted under (``auditor`` or the staff member's role in the case's unit).
    :raises NotFoundError: the case is outside the user's jurisdiction (indistinguishable from a missing case).
    :raises PermissionDeniedError: inside the jurisdiction, but neither an auditor nor staff of the case.
    """
    if not visible_to(ctx, user_id, instance):
        raise NotFoundError("案件不存在", instance_id=instance.id)
    rows = ctx.session.execute(
        select(Membership.role_code, Membership.unit_id, Region.path)
        .join(Unit, Unit.id == Membership.unit_id).join(Region, Region.code == Unit.region_code)
        .where(Membership.user_id == user_id).order_by(Membership.id)
    ).all()
    case_units = {instance.agency_unit_id, instance.entrusting_unit_id} - {None}
    case_path = ctx.session.execute(
        select(Region.path).where(Region.code == instance.region_code)).scalar() if instance.region_code else None
    for role, unit_id, path in rows:
        if role == AUDITOR_ROLE and (unit_id in case_units or (case_path or "").startswith(path)):
            return role
    for role, unit_id, _ in rows:
        if unit_id in case_units:
            return role
    raise PermissionDeniedError("只有审计监督员和承办该案件单位的工作人员可以查阅案件历史", code="audit_not_allowed")


def record_access(ctx: EngineContext, kind: str, instance: WorkflowInstance, *, actor: Actor,
                  **details: Any) -> Event:
    """Record that someone read (``audit_viewed``) or exported (``history_exported``) a case's history.

    The record goes to the system stream, never the case's: the case stream is its replay log.
    The system stream has many writers, so a lost race for the next ``seq`` is retried.
    """
    payload = {"instance_id": instance.id, "business_key": instance.business_key, **details}
    return append_system_event(ctx, kind=kind, actor=actor, payload=payload)
