"""Move running cases of a process from one deployed version to another (designer tools, 版本迁移).

A case stays pinned to the definition it started on (``workflow_instances.definition_id``). When a
designer fixes a diagram, :func:`plan_migration` shows per running case of the old version whether
it can move (the compatibility rule of :mod:`engine.runtime.migration`, in Chinese) and what changed
between the versions; :func:`migrate_instances` moves the compatible ones: each is locked, migrated,
re-pinned and saved through the normal save path (derived rows rebuilt in the same transaction: a
surviving open task keeps its row, assignee and due time; new tasks get the target's catalogue
properties), and ONE ``migrated`` event is appended to its chain, carrying the target's definition
hash. The audit replay re-executes that event (``engine.audit_replay``), so the log stays replayable.

Only process designers (role ``process_designer``) may do this; system actors (the CLI) may too.
Services flush; the caller commits once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.deadlines import deadlines_of
from engine.deadlines import recording
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
from engine.runtime import Workflow
from engine.runtime.migration import Blocker
from engine.runtime.migration import MigrationCheck
from engine.runtime.migration import SpecChange
from engine.runtime.migration import check_migration
from engine.runtime.migration import diff_specs
from engine.runtime.migration import migrate

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


@dataclass(frozen=True)
class PlanItem:
    """One running case of the source version: can it move, and if not, why (Chinese)."""

    instance_id: int
    business_key: str | None
    #: the steps it is at now, e.g. "受理初审（待办）"
    current: tuple[str, ...]
    compatible: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class MigrationPlan:
    process_id: str
    process_name: str
    from_version: int
    to_version: int
    from_hash: str
    to_hash: str
    changes: tuple[SpecChange, ...]
    items: tuple[PlanItem, ...]

    @property
    def compatible_ids(self) -> list[int]:
        return [i.instance_id for i in self.items if i.compatible]

    def summary(self) -> dict[str, list[dict[str, Any]]]:
        """The diff as the ``migrated`` event records it: added / removed / changed task ids and names."""
        return diff_summary(self.changes)


@dataclass
class MigrationResult:
    migrated: list[PlanItem] = field(default_factory=list)
    skipped: list[PlanItem] = field(default_factory=list)


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


def _candidates(ctx: EngineContext, source: ProcessDefinition,
                instance_ids: Iterable[int] | None) -> list[WorkflowInstance]:
    """Running instances on ``source`` (only ``instance_ids`` when given; ids of other processes refused)."""
    query = select(WorkflowInstance).where(WorkflowInstance.definition_id == source.id,
                                           WorkflowInstance.status == InstanceStatus.RUNNING)
    if instance_ids is None:
        return list(ctx.session.execute(query.order_by(WorkflowInstance.id)).scalars())
    wanted = sorted(set(instance_ids))
    own = set(ctx.session.execute(select(WorkflowInstance.id).where(
        WorkflowInstance.id.in_(wanted), WorkflowInstance.process_id == source.process_id)).scalars())
    if set(wanted) - own:
        raise ValidationError("所选案件不属于该流程", code="foreign_instance",
                              fields={"instance": ["所选案件不属于该流程"]})
    return list(ctx.session.execute(query.where(WorkflowInstance.id.in_(wanted)).order_by(WorkflowInstance.id))
                .scalars())


def _reasons(blockers: Iterable[Blocker]) -> tuple[str, ...]:
    out = []
    for b in blockers:
        what = f"「{b.name}」（{b.bpmn_id}）" if b.name != b.bpmn_id else f"「{b.bpmn_id}」"
        out.append(_REASONS.get(b.reason, "步骤{what}与新版本不兼容").format(what=what))
    return tuple(out)


def _item(instance: WorkflowInstance, check: MigrationCheck) -> PlanItem:
    current = tuple(dict.fromkeys(f"{c.name}（{STATE_NAMES.get(c.state, c.state)}）" for c in check.current))
    return PlanItem(instance.id, instance.business_key, current, check.compatible, _reasons(check.blockers))


def _readonly_workflow(ctx: EngineContext, instance: WorkflowInstance, source: ProcessDefinition) -> Workflow:
    """A private copy of the instance's workflow (never the cached one: a plan changes nothing)."""
    return ctx.runtime.load(source.content_hash, _spec(ctx, source), instance.state, instance.serializer_version,
                            deadline=recording(ctx.deadline))


def plan_migration(ctx: EngineContext, process_id: str, from_version: int, to_version: int, *,
                   instance_ids: Iterable[int] | None = None) -> MigrationPlan:
    """Per running case of ``from_version``: can it move to ``to_version``? Read-only.

    :raises NotFoundError: an unknown version.  :raises ValidationError: same versions, foreign ids.
    """
    source, target = _versions(ctx, process_id, from_version, to_version)
    changes = diff_specs(ctx.runtime, source.content_hash, _spec(ctx, source), target.content_hash,
                         _spec(ctx, target))
    items = []
    for instance in _candidates(ctx, source, instance_ids):
        wf = _readonly_workflow(ctx, instance, source)
        items.append(_item(instance, check_migration(wf, target.content_hash, _spec(ctx, target))))
    return MigrationPlan(process_id, target.name, from_version, to_version, source.content_hash,
                         target.content_hash, tuple(changes), tuple(items))


def migrate_instances(ctx: EngineContext, process_id: str, from_version: int, to_version: int, *, actor: Actor,
                      reason: str, instance_ids: Iterable[int] | None = None) -> MigrationResult:
    """Move every compatible running case of ``from_version`` (or of ``instance_ids``) to ``to_version``.

    Each case is locked and checked again under the lock; blocked ones (and ones that left the source
    version meanwhile) are skipped and reported, untouched. A concurrent writer is a ConflictError.
    """
    require_designer(ctx, actor)
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        message = "请填写迁移原因" if not reason else f"迁移原因不能超过 {MAX_REASON} 个字符"
        raise ValidationError(message, code="reason_required", fields={"reason": [message]})
    source, target = _versions(ctx, process_id, from_version, to_version)
    changes = diff_specs(ctx.runtime, source.content_hash, _spec(ctx, source), target.content_hash,
                         _spec(ctx, target))
    result = MigrationResult()
    for candidate in _candidates(ctx, source, instance_ids):
        instance = lock_instance(ctx.session, candidate.id)
        if instance.definition_id != source.id or instance.status != InstanceStatus.RUNNING:
            result.skipped.append(PlanItem(instance.id, instance.business_key, (), False, (NOT_ON_SOURCE,)))
            continue
        item = _migrate_one(ctx, instance, source, target, actor, reason, changes)
        (result.migrated if item.compatible else result.skipped).append(item)
    return result


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
    digest = save_workflow(ctx, instance, wf, actor=actor, open_tasks=open_rows)
    _refresh_surviving(open_rows, target)
    append_event(ctx, stream=instance_stream(instance.id), kind=MIGRATED, actor=actor, instance_id=instance.id,
                 definition_hash=target.content_hash, payload={
                     "process_id": source.process_id, "from_version": source.version,
                     "to_version": target.version, "from_hash": source.content_hash,
                     "to_hash": target.content_hash, "reason": reason, "diff": diff_summary(changes),
                     "retimed": list(check.retimed), "state_sha256": digest, **deadlines_of(wf)})
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
