"""Move running cases of a process from one deployed version to another (designer tools, 版本迁移).

A case stays pinned to the definition it started on (``workflow_instances.definition_id``). When a
designer fixes a diagram, :func:`plan_migration` shows per running case of the old version whether
it can move (the compatibility rule of :mod:`engine.runtime.migration`, in Chinese) and what changed
between the versions; :func:`migrate_instances` moves the compatible ones: each is locked, migrated,
re-pinned and saved through the normal save path (derived rows rebuilt in the same transaction: a
surviving open task keeps its row, assignee and due time; new tasks get the target's catalogue
properties), and ONE ``migrated`` event is appended to its chain, carrying the target's definition
hash. The audit replay re-executes that event (``engine.audit_replay``), so the log stays replayable.

Scale: cases are read in keyset chunks of :data:`CHUNK` ids (never all at once), a plan is computed
for one page (:func:`plan_migration` with ``offset``/``limit``) or streamed (:func:`iter_plan_items`),
and each migration runs inside its own SAVEPOINT: an unexpected failure of one case (an unreadable
state, an engine or database error) rolls back that case only; it is reported as failed (Chinese
reason; the log names the instance id and the exception class, nothing else) and the others still
move in the same transaction.

Only process designers (role ``process_designer``) may do this; system actors (the CLI) may too.
Services flush; the caller commits (a background run, :mod:`engine.services.migration_runs`, per chunk).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.deadlines import deadlines_of
from engine.deadlines import recording
from engine.errors import HeduiError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import append_event
from engine.history import instance_stream
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import InstanceStatus
from engine.models import Membership
from engine.models import ProcessDefinition
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.persistence import lock_instance
from engine.persistence import save_workflow
from engine.persistence import spec_loader
from engine.runtime.migration import Blocker
from engine.runtime.migration import MigrationCheck
from engine.runtime.migration import SpecChange
from engine.runtime.migration import check_migration
from engine.runtime.migration import diff_specs
from engine.runtime.migration import migrate

logger = logging.getLogger(__name__)

DESIGNER_ROLE = "process_designer"
MIGRATED = "migrated"
NOT_DESIGNER = "只有流程设计人员可以迁移运行中的案件"
#: engine task states as the plan shows them
STATE_NAMES = {"READY": "待办", "WAITING": "等待中", "STARTED": "进行中"}
_REASONS = {
    "removed": "当前所在步骤{what}在新版本中已删除",
    "kind_changed": "当前所在步骤{what}在新版本中改变了类型",
    "lane_changed": "当前所在步骤{what}在新版本中改由其他角色办理",
    "form_changed": "当前所在步骤{what}在新版本中更换了表单",
    "event_changed": "正在等待的{what}在新版本中等待的事件已改变",
    "history_removed": "已经过的步骤{what}在新版本中已删除，案件历史无法对应到新版本",
    "pending_removed": "子流程结束后的步骤{what}在新版本中已删除，请待子流程结束后再迁移",
    "subprocess_removed": "正在运行的子流程{what}在新版本中不存在",
    "error": "步骤{what}处于出错状态",
}
MAX_REASON = 500
NOT_ON_SOURCE = "案件已不在原版本上运行（已迁移、已办结或已撤销）"
#: an unexpected failure of one case (the log has the details, keyed by instance id)
FAILED = "迁移时发生内部错误，该案件未迁移（其他案件不受影响），请联系系统管理员查看日志"
UNREADABLE = "无法读取该案件的运行状态，不能检查能否迁移，请联系系统管理员查看日志"
#: cases read, checked or migrated per chunk (keyset pagination: memory stays flat)
CHUNK = 200


@dataclass(frozen=True)
class PlanItem:
    """One running case of the source version: can it move, and if not, why (Chinese)."""

    instance_id: int
    business_key: str | None
    #: the steps it is at now, e.g. "受理初审（待办）"
    current: tuple[str, ...]
    compatible: bool
    reasons: tuple[str, ...] = ()
    #: what a designer should know about a case that can move (e.g. a finished subprocess's steps leave the state)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MigrationPlan:
    process_id: str
    process_name: str
    from_version: int
    to_version: int
    from_hash: str
    to_hash: str
    changes: tuple[SpecChange, ...]
    #: the cases of this page (all of them when no limit was given)
    items: tuple[PlanItem, ...]
    #: running cases on the source version (of the chosen ones, when ids were given), not only this page's
    total: int = 0

    @property
    def compatible_ids(self) -> list[int]:
        return [i.instance_id for i in self.items if i.compatible]

    def summary(self) -> dict[str, list[dict[str, Any]]]:
        """The diff as the ``migrated`` event records it: added / removed / changed task ids and names."""
        return diff_summary(self.changes)


@dataclass
class MigrationResult:
    migrated: list[PlanItem] = field(default_factory=list)
    #: blocked, or no longer on the source version: untouched
    skipped: list[PlanItem] = field(default_factory=list)
    #: an unexpected error: that case's changes were rolled back (reason :data:`FAILED` or a domain message)
    failed: list[PlanItem] = field(default_factory=list)


def diff_summary(changes: Iterable[SpecChange]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    for c in changes:
        entry: dict[str, Any] = {"process_id": c.process_id, "bpmn_id": c.bpmn_id, "name": c.name}
        if c.change == "changed":
            entry["attributes"] = list(c.attributes)
        out[c.change].append(entry)
    return out


def require_designer(ctx: EngineContext, actor: Actor) -> None:
    """People must hold ``process_designer`` in some unit; system actors (no user id: the CLI) pass."""
    if actor.user_id is None:
        return
    held = ctx.session.execute(select(Membership.id).where(
        Membership.user_id == actor.user_id, Membership.role_code == DESIGNER_ROLE)).first()
    if held is None:
        raise PermissionDeniedError(NOT_DESIGNER, code="designer_required")


def definition_of(ctx: EngineContext, process_id: str, version: int) -> ProcessDefinition:
    found = ctx.session.execute(select(ProcessDefinition).where(
        ProcessDefinition.process_id == process_id, ProcessDefinition.version == version)).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"流程「{process_id}」没有第 {version} 版", code="definition_not_found",
                            process_id=process_id, version=version)
    return found


def _versions(ctx: EngineContext, process_id: str, from_version: int,
              to_version: int) -> tuple[ProcessDefinition, ProcessDefinition]:
    if from_version == to_version:
        raise ValidationError("原版本与目标版本相同，无需迁移", code="same_version",
                              fields={"to": ["目标版本须不同于原版本"]})
    source, target = definition_of(ctx, process_id, from_version), definition_of(ctx, process_id, to_version)
    if source.process_id != target.process_id:  # defensive: both are looked up by the same process id
        raise ValidationError("只能在同一流程的版本之间迁移", code="different_process")
    return source, target


def _spec(ctx: EngineContext, definition: ProcessDefinition) -> Any:
    definition_id = definition.id
    return lambda: spec_loader(ctx.session, definition_id)


def _running(source: ProcessDefinition) -> tuple[Any, ...]:
    return WorkflowInstance.definition_id == source.id, WorkflowInstance.status == InstanceStatus.RUNNING


def _chosen(ctx: EngineContext, source: ProcessDefinition, instance_ids: Iterable[int] | None) -> list[int] | None:
    """The chosen ids, sorted (ids of other processes refused); None: every running case of ``source``."""
    if instance_ids is None:
        return None
    wanted = sorted(set(instance_ids))
    own: set[int] = set()
    for start in range(0, len(wanted), CHUNK):
        own.update(ctx.session.execute(select(WorkflowInstance.id).where(
            WorkflowInstance.id.in_(wanted[start:start + CHUNK]),
            WorkflowInstance.process_id == source.process_id)).scalars())
    if set(wanted) - own:
        raise ValidationError("所选案件不属于该流程", code="foreign_instance",
                              fields={"instance": ["所选案件不属于该流程"]})
    return wanted


def _id_chunks(ctx: EngineContext, source: ProcessDefinition, wanted: list[int] | None) -> Iterator[list[int]]:
    """Ids of the running cases on ``source`` (of ``wanted`` only), :data:`CHUNK` at a time, in id order.

    Keyset pagination (``id > last``), so a case that leaves the version meanwhile (migrated by this
    very loop) shifts nothing, and no more than one chunk of ids is ever held.
    """
    if wanted is not None:
        for start in range(0, len(wanted), CHUNK):
            ids = list(ctx.session.execute(select(WorkflowInstance.id).where(
                *_running(source), WorkflowInstance.id.in_(wanted[start:start + CHUNK]))
                .order_by(WorkflowInstance.id)).scalars())
            if ids:
                yield ids
        return
    after = 0
    while ids := list(ctx.session.execute(select(WorkflowInstance.id).where(
            *_running(source), WorkflowInstance.id > after).order_by(WorkflowInstance.id).limit(CHUNK)).scalars()):
        yield ids
        after = ids[-1]


def _count(ctx: EngineContext, source: ProcessDefinition, wanted: list[int] | None) -> int:
    if wanted is None:
        return ctx.session.execute(select(func.count(WorkflowInstance.id)).where(*_running(source))).scalar_one()
    return sum(len(ids) for ids in _id_chunks(ctx, source, wanted))


#: what a plan reads of a case: never the ORM object (a page of plans leaves nothing in the session)
_PLAN_COLUMNS = (WorkflowInstance.id, WorkflowInstance.business_key, WorkflowInstance.state,
                 WorkflowInstance.serializer_version)


def _rows(ctx: EngineContext, source: ProcessDefinition, wanted: list[int] | None, *, offset: int = 0,
          limit: int | None = None) -> Iterator[Any]:
    """The cases to plan: one page (``offset``/``limit``), or all of them streamed chunk by chunk."""
    if limit is not None:
        query = select(*_PLAN_COLUMNS).where(*_running(source)).order_by(WorkflowInstance.id)
        if wanted is not None:
            query = query.where(WorkflowInstance.id.in_(wanted))
        yield from ctx.session.execute(query.offset(offset).limit(limit)).all() if limit > 0 else ()
        return
    for ids in _id_chunks(ctx, source, wanted):  # each chunk fetched whole: checking it may query again
        yield from ctx.session.execute(select(*_PLAN_COLUMNS).where(WorkflowInstance.id.in_(ids))
                                       .order_by(WorkflowInstance.id)).all()


def _reasons(blockers: Iterable[Blocker]) -> tuple[str, ...]:
    out = []
    for b in blockers:
        what = f"「{b.name}」（{b.bpmn_id}）" if b.name != b.bpmn_id else f"「{b.bpmn_id}」"
        out.append(_REASONS.get(b.reason, "步骤{what}与新版本不兼容").format(what=what))
    return tuple(out)


def _item(instance: Any, check: MigrationCheck) -> PlanItem:
    """``instance``: a WorkflowInstance or a row of :data:`_PLAN_COLUMNS` (both have id and business_key)."""
    current = tuple(dict.fromkeys(f"{c.name}（{STATE_NAMES.get(c.state, c.state)}）" for c in check.current))
    notes = tuple(f"已办结的「{name}」在新版本中有步骤被删除：迁移后其各步骤不再保存在流程状态中"
                  "（办理结果仍在案件数据中，办理记录仍在事件日志中）" for name in check.dropped)
    return PlanItem(instance.id, instance.business_key, current, check.compatible, _reasons(check.blockers), notes)


def _log_failure(action: str, instance_id: int, exc: BaseException) -> None:
    """Instance id, exception class and code locations only: an exception's text may quote case data."""
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}"
                      for f in traceback.extract_tb(exc.__traceback__)[-4:])
    logger.error("%s instance %s failed: %s at %s", action, instance_id, type(exc).__name__, where)


