"""The diagram of a task's pinned definition, with what the case has done so far.

The XML is the deployed file (``definition_files``) of the version the instance is pinned to,
never the current file in ``bpmn/``. Finished elements come from the workflow's trace; that
deserializes the one workflow of the task page, which lists never do.
"""

from __future__ import annotations

import logging
from typing import Any

from lxml import etree
from sqlalchemy import select

from engine.context import EngineContext
from engine.errors import HeduiError
from engine.models import DefinitionFile
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import ProcessDefinition
from engine.models import WorkflowInstance
from engine.persistence import load_workflow

logger = logging.getLogger(__name__)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def definition_xml(ctx: EngineContext, definition: ProcessDefinition) -> str | None:
    """The BPMN file of the definition's own process (``<process_id>.bpmn``, else its first .bpmn file)."""
    files = ctx.session.execute(
        select(DefinitionFile.filename, DefinitionFile.content)
        .where(DefinitionFile.definition_id == definition.id).order_by(DefinitionFile.filename)
    ).all()
    bpmn = [(name, content) for name, content in files if name.endswith(".bpmn")]
    own = [content for name, content in bpmn if name.rsplit("/", 1)[-1] == f"{definition.process_id}.bpmn"]
    if own:
        return str(own[0])
    return str(bpmn[0][1]) if bpmn else None


def documentation(xml: str | None, bpmn_id: str) -> str | None:
    """The ``<bpmn:documentation>`` of one element (the designer's instructions for the step)."""
    if not xml:
        return None
    try:
        root = etree.fromstring(xml.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError:
        return None
    found = root.xpath("//*[@id=$id]/b:documentation/text()", id=bpmn_id, namespaces={"b": BPMN_NS})
    text = " ".join(str(t).strip() for t in found if str(t).strip())
    return text or None


def diagram_data(ctx: EngineContext, task: HumanTask) -> dict[str, Any]:
    """What ``web/static/diagram.js`` draws: the XML, finished elements, open steps, this task's step."""
    instance: WorkflowInstance = task.instance
    definition = ctx.session.get(ProcessDefinition, instance.definition_id)
    assert definition is not None  # an instance always references its definition
    open_steps = ctx.session.execute(
        select(HumanTask.bpmn_id).where(HumanTask.instance_id == instance.id, HumanTask.status == HumanTaskStatus.OPEN)
    ).scalars().all()
    return {
        "process_id": definition.process_id,
        "version": definition.version,
        "xml": definition_xml(ctx, definition),
        "completed": _finished(ctx, instance),
        "active": sorted(set(open_steps)),
        "current": task.bpmn_id if task.status == HumanTaskStatus.OPEN else None,
    }


def _finished(ctx: EngineContext, instance: WorkflowInstance) -> list[str]:
    try:
        trace = load_workflow(ctx, instance).trace()
    except HeduiError:
        # a state the runtime cannot load still has its completed user tasks in the derived table
        logger.warning("instance %s: no trace for the diagram, using completed user tasks", instance.id)
        return sorted(set(ctx.session.execute(select(HumanTask.bpmn_id).where(
            HumanTask.instance_id == instance.id, HumanTask.status == HumanTaskStatus.COMPLETED)).scalars()))
    seen: dict[str, None] = {}
    for step in trace:
        if step.state == "COMPLETED":
            seen.setdefault(step.bpmn_id, None)
    return list(seen)
