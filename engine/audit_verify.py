"""Tamper detection: the hash chain of every stream, every stored state against its digest, every event's version.

A changed, removed or reordered event breaks the chain (:func:`engine.history.verify_chain`); a
changed stored state no longer matches the ``state_sha256`` its last command recorded; an instance
re-pinned to another diagram version no longer matches the definition its events name (a recorded
``migrated`` event moves the expected version: events before it name its source, it and the events
after it its target). Each
problem names the case and the place; a changed state is located further by replaying the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace

from sqlalchemy import func
from sqlalchemy import select

from engine.audit_replay import deadline_for
from engine.audit_replay import load_case
from engine.audit_replay import replay_case
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.history import instance_stream
from engine.history import verify_chain
from engine.models import Event
from engine.models import ProcessDefinition
from engine.models import WorkflowInstance
from engine.persistence import state_digest

__all__ = ["STATE_PLACE", "VerifyProblem", "VerifyReport", "verify_all", "verify_instance"]

STATE_PLACE = "存储的流程状态"


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
    #: seq of a ``migrated`` event -> the definition hash it moved the case from
    migrations: dict[int, str | None] = field(default_factory=dict)
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


def verify_instance(ctx: EngineContext, instance_id: int, *, locate: bool = True) -> list[VerifyProblem]:
    """The checks of :func:`verify_all` for one case: its chain, its events' definition, its stored state.

    :param locate: replay the case when its stored state changed, to say where (``detail``).
    :raises NotFoundError: no such instance.
    """
    row = ctx.session.execute(
        select(WorkflowInstance.business_key, WorkflowInstance.state, ProcessDefinition.content_hash)
        .join(ProcessDefinition, ProcessDefinition.id == WorkflowInstance.definition_id)
        .where(WorkflowInstance.id == instance_id)
    ).first()
    if row is None:
        raise NotFoundError("案件不存在", instance_id=instance_id)
    key, state, pinned = row
    stream = instance_stream(instance_id)
    problems = [VerifyProblem(p.stream, instance_id, key, p.seq, p.event_id, f"第 {p.seq} 号事件", p.problem)
                for p in verify_chain(ctx.session, stream)]
    problems += _check_instance(stream, instance_id, key, state, pinned, _stream_facts(ctx, stream).get(stream))
    return [_located(ctx, p) for p in problems] if locate else problems


def _located(ctx: EngineContext, problem: VerifyProblem) -> VerifyProblem:
    """For a changed stored state, say what changed: replay the case and take its first divergence."""
    if problem.place != STATE_PLACE or problem.instance_id is None:
        return problem
    result = replay_case(ctx, load_case(ctx, problem.instance_id), deadline_for(ctx))
    detail = (result.first_divergence.message if result.first_divergence is not None
              else "按事件日志重放的结果与存储状态一致（改动未影响流程路径、待办与数据）")
    return replace(problem, detail=detail)


def _count_system(ctx: EngineContext) -> int:
    return ctx.session.execute(select(func.count(Event.id)).where(Event.stream.not_like("instance:%"))).scalar_one()


def _instance_of(stream: str) -> int | None:
    prefix, _, rest = stream.partition(":")
    return int(rest) if prefix == "instance" and rest.isdigit() else None


def _stream_facts(ctx: EngineContext, stream: str | None = None) -> dict[str, _StreamFacts]:
    facts: dict[str, _StreamFacts] = {}
    query = (select(Event.stream, Event.seq, Event.id, Event.kind, Event.instance_id, Event.definition_hash,
                    Event.payload).order_by(Event.stream, Event.seq).execution_options(yield_per=500))
    query = query.where(Event.stream == stream) if stream else query.where(Event.stream.like("instance:%"))
    rows = ctx.session.execute(query)
    for stream, seq, event_id, kind, instance_id, definition_hash, payload in rows:
        f = facts.setdefault(stream, _StreamFacts())
        f.count += 1
        if instance_id != _instance_of(stream):
            f.mismatched_instance.append((seq, event_id, kind))
        if definition_hash is not None:
            f.foreign.append((seq, event_id, kind, definition_hash))
        if kind == "migrated":
            source = payload.get("from_hash") if isinstance(payload, dict) else None
            f.migrations[seq] = source if isinstance(source, str) else None
        digest = payload.get("state_sha256") if isinstance(payload, dict) else None
        if isinstance(digest, str):
            f.last_digest = (seq, event_id, kind, digest)
    return facts


def _versions_due(f: _StreamFacts, pinned: str) -> list[tuple[int, int, str, str, str]]:
    """Each versioned event with the definition it must name: walking back from the pinned one,
    a ``migrated`` event names its target, the events before it its recorded source."""
    out = []
    expected = pinned
    for seq, event_id, kind, digest in reversed(f.foreign):
        out.append((seq, event_id, kind, digest, expected))
        if seq in f.migrations:
            expected = f.migrations[seq] or ""
    return out[::-1]


def _check_instance(stream: str, instance_id: int, key: str | None, state: str, pinned: str,
                    f: _StreamFacts | None) -> list[VerifyProblem]:
    def problem(seq: int | None, event_id: int | None, place: str, text: str) -> VerifyProblem:
        return VerifyProblem(stream, instance_id, key, seq, event_id, place, text)

    if f is None:
        return [problem(None, None, "事件流", "案件没有任何事件记录")]
    out = [problem(seq, eid, f"第 {seq} 号事件（{kind}）", "事件记录的案件编号与所在事件流不符")
           for seq, eid, kind in f.mismatched_instance]
    out += [problem(seq, eid, f"第 {seq} 号事件（{kind}）",
                    f"事件记录的流程版本 {digest[:12]} 与案件锁定的版本 {expected[:12]} 不符")
            for seq, eid, kind, digest, expected in _versions_due(f, pinned) if digest != expected]
    if f.last_digest is None:
        out.append(problem(None, None, STATE_PLACE, "没有任何事件记录过状态摘要，无法核验"))
    elif f.last_digest[3] != state_digest(state):
        seq, eid, kind, _ = f.last_digest
        out.append(problem(seq, eid, STATE_PLACE,
                           f"与第 {seq} 号事件（{kind}）记录的状态摘要不符（状态在该命令之后被改动）"))
    return out