def _plan_item(ctx: EngineContext, row: Any, source: ProcessDefinition, target: ProcessDefinition) -> PlanItem:
    """Check one case on a private copy of its workflow (never the cached one: a plan changes nothing).

    A state that cannot be read or checked shows as 不可迁移 (:data:`UNREADABLE`) instead of failing the page.
    """
    try:
        wf = ctx.runtime.load(source.content_hash, _spec(ctx, source), row.state, row.serializer_version,
                              deadline=recording(ctx.deadline))
        return _item(row, check_migration(wf, target.content_hash, _spec(ctx, target)))
    except Exception as exc:  # noqa: BLE001  (one bad case must not hide the others' plan)
        _log_failure("planning", row.id, exc)
        return PlanItem(row.id, row.business_key, (), False, (UNREADABLE,))


def plan_migration(ctx: EngineContext, process_id: str, from_version: int, to_version: int, *,
                   instance_ids: Iterable[int] | None = None, offset: int = 0,
                   limit: int | None = None) -> MigrationPlan:
    """Per running case of ``from_version``: can it move to ``to_version``? Read-only.

    ``total`` counts every running case (of ``instance_ids``, when given); ``items`` are checked for
    the cases ``offset`` .. ``offset + limit`` only (all of them when ``limit`` is None; none for 0,
    then :func:`iter_plan_items` streams them).

    :raises NotFoundError: an unknown version.  :raises ValidationError: same versions, foreign ids.
    """
    source, target = _versions(ctx, process_id, from_version, to_version)
    changes = spec_changes(ctx, source, target)
    wanted = _chosen(ctx, source, instance_ids)
    items = tuple(_plan_item(ctx, row, source, target)
                  for row in _rows(ctx, source, wanted, offset=offset, limit=limit))
    return MigrationPlan(process_id, target.name, from_version, to_version, source.content_hash,
                         target.content_hash, tuple(changes), items, _count(ctx, source, wanted))


