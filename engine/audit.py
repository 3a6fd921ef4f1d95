"""What auditors use: a case's timeline, its replay, tamper detection over the whole log, and the access log.

* :func:`timeline` turns a case's event stream into rows for display and export: who (user, role,
  unit) did what, when, on which element, under which version of the diagram, with which data.
* :func:`replay_instance` re-executes the case's commands against its pinned definition and
  compares the outcome with the stored state (:mod:`engine.audit_replay`).
* :func:`verify_all` checks the hash chain of every stream, that every instance's stored state is
  the one its last command recorded (``state_sha256``), and that every event names the definition
  the instance is pinned to.
* :func:`record_access` writes ``audit_viewed`` / ``history_exported`` to the *system* stream, so
  reading a case never adds to the case's own stream (its replay log).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import func
from sqlalchemy import select

from engine.assignment import visible_to
from engine.audit_replay import REPLAYED_KINDS
from engine.audit_replay import Divergence
from engine.audit_replay import ReplayResult
from engine.audit_replay import ReplayStep
from engine.audit_replay import deadline_for
from engine.audit_replay import load_case
from engine.audit_replay import replay_case
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.history import instance_stream
from engine.history import verify_chain
from engine.models import Event
from engine.models import HumanTask
from engine.models import Membership
from engine.models import ProcessDefinition
from engine.models import Region
from engine.models import Role
from engine.models import Unit
from engine.models import User
from engine.models import WorkflowInstance
from engine.persistence import state_digest

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
    "verify_all",
]

AUDITOR_ROLE = "auditor"
STATE_PLACE = "存储的流程状态"

KIND_NAMES = {
    "started": "启动案件",
    "task_claimed": "认领任务",
    "task_released": "退回待认领",
    "task_reassigned": "改派任务",
    "task_completed": "办结任务",
    "message_received": "收到消息",
    "timer_fired": "定时器触发",
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


# --- tamper detection --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyProblem:
    """One place where the log or a stored state is not what was recorded."""

    stream: str
    instance_id: int | None
    business_key: str | None
    seq: int | None
    event_id: int | None
    #: Chinese: "第 3 号事件（task_completed）", "存储的流程状态" ...
    place: str
    problem: str
    #: for a changed state: where replaying the log parts from it (Chinese)
    detail: str | None = None

    def __str__(self) -> str:
        case = (f"案件 {self.instance_id}（{self.business_key or '无业务编号'}）" if self.instance_id is not None
                else f"事件流 {self.stream}")
        return f"{case} {self.place}：{self.problem}" + (f"；重放定位：{self.detail}" if self.detail else "")


@dataclass
class VerifyReport:
    events_checked: int = 0
    instances_checked: int = 0
    problems: list[VerifyProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _StreamFacts:
    last_digest: tuple[int, int, str, str] | None = None  # seq, event id, kind, state_sha256
    foreign: list[tuple[int, int, str, str]] = field(default_factory=list)  # seq, id, kind, definition hash
    mismatched_instance: list[tuple[int, int, str]] = field(default_factory=list)  # seq, id, kind
    count: int = 0


def verify_all(ctx: EngineContext) -> VerifyReport:
    """Check every chain, every stored state against its last recorded digest, every event's definition."""
    keys = dict(ctx.session.execute(select(WorkflowInstance.id, WorkflowInstance.business_key)).all())
    report = VerifyReport()
    for p in verify_chain(ctx.session):
        iid = _instance_of(p.stream)
        report.problems.append(VerifyProblem(p.stream, iid, keys.get(iid) if iid else None, p.seq, p.event_id,
                                             f"第 {p.seq} 号事件", p.problem))
    facts = _stream_facts(ctx)
    report.events_checked = sum(f.count for f in facts.values()) + _count_system(ctx)
    rows = ctx.session.execute(
        select(WorkflowInstance.id, WorkflowInstance.business_key, WorkflowInstance.state,
               ProcessDefinition.content_hash)
        .join(ProcessDefinition, ProcessDefinition.id == WorkflowInstance.definition_id)
        .order_by(WorkflowInstance.id)
        .execution_options(yield_per=200)
    )
    for instance_id, key, state, pinned in rows:
        report.instances_checked += 1
        stream = instance_stream(instance_id)
        report.problems.extend(_check_instance(stream, instance_id, key, state, pinned, facts.pop(stream, None)))
    for stream in sorted(facts):
        iid = _instance_of(stream)
        report.problems.append(VerifyProblem(stream, iid, None, None, None, "事件流", "对应的案件不存在（可能被删除）"))
    report.problems = [_located(ctx, p) for p in report.problems]
    return report


