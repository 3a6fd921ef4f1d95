"""Deploy BPMN/DMN files as immutable, hash-identified process definitions."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from lxml import etree
from sqlalchemy import func
from sqlalchemy import select

import forms
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import DeploymentError
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.models import CurrentDefinition
from engine.models import DefinitionFile
from engine.models import ProcessDefinition
from engine.models import Role
from engine.runtime import DeployProblem
from engine.runtime import ParsedProcess
from engine.runtime import parse_bundle

logger = logging.getLogger(__name__)

_BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass(frozen=True)
class DeployedProcess:
    process_id: str
    version: int
    content_hash: str
    #: False when identical files were deployed before (no new version)
    created: bool


class BundleValidation(NamedTuple):
    """What :func:`validate_bundle` found: the processes ready to store, or every problem."""

    parsed: list[ParsedProcess]
    problems: list[DeployProblem]
    #: the files given plus the current files of called processes not among them (what ``parsed`` was built from)
    bundle: dict[str, bytes]


NO_FILES = "没有可部署的文件"


def validate_bundle(ctx: EngineContext, files: Mapping[str, bytes]) -> BundleValidation:
    """Run every deploy check on ``files`` without storing anything (the one validation deploy and lint share).

    Called processes not among ``files`` are taken from their current deployed version; lane names are checked
    against the role catalogue and form keys against ``forms/``. Reads the database, writes nothing.
    """
    if not files:
        return BundleValidation([], [DeployProblem("", NO_FILES, code="no_files")], {})
    bundle = dict(files)
    own = _declared_processes(bundle)
    bundle.update(_current_files_for(ctx, _called_processes(bundle) - own, exclude=set(bundle)))
    roles = ctx.session.execute(select(Role.code)).scalars().all()
    parsed, problems = parse_bundle(bundle, known_roles=roles, known_forms=forms.form_keys(), processes=sorted(own),
                                    caller_tasks=_deployed_caller_tasks(ctx, own, _declared_processes(bundle)))
    return BundleValidation(parsed, problems, bundle)


def deploy_files(ctx: EngineContext, files: Mapping[str, bytes], *, actor: Actor,
                 reason: str | None = None) -> list[DeployedProcess]:
    """Validate and store every process in ``files``; all or nothing.

    Called processes not among ``files`` are taken from their current deployed version.
    :param reason: the designer's 部署说明, kept in each new version's ``deployed`` event.
    :raises DeploymentError: listing every problem with file, element and line.
    """
    parsed, problems, bundle = validate_bundle(ctx, files)
    if problems:
        raise deployment_error(problems)
    return [_store(ctx, p, bundle, actor, reason) for p in parsed]


def deployment_error(problems: list[DeployProblem]) -> DeploymentError:
    """The refusal deploy raises for ``problems`` (its message lists each with file, line and element)."""
    if [p.code for p in problems] == ["no_files"]:
        return DeploymentError(NO_FILES)
    text = "\n".join(str(p) for p in problems)
    return DeploymentError(f"流程定义校验未通过:\n{text}", problems=[p.__dict__ for p in problems])


def _declared_processes(bundle: Mapping[str, bytes]) -> set[str]:
    out = set()
    for name, content in bundle.items():
        if name.endswith(".bpmn"):
            out |= {el.get("id") for el in _iter(content, "process") if el.get("id")}  # no id: the XSD refuses it
    return out


def _called_processes(bundle: Mapping[str, bytes]) -> set[str]:
    out = set()
    for name, content in bundle.items():
        if name.endswith(".bpmn"):
            out |= {el.get("calledElement") for el in _iter(content, "callActivity") if el.get("calledElement")}
    return out


def _deployed_caller_tasks(ctx: EngineContext, own: set[str], declared: set[str]) -> dict[str, set[str]]:
    """For each of ``own``, the user tasks of the current versions of deployed processes that call it (their
    definitions bundle its file) and are not in the bundle: a called process deployed alone may name them."""
    rows = ctx.session.execute(
        select(CurrentDefinition.process_id, DefinitionFile.filename, ProcessDefinition.task_catalogue)
        .join(ProcessDefinition, ProcessDefinition.id == CurrentDefinition.definition_id)
        .join(DefinitionFile, DefinitionFile.definition_id == ProcessDefinition.id)
        .where(DefinitionFile.filename.in_(sorted(f"{pid}.bpmn" for pid in own)))
    ).all()
    out: dict[str, set[str]] = {}
    for caller, filename, catalogue in rows:
        if caller not in declared:
            tasks = {t["bpmn_id"] for t in catalogue.get("user_tasks", [])}
            out.setdefault(filename.removesuffix(".bpmn"), set()).update(tasks)
    return out


def _iter(content: bytes, tag: str) -> list[etree._Element]:
    try:
        root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return []  # reported with its line by parse_bundle
    return list(root.iter(f"{{{_BPMN_NS}}}{tag}"))


def _current_files_for(ctx: EngineContext, process_ids: set[str], exclude: set[str]) -> dict[str, bytes]:
    """The files of the called processes' current versions and of every process those call in turn.

    Each process's own file (``<id>.bpmn``) comes from that process's current version, never from another
    definition that bundled an older copy of it, so a caller deployed now reaches every process at its current
    version whatever order the rows come in. A definition's other files (DMN tables) come with it; when two
    definitions carry one, the first process in sorted order gives it.
    """
    out: dict[str, bytes] = {}
    seen: set[str] = set()
    wanted = set(process_ids)
    while wanted - seen:
        batch = sorted(wanted - seen)
        seen.update(batch)
        rows = ctx.session.execute(
            select(CurrentDefinition.process_id, DefinitionFile.filename, DefinitionFile.content)
            .join(CurrentDefinition, CurrentDefinition.definition_id == DefinitionFile.definition_id)
            .where(CurrentDefinition.process_id.in_(batch))
            .order_by(CurrentDefinition.process_id, DefinitionFile.filename)
        ).all()
        for pid, name, content in rows:
            if name in exclude or name in out or (name.endswith(".bpmn") and name != f"{pid}.bpmn"):
                continue
            out[name] = content.encode("utf-8")
        wanted |= _called_processes(out)
    return out


def content_hash(files: Mapping[str, bytes]) -> str:
    """Hash of a set of files: names and contents, order-independent."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + hashlib.sha256(files[name]).hexdigest().encode() + b"\n")
    return digest.hexdigest()