def iter_plan_items(ctx: EngineContext, plan: MigrationPlan, *,
                    instance_ids: Iterable[int] | None = None) -> Iterator[PlanItem]:
    """Every case of ``plan`` checked, one at a time (read in chunks: for printing as it goes)."""
    source, target = _versions(ctx, plan.process_id, plan.from_version, plan.to_version)
    for row in _rows(ctx, source, _chosen(ctx, source, instance_ids)):
        yield _plan_item(ctx, row, source, target)


def migrate_instances(ctx: EngineContext, process_id: str, from_version: int, to_version: int, *, actor: Actor,
                      reason: str, instance_ids: Iterable[int] | None = None) -> MigrationResult:
    """Move every compatible running case of ``from_version`` (or of ``instance_ids``) to ``to_version``.

    Cases are read :data:`CHUNK` ids at a time. Each is locked and checked again under the lock;
    blocked ones (and ones that left the source version meanwhile) are skipped and reported,
    untouched. Each migration runs in a SAVEPOINT: an unexpected error rolls back that case only
    and reports it in ``failed``; the others go on. Nothing is committed here.
    """
    reason, source, target = check_request(ctx, process_id, from_version, to_version, actor=actor, reason=reason)
    changes = spec_changes(ctx, source, target)
    result = MigrationResult()
    outcomes = {"migrated": result.migrated, "skipped": result.skipped, "failed": result.failed}
    for ids in _id_chunks(ctx, source, _chosen(ctx, source, instance_ids)):
        for instance_id in ids:
            outcome, item = migrate_case(ctx, instance_id, source, target, actor, reason, changes)
            outcomes[outcome].append(item)
    return result


