"""Deployed process definitions for designers, auditors and administrators: read side and rollback.

Every query runs a fixed number of SQL statements, however many versions and instances exist
(instances are counted per definition with one GROUP BY). The one command,
:func:`activate_version`, makes an older (or newer) deployed version current again: new cases
start on it, running cases stay on the version they started with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select

from engine.assignment import load_memberships
from engine.bpmn_diff import DefinitionDiff
from engine.bpmn_diff import diff_files
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.models import CurrentDefinition
from engine.models import DefinitionFile
from engine.models import Event
from engine.models import InstanceStatus
from engine.models import ProcessDefinition
from engine.models import Role
from engine.models import User
from engine.models import WorkflowInstance
from engine.services.deploy import make_current

logger = logging.getLogger(__name__)

#: the roles that may read deployed definitions (pages, API, files, comparisons)
DEFINITION_READERS = ("process_designer", "auditor", "admin")
#: the roles that may make another deployed version current (rollback)
DEFINITION_ACTIVATORS = ("process_designer",)
#: the system events that tell a process's deployment history
HISTORY_KINDS = {"deployed": "部署新版本", "definition_activated": "设为当前版本"}
REASON_MAX = 500
#: larger numbers would overflow the integer column (a URL can carry any number)
_MAX_VERSION = 2**31
_ENDED = (InstanceStatus.COMPLETED, InstanceStatus.TERMINATED)
#: user-task properties about separation of duties and dual control (shown together)
_SOD_PREFIXES = ("sod", "dualControl")


@dataclass(frozen=True)
class Counts:
    """Instances of a definition (or process): running (incl. stopped on an error) and ended."""

    running: int = 0
    ended: int = 0


@dataclass(frozen=True)
class ProcessSummary:
    process_id: str
    name: str
    current_version: int | None
    versions: int
    last_deployed_at: datetime
    last_deployed_by: str | None
    #: the deployer's display name (the username for system actors such as the CLI)
    last_deployed_by_name: str | None
    counts: Counts


@dataclass(frozen=True)
class VersionSummary:
    version: int
    name: str
    content_hash: str
    deployed_at: datetime
    deployed_by: str | None
    deployed_by_name: str | None
    is_current: bool
    counts: Counts

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


@dataclass(frozen=True)
class FileMeta:
    filename: str
    sha256: str
    size: int


@dataclass(frozen=True)
class UserTaskRow:
    """One user task of a version as the catalogue recorded it at deploy time."""

    bpmn_id: str
    name: str
    process_id: str
    lane: str | None
    role_name: str | None
    form_key: str | None
    due_working_days: str | None
    sod: dict[str, str]
    properties: dict[str, str]


@dataclass(frozen=True)
class VersionDetail:
    process_id: str
    version: int
    name: str
    content_hash: str
    deployed_at: datetime
    deployed_by: str | None
    deployed_by_name: str | None
    is_current: bool
    previous_version: int | None
    files: list[FileMeta]
    user_tasks: list[UserTaskRow]
    process_properties: dict[str, str]
    #: the process's own BPMN file (for the diagram)
    diagram_xml: str | None
    counts: Counts


@dataclass(frozen=True)
class HistoryEntry:
    kind: str
    kind_name: str
    actor: str
    actor_name: str
    occurred_at: datetime
    version: int | None
    reason: str | None


@dataclass(frozen=True)
class ProcessDetail:
    process_id: str
    name: str
    versions: list[VersionSummary]
    history: list[HistoryEntry]

    @property
    def current(self) -> VersionSummary | None:
        return next((v for v in self.versions if v.is_current), None)


def may_read(ctx: EngineContext, user_id: int) -> bool:
    return any(role in DEFINITION_READERS for _, role, _ in load_memberships(ctx, user_id).rows)


def may_activate(ctx: EngineContext, user_id: int) -> bool:
    return any(role in DEFINITION_ACTIVATORS for _, role, _ in load_memberships(ctx, user_id).rows)


def _counts(ctx: EngineContext, process_id: str | None = None) -> dict[int, Counts]:
    """Running and ended instances per definition id, in one GROUP BY."""
    ended = case((WorkflowInstance.status.in_(_ENDED), 1), else_=0)
    query = (select(WorkflowInstance.definition_id, func.count(), func.sum(ended))
             .group_by(WorkflowInstance.definition_id))
    if process_id is not None:
        query = query.where(WorkflowInstance.process_id == process_id)
    return {definition_id: Counts(total - int(done or 0), int(done or 0))
            for definition_id, total, done in ctx.session.execute(query)}


def _display_names(ctx: EngineContext, usernames: set[str | None]) -> dict[str, str]:
    """Display names of the given users in one statement; system actors (``cli``, jobs) keep their name."""
    wanted = sorted(u for u in usernames if u)
    if not wanted:
        return {}
    names = dict(ctx.session.execute(select(User.username, User.display_name).where(User.username.in_(wanted))).all())
    return {u: names.get(u, u) for u in wanted}


def _current_ids(ctx: EngineContext, process_id: str | None = None) -> dict[str, int]:
    query = select(CurrentDefinition.process_id, CurrentDefinition.definition_id)
    if process_id is not None:
        query = query.where(CurrentDefinition.process_id == process_id)
    return {pid: did for pid, did in ctx.session.execute(query)}


_COLUMNS = (ProcessDefinition.id, ProcessDefinition.process_id, ProcessDefinition.version, ProcessDefinition.name,
            ProcessDefinition.content_hash, ProcessDefinition.deployed_at, ProcessDefinition.deployed_by)


def list_processes(ctx: EngineContext) -> list[ProcessSummary]:
    """Every deployed process id: its current version and name, versions, last deploy, instance counts."""
    rows = ctx.session.execute(select(*_COLUMNS).order_by(ProcessDefinition.process_id,
                                                          ProcessDefinition.version)).all()
    current, counts = _current_ids(ctx), _counts(ctx)
    by_process: dict[str, list[Any]] = {}
    for row in rows:
        by_process.setdefault(row.process_id, []).append(row)
    names = _display_names(ctx, {r.deployed_by for r in rows})
    out = []
    for process_id, versions in by_process.items():
        shown = next((r for r in versions if r.id == current.get(process_id)), versions[-1])
        last = max(versions, key=lambda r: (r.deployed_at, r.version))
        total = [counts.get(r.id, Counts()) for r in versions]
        out.append(ProcessSummary(
            process_id, shown.name, shown.version if shown.id == current.get(process_id) else None, len(versions),
            last.deployed_at, last.deployed_by, names.get(last.deployed_by or ""),
            Counts(sum(c.running for c in total), sum(c.ended for c in total))))
    return out


def get_process(ctx: EngineContext, process_id: str) -> ProcessDetail:
    """The versions of one process (newest first) and its deployment history.

    :raises NotFoundError: no version of ``process_id`` was ever deployed.
    """
    rows = ctx.session.execute(select(*_COLUMNS).where(ProcessDefinition.process_id == process_id)
                               .order_by(ProcessDefinition.version.desc())).all()
    if not rows:
        raise NotFoundError("没有该流程的部署记录", code="process_not_found", process_id=process_id)
    current, counts = _current_ids(ctx, process_id).get(process_id), _counts(ctx, process_id)
    events = _history_events(ctx, process_id)
    names = _display_names(ctx, {r.deployed_by for r in rows} | {ev.actor for ev in events})
    versions = [VersionSummary(r.version, r.name, r.content_hash, r.deployed_at, r.deployed_by,
                               names.get(r.deployed_by or ""), r.id == current, counts.get(r.id, Counts()))
                for r in rows]
    name = next((v.name for v in versions if v.is_current), versions[0].name)
    history = [HistoryEntry(ev.kind, HISTORY_KINDS[ev.kind], ev.actor, names.get(ev.actor, ev.actor), ev.occurred_at,
                            _payload(ev).get("version"), _payload(ev).get("reason")) for ev in events]
    return ProcessDetail(process_id, name, versions, history)


def _history_events(ctx: EngineContext, process_id: str) -> list[Event]:
    """The ``deployed`` and ``definition_activated`` system events of one process, newest first.

    Events name their definition by hash; the payload's ``process_id`` confirms the match.
    """
    hashes = select(ProcessDefinition.content_hash).where(ProcessDefinition.process_id == process_id)
    events = ctx.session.execute(
        select(Event).where(Event.stream == SYSTEM_STREAM, Event.kind.in_(list(HISTORY_KINDS)),
                            Event.definition_hash.in_(hashes)).order_by(Event.seq.desc())
    ).scalars()
    return [ev for ev in events if _payload(ev).get("process_id") == process_id]


def _payload(ev: Event) -> dict[str, Any]:
    return ev.payload if isinstance(ev.payload, dict) else {}


def get_definition(ctx: EngineContext, process_id: str, version: int) -> ProcessDefinition:
    """:raises NotFoundError: (``definition_version_not_found``) no such version of the process."""
    definition = None if not 0 < version < _MAX_VERSION else ctx.session.execute(select(ProcessDefinition).where(
        ProcessDefinition.process_id == process_id, ProcessDefinition.version == version)).scalar_one_or_none()
    if definition is None:
        raise NotFoundError(f"流程 {process_id} 没有第 {version} 版", code="definition_version_not_found",
                            process_id=process_id, version=version)
    return definition


def file_contents(ctx: EngineContext, definition_id: int) -> dict[str, str]:
    """The definition's files, name → XML text, in one statement."""
    return {name: content for name, content in ctx.session.execute(
        select(DefinitionFile.filename, DefinitionFile.content)
        .where(DefinitionFile.definition_id == definition_id).order_by(DefinitionFile.filename))}