def _store(ctx: EngineContext, parsed: ParsedProcess, bundle: Mapping[str, bytes], actor: Actor,
           reason: str | None = None) -> DeployedProcess:
    own_files = {name: bundle[name] for name in parsed.files}
    digest = content_hash(own_files)
    existing = ctx.session.execute(
        select(ProcessDefinition).where(ProcessDefinition.content_hash == digest)
    ).scalar_one_or_none()
    if existing is not None:
        if make_current(ctx, existing):
            activated: dict[str, object] = {"process_id": existing.process_id, "version": existing.version}
            if reason:
                activated["reason"] = reason
            append_event(ctx, stream=SYSTEM_STREAM, kind="definition_activated", actor=actor, definition_hash=digest,
                         payload=activated)
        return DeployedProcess(existing.process_id, existing.version, digest, created=False)
    version = (ctx.session.execute(
        select(func.max(ProcessDefinition.version)).where(ProcessDefinition.process_id == parsed.process_id)
    ).scalar() or 0) + 1
    definition = ProcessDefinition(
        process_id=parsed.process_id, content_hash=digest, version=version, name=parsed.name,
        serialized_spec=parsed.serialized_spec, serializer_version=parsed.serializer_version,
        task_catalogue={"user_tasks": [t.__dict__ for t in parsed.user_tasks], "has_timers": parsed.has_timers,
                        "has_messages": parsed.has_messages, "process_properties": parsed.properties},
        deployed_at=ctx.now(), deployed_by=actor.username,
        files=[DefinitionFile(filename=n, content_sha256=hashlib.sha256(c).hexdigest(), content=c.decode("utf-8"))
               for n, c in sorted(own_files.items())],
    )
    ctx.session.add(definition)
    ctx.session.flush()
    make_current(ctx, definition)
    payload: dict[str, object] = {"process_id": parsed.process_id, "version": version, "files": sorted(own_files)}
    if reason:
        payload["reason"] = reason
    append_event(ctx, stream=SYSTEM_STREAM, kind="deployed", actor=actor, definition_hash=digest, payload=payload)
    logger.info("deployed %s version %s (%s)", parsed.process_id, version, digest[:12])
    return DeployedProcess(parsed.process_id, version, digest, created=True)


def make_current(ctx: EngineContext, definition: ProcessDefinition) -> bool:
    """Make ``definition`` the one new instances of its process start on; False when it already is.

    Locks the process's ``current_definitions`` row, so a deploy and a rollback of one process queue.
    Used by deploying and by rolling back (``engine.services.definitions.activate_version``).
    """
    current = ctx.session.get(CurrentDefinition, definition.process_id, with_for_update=True)
    if current is not None and current.definition_id == definition.id:
        return False
    if current is None:
        ctx.session.add(CurrentDefinition(process_id=definition.process_id, definition_id=definition.id,
                                          updated_at=ctx.now()))
    else:
        current.definition_id, current.updated_at = definition.id, ctx.now()
    ctx.session.flush()
    return True


def get_current_definition(ctx: EngineContext, process_id: str) -> ProcessDefinition | None:
    current = ctx.session.get(CurrentDefinition, process_id)
    return current.definition if current is not None else None