def _located(ctx: EngineContext, problem: VerifyProblem) -> VerifyProblem:
    """For a changed stored state, say what changed: replay the case and take its first divergence."""
    if problem.place != STATE_PLACE or problem.instance_id is None:
        return problem
    result = replay_instance(ctx, problem.instance_id)
    detail = (result.first_divergence.message if result.first_divergence is not None
              else "按事件日志重放的结果与存储状态一致（改动未影响流程路径、待办与数据）")
    return replace(problem, detail=detail)


def _count_system(ctx: EngineContext) -> int:
    return ctx.session.execute(select(func.count(Event.id)).where(Event.stream.not_like("instance:%"))).scalar_one()


def _instance_of(stream: str) -> int | None:
    prefix, _, rest = stream.partition(":")
    return int(rest) if prefix == "instance" and rest.isdigit() else None


def _stream_facts(ctx: EngineContext) -> dict[str, _StreamFacts]:
    facts: dict[str, _StreamFacts] = {}
    rows = ctx.session.execute(
        select(Event.stream, Event.seq, Event.id, Event.kind, Event.instance_id, Event.definition_hash, Event.payload)
        .where(Event.stream.like("instance:%"))
        .order_by(Event.stream, Event.seq)
        .execution_options(yield_per=500)
    )
    for stream, seq, event_id, kind, instance_id, definition_hash, payload in rows:
        f = facts.setdefault(stream, _StreamFacts())
        f.count += 1
        if instance_id != _instance_of(stream):
            f.mismatched_instance.append((seq, event_id, kind))
        if definition_hash is not None:
            f.foreign.append((seq, event_id, kind, definition_hash))
        digest = payload.get("state_sha256") if isinstance(payload, dict) else None
        if isinstance(digest, str):
            f.last_digest = (seq, event_id, kind, digest)
    return facts


def _check_instance(stream: str, instance_id: int, key: str | None, state: str, pinned: str,
                    f: _StreamFacts | None) -> list[VerifyProblem]:
    def problem(seq: int | None, event_id: int | None, place: str, text: str) -> VerifyProblem:
        return VerifyProblem(stream, instance_id, key, seq, event_id, place, text)

    if f is None:
        return [problem(None, None, "事件流", "案件没有任何事件记录")]
    out = [problem(seq, eid, f"第 {seq} 号事件（{kind}）", "事件记录的案件编号与所在事件流不符")
           for seq, eid, kind in f.mismatched_instance]
    out += [problem(seq, eid, f"第 {seq} 号事件（{kind}）",
                    f"事件记录的流程版本 {digest[:12]} 与案件锁定的版本 {pinned[:12]} 不符")
            for seq, eid, kind, digest in f.foreign if digest != pinned]
    if f.last_digest is None:
        out.append(problem(None, None, STATE_PLACE, "没有任何事件记录过状态摘要，无法核验"))
    elif f.last_digest[3] != state_digest(state):
        seq, eid, kind, _ = f.last_digest
        out.append(problem(seq, eid, STATE_PLACE,
                           f"与第 {seq} 号事件（{kind}）记录的状态摘要不符（状态在该命令之后被改动）"))
    return out


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
        usernames = {e.actor for e in events}
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
        unit_ids = {u for ids in self.held.values() for u in ids}
        self.units = {u.id: u for u in session.execute(
            select(Unit).where(Unit.id.in_(unit_ids) | Unit.code.in_(unit_codes))).scalars()}
        self.units_by_code = {u.code: u for u in self.units.values()}
        self.task_units = dict(session.execute(
            select(HumanTask.id, HumanTask.unit_id).where(HumanTask.instance_id == instance.id)).all())
        self.task_names = dict(session.execute(
            select(HumanTask.bpmn_id, HumanTask.name).where(HumanTask.instance_id == instance.id)).all())
        hashes = {e.definition_hash for e in events if e.definition_hash}
        self.definitions = {d.content_hash: d for d in session.execute(
            select(ProcessDefinition).where(ProcessDefinition.content_hash.in_(hashes))).scalars()}
        for d in self.definitions.values():
            for t in (d.task_catalogue or {}).get("user_tasks", []):
                self.task_names.setdefault(t["bpmn_id"], t["name"])

    def unit(self, e: Event) -> Unit | None:
        if e.actor.startswith("unit:"):
            return self.units_by_code.get(e.actor.removeprefix("unit:"))
        held = self.held.get((e.actor, e.actor_role or ""), [])
        preferred = [self.task_units.get(e.task_id or ""), self.instance.agency_unit_id,
                     self.instance.entrusting_unit_id]
        for unit_id in [u for u in preferred if u is not None] + sorted(held):
            if unit_id in held:
                return self.units.get(unit_id)
        return None

    def row(self, e: Event) -> TimelineRow:
        unit = self.unit(e)
        definition = self.definitions.get(e.definition_hash or "")
        task_name = self.task_names.get(e.bpmn_id or "", e.bpmn_id) if e.bpmn_id else None
        return TimelineRow(
            seq=e.seq, occurred_at=e.occurred_at, kind=e.kind, kind_name=KIND_NAMES.get(e.kind, e.kind),
            actor=e.actor, actor_name=self.users.get(e.actor), actor_role=e.actor_role,
            role_name=self.roles.get(e.actor_role or ""), unit_code=unit.code if unit else None,
            unit_name=unit.name if unit else None, bpmn_id=e.bpmn_id, task_name=task_name, task_id=e.task_id,
            process_id=definition.process_id if definition else None,
            definition_version=definition.version if definition else None, definition_hash=e.definition_hash,
            summary=_summary(e, task_name), payload=e.payload, hash=e.hash,
        )