def get_file(ctx: EngineContext, process_id: str, version: int, filename: str) -> str:
    """:raises NotFoundError: (``definition_file_not_found``) the version has no file of that name."""
    definition = get_definition(ctx, process_id, version)
    content = ctx.session.execute(select(DefinitionFile.content).where(
        DefinitionFile.definition_id == definition.id, DefinitionFile.filename == filename)).scalar_one_or_none()
    if content is None:
        raise NotFoundError("该版本没有这个文件", code="definition_file_not_found", filename=filename)
    return str(content)


def get_version(ctx: EngineContext, process_id: str, version: int) -> VersionDetail:
    """One version: files (name, sha256, size), user tasks with their roles' names, process properties."""
    definition = get_definition(ctx, process_id, version)
    files = ctx.session.execute(
        select(DefinitionFile.filename, DefinitionFile.content_sha256, DefinitionFile.content)
        .where(DefinitionFile.definition_id == definition.id).order_by(DefinitionFile.filename)).all()
    contents = {f.filename: f.content for f in files}
    roles = {code: name for code, name in ctx.session.execute(select(Role.code, Role.name))}
    current = _current_ids(ctx, process_id).get(process_id)
    previous = ctx.session.execute(select(func.max(ProcessDefinition.version)).where(
        ProcessDefinition.process_id == process_id, ProcessDefinition.version < version)).scalar()
    catalogue = definition.task_catalogue or {}
    return VersionDetail(
        process_id, definition.version, definition.name, definition.content_hash, definition.deployed_at,
        definition.deployed_by, _display_names(ctx, {definition.deployed_by}).get(definition.deployed_by or ""),
        definition.id == current, previous,
        [FileMeta(f.filename, f.content_sha256, len(f.content.encode("utf-8"))) for f in files],
        [_task_row(t, roles) for t in catalogue.get("user_tasks", [])],
        dict(catalogue.get("process_properties") or {}), _own_diagram(process_id, contents),
        _counts(ctx, process_id).get(definition.id, Counts()))


