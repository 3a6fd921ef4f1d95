"""Who may see and do what on a case: lanes -> roles -> holders in the case's units, plus the guards.

Checked on the server at claim **and** at completion (and on reassignment), never only as an
inbox filter. A refusal is recorded as a ``refused`` event in the case's history; the error
asks the entry point to commit that record (and nothing else, since the guard runs before
any change).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import false
from sqlalchemy import or_
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import HeduiError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import SeparationOfDutiesError
from engine.history import append_event
from engine.history import instance_stream
from engine.models import Escalation
from engine.models import Household
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import Membership
from engine.models import Region
from engine.models import Role
from engine.models import Unit
from engine.models import User
from engine.models import WorkflowInstance
from engine.models.escalation import CrossCityBatch
from engine.persistence import definition_info
from engine.services.org import is_registered
from engine.sod import declared_exclusions
from engine.sod import raiser_violation
from engine.sod import violations

#: oversight (AU-1, PR-4): may read every case of its jurisdiction, may never act on one
AUDITOR_ROLE = "auditor"
AUDITOR_READ_ONLY = "auditor_read_only"


@dataclass(frozen=True)
class Memberships:
    """A user's roles in units with each unit's region path, loaded once for a whole guard check."""

    #: ``(unit_id, role_code, region_path)``
    rows: tuple[tuple[int, str, str], ...]

    def holds(self, unit_id: int | None, role_code: str | None) -> bool:
        return unit_id is not None and role_code is not None and (unit_id, role_code) in {
            (unit, role) for unit, role, _ in self.rows}

    @property
    def is_auditor(self) -> bool:
        return any(role == AUDITOR_ROLE for _, role, _ in self.rows)

    @property
    def unit_ids(self) -> frozenset[int]:
        return frozenset(unit for unit, _, _ in self.rows)

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(path for _, _, path in self.rows)


def load_memberships(ctx: EngineContext, user_id: int) -> Memberships:
    """The user's memberships in one query (guards check jurisdiction, auditor role and role from it)."""
    rows = ctx.session.execute(
        select(Membership.unit_id, Membership.role_code, Region.path).join(Unit, Unit.id == Membership.unit_id)
        .join(Region, Region.code == Unit.region_code).where(Membership.user_id == user_id)
        .order_by(Membership.id)
    ).all()
    return Memberships(tuple((unit_id, role, path) for unit_id, role, path in rows))


def is_auditor(ctx: EngineContext, user_id: int) -> bool:
    """Whether the user holds the auditor role in any unit (then they act on no case at all)."""
    return ctx.session.execute(select(Membership.id).where(
        Membership.user_id == user_id, Membership.role_code == AUDITOR_ROLE)).first() is not None


def unit_for_role(ctx: EngineContext, instance: WorkflowInstance, role_code: str | None) -> int | None:
    """The unit whose staff act in ``role_code`` on ``instance`` (by the role's party)."""
    if instance.agency_unit_id is None and instance.entrusting_unit_id is None:
        return None
    role = ctx.session.get(Role, role_code) if role_code else None
    party = role.party if role is not None else "agency"
    return {"agency": instance.agency_unit_id, "entrusting": instance.entrusting_unit_id}.get(party)


def holds(ctx: EngineContext, user_id: int, unit_id: int | None, role_code: str | None) -> bool:
    if unit_id is None or role_code is None:
        return False
    return ctx.session.execute(select(Membership.id).where(
        Membership.user_id == user_id, Membership.unit_id == unit_id, Membership.role_code == role_code)
    ).first() is not None


def candidates(ctx: EngineContext, task: HumanTask) -> list[User]:
    """Holders of the task's role in the task's unit, minus those a SoD rule excludes."""
    if task.unit_id is None or task.role_code is None:
        return []
    users = ctx.session.execute(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.unit_id == task.unit_id, Membership.role_code == task.role_code, User.is_active)
        .order_by(User.username)
    ).scalars().all()
    done = done_by(ctx, task.instance_id)
    raised = raised_by(ctx, task)
    return [u for u in users if not violations(task.properties, done, u.username)
            and raiser_violation(task.properties, raised, u.username) is None]


def raised_by(ctx: EngineContext, task: HumanTask) -> set[str]:
    """Who raised the requests the task's instance handles, per its ``sodNotRaisedBy`` source (engine.sod)."""
    query = _raisers(task.properties.get("sodNotRaisedBy"))
    if query is None:
        return set()
    return set(ctx.session.execute(query.where(_handled_by(task.properties["sodNotRaisedBy"]) == task.instance_id))
               .scalars())