def check_request(ctx: EngineContext, process_id: str, from_version: int, to_version: int, *, actor: Actor,
                  reason: str) -> tuple[str, ProcessDefinition, ProcessDefinition]:
    """Check a designer, a reason and two versions of one process; return the stripped reason, source and target.

    :raises PermissionDeniedError: not a designer.  :raises ValidationError: no reason, same versions.
    :raises NotFoundError: an unknown version.
    """
    require_designer(ctx, actor)
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        message = "请填写迁移原因" if not reason else f"迁移原因不能超过 {MAX_REASON} 个字符"
        raise ValidationError(message, code="reason_required", fields={"reason": [message]})
    source, target = _versions(ctx, process_id, from_version, to_version)
    return reason, source, target


def spec_changes(ctx: EngineContext, source: ProcessDefinition, target: ProcessDefinition) -> list[SpecChange]:
    """The steps added, removed and changed from ``source`` to ``target`` (recorded in each ``migrated`` event)."""
    return list(diff_specs(ctx.runtime, source.content_hash, _spec(ctx, source), target.content_hash,
                           _spec(ctx, target)))


def migrate_case(ctx: EngineContext, instance_id: int, source: ProcessDefinition, target: ProcessDefinition,
                    actor: Actor, reason: str, changes: Iterable[SpecChange]) -> tuple[str, PlanItem]:
    """Lock one case and migrate it in a SAVEPOINT; returns migrated | skipped | failed and the case's item.

    The lock is taken inside the savepoint too, so a lock the database refuses (a deadlock victim)
    fails this case only.
    """
    try:
        with ctx.session.begin_nested():
            instance = lock_instance(ctx.session, instance_id)
            if instance.definition_id != source.id or instance.status != InstanceStatus.RUNNING:
                return "skipped", PlanItem(instance_id, instance.business_key, (), False, (NOT_ON_SOURCE,))
            item = _migrate_one(ctx, instance, source, target, actor, reason, changes)
    except Exception as exc:  # noqa: BLE001  (rolled back to the savepoint: only this case is lost)
        _log_failure("migrating", instance_id, exc)
        message = exc.message if isinstance(exc, HeduiError) else FAILED
        key = ctx.session.execute(select(WorkflowInstance.business_key)
                                  .where(WorkflowInstance.id == instance_id)).scalar_one_or_none()
        return "failed", PlanItem(instance_id, key, (), False, (message,))
    return ("migrated" if item.compatible else "skipped"), item