def _task_row(task: dict[str, Any], roles: dict[str, str]) -> UserTaskRow:
    props = {str(k): str(v) for k, v in (task.get("properties") or {}).items()}
    lane = task.get("lane")
    return UserTaskRow(task.get("bpmn_id", ""), task.get("name") or "", task.get("process_id", ""), lane,
                       roles.get(lane) if lane else None, props.get("formKey"), props.get("dueWorkingDays"),
                       {k: v for k, v in props.items() if k.startswith(_SOD_PREFIXES)}, props)


def find_diagram_xml(ctx: EngineContext, process_id: str, version: int) -> str | None:
    """The BPMN file of one version's own process (for the diagram), in two statements."""
    return _own_diagram(process_id, file_contents(ctx, get_definition(ctx, process_id, version).id))


def _own_diagram(process_id: str, contents: dict[str, str]) -> str | None:
    """``<process_id>.bpmn`` (the process's own file), else the first BPMN file."""
    bpmn = [(name, text) for name, text in contents.items() if name.endswith(".bpmn")]
    own = [text for name, text in bpmn if name.rsplit("/", 1)[-1] == f"{process_id}.bpmn"]
    return own[0] if own else (bpmn[0][1] if bpmn else None)


def compare_versions(ctx: EngineContext, process_id: str, old: int, new: int) -> DefinitionDiff:
    """The semantic (and text) diff from version ``old`` to version ``new`` of one process."""
    before, after = get_definition(ctx, process_id, old), get_definition(ctx, process_id, new)
    return diff_files(file_contents(ctx, before.id), file_contents(ctx, after.id),
                      old_label=f"第 {old} 版", new_label=f"第 {new} 版")