def raised_by_condition(source: str | None, username: str) -> ColumnElement[bool] | None:
    """SQL: ``username`` raised one of the requests ``HumanTask``'s instance handles (the inbox's "may claim")."""
    query = _raisers(source)
    if query is None or source is None:
        return None
    return query.where(_handled_by(source) == HumanTask.instance_id, Escalation.raised_by == username).exists()


def _raisers(source: str | None) -> Select[str] | None:
    if source == "escalation":
        return select(Escalation.raised_by).join(Household, Household.id == Escalation.upper_household_id)
    if source == "cross_city_requests":
        return select(Escalation.raised_by).join(CrossCityBatch, CrossCityBatch.id == Escalation.batch_id)
    return None


def _handled_by(source: str) -> Any:
    """The instance column a ``sodNotRaisedBy`` source's requests are handled by."""
    return Household.instance_id if source == "escalation" else CrossCityBatch.instance_id


def done_by(ctx: EngineContext, instance_id: int) -> dict[str, list[str]]:
    """Who completed each user task of the case (every occurrence, loops included)."""
    rows = ctx.session.execute(
        select(HumanTask.bpmn_id, HumanTask.completed_by)
        .where(HumanTask.instance_id == instance_id, HumanTask.status == HumanTaskStatus.COMPLETED)
    ).all()
    out: dict[str, list[str]] = defaultdict(list)
    for bpmn_id, username in rows:
        if username:
            out[bpmn_id].append(username)
    return out


def visible_to(ctx: EngineContext, user_id: int, instance: WorkflowInstance,
               memberships: Memberships | None = None) -> bool:
    """Jurisdiction (OR-3): the case's units, or a unit whose region contains the case's region."""
    held = memberships if memberships is not None else load_memberships(ctx, user_id)
    if held.unit_ids & {instance.agency_unit_id, instance.entrusting_unit_id}:
        return True
    if instance.region_code is None or not held.paths:
        return False
    case_path = ctx.session.execute(select(Region.path).where(Region.code == instance.region_code)).scalar_one()
    return any(case_path.startswith(path) for path in held.paths)


def visible_instances(ctx: EngineContext, user_id: int, instance: Any = WorkflowInstance,
                      memberships: Memberships | None = None) -> ColumnElement[bool]:
    """``visible_to`` as a SQL condition (lists filter in the query, before any LIMIT).

    :param instance: ``WorkflowInstance`` or an alias of it, the case the condition is about.
    :param memberships: only these of the user's memberships (a list read in some roles only); default all.
    """
    held = memberships if memberships is not None else load_memberships(ctx, user_id)
    conditions: list[ColumnElement[bool]] = []
    if held.unit_ids:
        units = sorted(held.unit_ids)
        conditions += [instance.agency_unit_id.in_(units), instance.entrusting_unit_id.in_(units)]
    if held.paths:
        regions = select(Region.code).where(or_(*[Region.path.startswith(path) for path in sorted(held.paths)]))
        conditions.append(instance.region_code.in_(regions))
    return or_(*conditions) if conditions else false()


def check_task_action(ctx: EngineContext, task: HumanTask, instance: WorkflowInstance, actor: Actor,
                      action: str, *, record: bool = True) -> None:
    """Refuse ``action`` (claim/complete) unless ``actor`` may do it; record refusals.

    404 when the case is outside the actor's jurisdiction, 403 when they lack the role in the
    task's unit, are not a registered exchange officer, or a separation-of-duties rule forbids it.
    The actor's memberships are read once for all three membership checks.

    :param record: ``False`` for a dry check (:func:`would_accept`): the error is raised, nothing written.
    """
    if actor.user_id is not None:
        held = load_memberships(ctx, actor.user_id)
        if not visible_to(ctx, actor.user_id, instance, held):
            # recorded for auditors (AU-1); the caller only learns that no such task exists
            _refuse(ctx, instance, task, actor, action, NotFoundError("任务不存在"), rule="jurisdiction",
                    record=record)
        refuse_auditor(ctx, task, instance, actor, action, held, record=record)
        if not held.holds(task.unit_id, task.role_code):
            _refuse(ctx, instance, task, actor, action, PermissionDeniedError(
                "您在承办单位不具备办理该任务的角色", code="role_required", role=task.role_code), record=record)
        _check_registration(ctx, task, instance, actor, action, record)
    raiser = raiser_violation(task.properties, raised_by(ctx, task), actor.username)
    if raiser is not None:
        _refuse(ctx, instance, task, actor, action, SeparationOfDutiesError(
            raiser.explanation, rule=raiser.rule, conflicting_task=raiser.conflicting_task), record=record)
    if not declared_exclusions(task.properties):
        return
    names = definition_info(ctx, instance.definition_id).task_names
    found = violations(task.properties, done_by(ctx, task.instance_id), actor.username, names)
    if found:
        v = found[0]
        _refuse(ctx, instance, task, actor, action, SeparationOfDutiesError(
            v.explanation, rule=v.rule, conflicting_task=v.conflicting_task), record=record)


