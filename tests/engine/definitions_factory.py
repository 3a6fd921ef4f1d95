"""Two deployed versions of ``linear_review`` with cases on each (designer tools: versions, diff, rollback).

Version 2 renames 受理初审 and gives it 5 working days instead of 3. Version 1 has one running
and one ended case (returned and terminated through the real services), version 2 one running case.
"""

from __future__ import annotations

from engine.context import Actor
from engine.context import EngineContext
from engine.services.deploy import deploy_files
from engine.services.instances import complete_task
from engine.services.instances import list_open_tasks
from engine.services.instances import start_instance
from tests.conftest import read_files

DESIGNER = Actor("designer", "process_designer")
INTAKE = Actor("li_intake", "intake_officer")
REVIEWER = Actor("wang_review", "review_officer")
PROCESS = "linear_review"
FILE = "linear_review.bpmn"


def v1_files() -> dict[str, bytes]:
    return read_files(FILE)


def v2_files() -> dict[str, bytes]:
    text = v1_files()[FILE].decode("utf-8")
    for old, new in (('name="受理初审"', 'name="受理与初审"'),
                     ('name="dueWorkingDays" value="3"', 'name="dueWorkingDays" value="5"')):
        assert old in text, old
        text = text.replace(old, new, 1)
    return {FILE: text.encode("utf-8")}


def _complete(ctx: EngineContext, instance_id: int, bpmn_id: str, data: dict[str, str], actor: Actor) -> None:
    [task] = [t for t in list_open_tasks(ctx, instance_id=instance_id) if t.bpmn_id == bpmn_id]
    complete_task(ctx, task.id, data, actor=actor)


def build(ctx: EngineContext) -> None:
    """v1 (two cases, one of them ended), then v2 (one running case); v2 is current."""
    deploy_files(ctx, v1_files(), actor=DESIGNER)
    start_instance(ctx, PROCESS, actor=INTAKE, business_key="HD-V1-RUN")
    ended = start_instance(ctx, PROCESS, actor=INTAKE, business_key="HD-V1-END")
    _complete(ctx, ended.id, "intake_check", {}, INTAKE)
    _complete(ctx, ended.id, "review", {"decision": "terminate", "reason": "申请人撤回"}, REVIEWER)
    deploy_files(ctx, v2_files(), actor=DESIGNER)
    start_instance(ctx, PROCESS, actor=INTAKE, business_key="HD-V2-RUN")