@dataclass(frozen=True)
class Activation:
    process_id: str
    version: int
    previous_version: int | None


def activate_version(ctx: EngineContext, process_id: str, version: int, *, actor: Actor,
                     reason: str) -> Activation:
    """Make a deployed version current again (rollback or roll forward); new cases start on it.

    Running cases stay on the version they started with. Appends ``definition_activated`` with
    the reason to the system stream.
    :raises PermissionDeniedError: a signed-in actor without the process-designer role.
    :raises ValidationError: the reason is empty or longer than 500 characters.
    :raises NotFoundError: no such version.
    :raises InvalidStateError: (``definition_already_current``) the version is current already.
    """
    if actor.user_id is not None and not may_activate(ctx, actor.user_id):
        raise PermissionDeniedError("只有流程设计员可以切换流程的当前版本", code="definition_activate_role_required")
    reason = _checked_reason(reason)
    definition = get_definition(ctx, process_id, version)
    # lock first (make_current locks the same row again), so "previous" is the version replaced
    before = ctx.session.get(CurrentDefinition, process_id, with_for_update=True)
    previous = ctx.session.get_one(ProcessDefinition, before.definition_id).version if before is not None else None
    if not make_current(ctx, definition):
        raise InvalidStateError(f"第 {version} 版已经是当前版本", code="definition_already_current",
                                process_id=process_id, version=version)
    append_event(ctx, stream=SYSTEM_STREAM, kind="definition_activated", actor=actor,
                 definition_hash=definition.content_hash,
                 payload={"process_id": process_id, "version": version, "previous_version": previous,
                          "reason": reason})
    logger.info("%s version %s made current by %s (was %s)", process_id, version, actor.username, previous)
    return Activation(process_id, version, previous)


def _checked_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError("请填写切换版本的原因", code="activation_reason_required",
                              fields={"reason": ["请填写切换版本的原因"]})
    if len(text) > REASON_MAX:
        raise ValidationError(f"原因不能超过 {REASON_MAX} 字", code="activation_reason_too_long",
                              fields={"reason": [f"原因不能超过 {REASON_MAX} 字（现为 {len(text)} 字）"]})
    return text