def would_accept(ctx: EngineContext, task: HumanTask, instance: WorkflowInstance, user: User,
                 action: str = "reassign") -> bool:
    """Whether :func:`check_task_action` would let ``user`` take ``task`` (as at reassignment), writing nothing.

    The same checks in the same order — jurisdiction, auditor (AU-1), role, 备案 (SD-3), raiser and
    declared separation-of-duties rules — without a ``refused`` event: a dry check is no refusal.
    """
    try:
        check_task_action(ctx, task, instance, Actor(user.username, task.role_code, user.id), action, record=False)
    except HeduiError:
        return False
    return True


def reassign_candidates(ctx: EngineContext, task: HumanTask) -> list[User]:
    """Who a supervisor may give ``task`` to: :func:`candidates` other than its assignee whom the reassignment
    guard would accept (:func:`would_accept`), so the offer never includes someone the engine then refuses."""
    return [u for u in candidates(ctx, task)
            if u.username != task.assignee and would_accept(ctx, task, task.instance, u)]


def _check_registration(ctx: EngineContext, task: HumanTask, instance: WorkflowInstance, actor: Actor,
                        action: str, record: bool = True) -> None:
    sharing_unit = task.properties.get("exchangeUnitValue")
    if not sharing_unit:
        return
    if not is_registered(ctx, actor.user_id or 0, sharing_unit, ctx.today()):
        _refuse(ctx, instance, task, actor, action, SeparationOfDutiesError(
            f"您不是信息共享单位「{sharing_unit}」当前有效的备案交换人员（SD-3）", rule="SD-3"), record=record)


def refuse_auditor(ctx: EngineContext, task: HumanTask, instance: WorkflowInstance, actor: Actor,
                   action: str, memberships: Memberships | None = None, *, record: bool = True) -> None:
    """Refuse (and record) any task action by, or reassignment to, someone holding the auditor role.

    An auditor who could also claim or complete would be auditing their own work; the role is
    read-only by construction, whatever other roles the same person was given (AU-1).
    """
    if actor.user_id is None:
        return
    if memberships.is_auditor if memberships is not None else is_auditor(ctx, actor.user_id):
        _refuse(ctx, instance, task, actor, action, PermissionDeniedError(
            "审计监督员只能查阅案件，不能认领、办理、退回、改派或接受改派任务", code=AUDITOR_READ_ONLY), rule="AU-1",
                record=record)


def assert_visible(ctx: EngineContext, task: HumanTask, actor: Actor, action: str) -> None:
    """404 (recorded as a jurisdiction refusal) unless the actor may know the task's case exists."""
    if actor.user_id is not None and not visible_to(ctx, actor.user_id, task.instance):
        _refuse(ctx, task.instance, task, actor, action, NotFoundError("任务不存在"), rule="jurisdiction")


def _refuse(ctx: EngineContext, instance: WorkflowInstance, task: HumanTask, actor: Actor, action: str,
            error: HeduiError, rule: str | None = None, *, record: bool = True) -> None:
    if not record:  # a dry check (would_accept): say no, write nothing
        raise error
    append_event(ctx, stream=instance_stream(instance.id), kind="refused", actor=actor, instance_id=instance.id,
                 definition_hash=definition_info(ctx, instance.definition_id).content_hash, task_id=task.id,
                 bpmn_id=task.bpmn_id,
                 payload={"action": action, "code": error.code, "rule": rule or error.details.get("rule"),
                          "message": error.message})
    error.commit = True  # keep the record of the refusal; nothing else was changed
    raise error

