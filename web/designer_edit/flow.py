"""Check and deploy, shared by the upload pages and the modeler's JSON endpoints; the sources the modeler opens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask_login import current_user
from sqlalchemy import select

from engine.bpmn_lint import LintReport
from engine.bpmn_lint import lint_files
from engine.context import Actor
from engine.errors import ConflictError
from engine.errors import DeploymentError
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.models import CurrentDefinition
from engine.models import ProcessDefinition
from engine.models import Role
from engine.services.deploy import DeployedProcess
from engine.services.deploy import deploy_files
from engine.services.deploy import get_current_definition
from web.db import get_ctx
from web.designer_edit import files as uploads

CHANGED = "文件内容与检查时不一致（检查后被修改过），请重新检查后再部署"


@dataclass(frozen=True)
class CurrentProcess:
    """A process the modeler can open: its id, name and current version."""

    process_id: str
    name: str
    version: int


@dataclass(frozen=True)
class Source:
    """What the modeler edits: the process's own BPMN file, plus the DMN files it was deployed with."""

    process_id: str
    version: int | None
    filename: str
    files: dict[str, str]


def check(files: Mapping[str, bytes]) -> tuple[LintReport, str | None]:
    """Lint ``files``; when they pass, remember them as checked and return their content hash too."""
    report = lint_files(get_ctx(), files)
    return report, (uploads.remember_checked(files) if report.ok else None)


def deploy(files: Mapping[str, bytes], checked_hash: str, reason: str) -> list[DeployedProcess]:
    """Deploy exactly what this session checked, with the designer as actor and ``reason`` in the event.

    :raises ConflictError: the content differs from the checked one (``content_changed``).
    :raises ValidationError: no or too long a reason (``reason_required``).
    :raises DeploymentError: the lint (deploy's own validation) finds errors now (``definition_invalid``).
    """
    if not uploads.was_checked(files, checked_hash):
        raise ConflictError(CHANGED, code="content_changed")
    message = uploads.reason_problem(reason)
    if message:
        raise ValidationError(message, code="reason_required", fields={"reason": message})
    report = lint_files(get_ctx(), files)
    if not report.ok:
        raise DeploymentError("流程定义校验未通过，未部署任何内容", code="definition_invalid",
                              findings=[f.as_dict() for f in report.findings])
    actor = Actor(current_user.username, "process_designer", current_user.id)
    return deploy_files(get_ctx(), files, actor=actor, reason=reason.strip())


def current_processes() -> list[CurrentProcess]:
    """Every process with a current version, by id."""
    rows = get_ctx().session.execute(
        select(ProcessDefinition.process_id, ProcessDefinition.name, ProcessDefinition.version)
        .join(CurrentDefinition, CurrentDefinition.definition_id == ProcessDefinition.id)
        .order_by(ProcessDefinition.process_id)
    ).all()
    return [CurrentProcess(*row) for row in rows]


def role_choices() -> list[dict[str, str]]:
    """The role codes a lane may be named after (§2 of docs/process-design.md), with their Chinese names."""
    rows = get_ctx().session.execute(select(Role.code, Role.name).order_by(Role.code)).all()
    return [{"code": code, "name": name} for code, name in rows]


def source_of(process_id: str) -> Source:
    """The current version's own BPMN file (called processes stay on their current versions) and DMN files.

    :raises NotFoundError: no current version of ``process_id``.
    """
    definition = get_current_definition(get_ctx(), process_id)
    if definition is None:
        raise NotFoundError(f"没有已部署的流程 {process_id}", code="process_not_found")
    own = _own_file(definition, process_id)
    files = {f.filename: f.content for f in definition.files if f.filename == own or f.filename.endswith(".dmn")}
    return Source(process_id, definition.version, own, files)


def _own_file(definition: ProcessDefinition, process_id: str) -> str:
    names = [f.filename for f in definition.files]
    if f"{process_id}.bpmn" in names:
        return f"{process_id}.bpmn"
    marker = f'id="{process_id}"'
    return next((f.filename for f in definition.files if f.filename.endswith(".bpmn") and marker in f.content),
                names[0])


BLANK_PROCESS_ID = "new_process"
BLANK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
                  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs_new_process" targetNamespace="http://hedui.example/bpmn/new_process">
  <bpmn:collaboration id="collab_new_process">
    <bpmn:participant id="pool_new_process" name="新流程" processRef="new_process" />
  </bpmn:collaboration>
  <bpmn:process id="new_process" name="新流程" isExecutable="true">
    <bpmn:startEvent id="start" name="开始" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram_new_process">
    <bpmndi:BPMNPlane id="plane_new_process" bpmnElement="collab_new_process">
      <bpmndi:BPMNShape id="pool_new_process_di" bpmnElement="pool_new_process" isHorizontal="true">
        <dc:Bounds x="100" y="80" width="800" height="250" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="182" y="187" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def blank_source() -> Source:
    """A new process: one pool and a start event; the designer names it (the file name follows the id)."""
    return Source(BLANK_PROCESS_ID, None, f"{BLANK_PROCESS_ID}.bpmn", {f"{BLANK_PROCESS_ID}.bpmn": BLANK})