def _summary(e: Event, task_name: str | None) -> str:
    p = e.payload if isinstance(e.payload, dict) else {}
    task = f"「{task_name}」" if task_name else ""
    if e.kind == "started":
        return f"启动流程 {p.get('process_id')}（业务编号 {p.get('business_key') or '无'}）"
    if e.kind == "task_claimed":
        return f"认领任务{task}"
    if e.kind == "task_released":
        return f"将任务{task}退回待认领"
    if e.kind == "task_reassigned":
        return f"将任务{task}由 {p.get('previous') or '（未认领）'} 改派给 {p.get('to')}"
    if e.kind == "task_completed":
        return f"办结任务{task}" + (f"：{_brief(p.get('data'))}" if p.get("data") else "")
    if e.kind == "message_received":
        return f"收到消息 {p.get('message_name')}（{p.get('correlation_key')}）"
    if e.kind == "timer_fired":
        return f"定时器{task}到期触发（到期时间 {p.get('due_at')}）"
    if e.kind == "entrustment_received":
        return (f"收到委托 {p.get('entrustment_number')}（{p.get('entrusting_unit')} → {p.get('agency_unit')}，"
                f"核对对象 {len(p.get('subject_ids') or [])} 人）")
    if e.kind == "task_overdue":
        return f"任务{task}已逾期（期限 {p.get('due_at')}）"
    if e.kind == "authorisation_ended":
        return f"授权书 {p.get('authorisation_id')} 终止（最后有效日 {p.get('last_day')}，原因 {p.get('reason')}）"
    if e.kind == "refused":
        action = _ACTION_NAMES.get(str(p.get("action")), p.get("action"))
        rule = f"（{p['rule']}）" if p.get("rule") else ""
        return f"拒绝{action}任务{task}{rule}：{p.get('message')}"
    return KIND_NAMES.get(e.kind, e.kind)


def _brief(data: Any, limit: int = 6) -> str:
    if not isinstance(data, dict):
        return json.dumps(data, ensure_ascii=False, default=str)
    items = [f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in list(data.items())[:limit]]
    return "，".join(items) + ("，…" if len(data) > limit else "")


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
    for attempt in range(5):
        try:
            with ctx.session.begin_nested():
                return append_event(ctx, stream=SYSTEM_STREAM, kind=kind, actor=actor, payload=payload)
        except sa_exc.IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")