def _migrate_one(ctx: EngineContext, instance: WorkflowInstance, source: ProcessDefinition,
                 target: ProcessDefinition, actor: Actor, reason: str, changes: Iterable[SpecChange]) -> PlanItem:
    wf = load_workflow(ctx, instance)
    check = check_migration(wf, target.content_hash, _spec(ctx, target))
    item = _item(instance, check)
    if not check.compatible:
        return item
    migrate(wf, target.content_hash, _spec(ctx, target))
    open_rows = list(ctx.session.execute(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.status == HumanTaskStatus.OPEN)
        .execution_options(populate_existing=True)).scalars())
    instance.definition, instance.definition_id = target, target.id
    # not offered to the process's workflow cache: a batch of thousands would hold every one until the commit
    digest = save_workflow(ctx, instance, wf, actor=actor, open_tasks=open_rows, keep=False)
    _refresh_surviving(open_rows, target)
    append_event(ctx, stream=instance_stream(instance.id), kind=MIGRATED, actor=actor, instance_id=instance.id,
                 definition_hash=target.content_hash, payload={
                     "process_id": source.process_id, "from_version": source.version,
                     "to_version": target.version, "from_hash": source.content_hash,
                     "to_hash": target.content_hash, "reason": reason, "diff": diff_summary(changes),
                     "retimed": list(check.retimed), "state_sha256": digest,
                     **({"dropped": list(check.dropped)} if check.dropped else {}), **deadlines_of(wf)})
    ctx.session.flush()  # _refresh_surviving's changes: clean rows are only weakly held by the session
    return item


def _refresh_surviving(rows: list[HumanTask], target: ProcessDefinition) -> None:
    """Open tasks that survived take the target's name and properties; assignee, unit and due time stay."""
    catalogue = {t["bpmn_id"]: t for t in (target.task_catalogue or {}).get("user_tasks", [])}
    for row in rows:
        entry = catalogue.get(row.bpmn_id)
        if row.status != HumanTaskStatus.OPEN or entry is None:
            continue
        properties = dict(entry.get("properties") or {})
        if "exchangeUnitValue" in (row.properties or {}):
            properties["exchangeUnitValue"] = row.properties["exchangeUnitValue"]
        row.name, row.properties = entry.get("name") or row.name, properties
