"""One step of a case's replay as the replay page shows it: the diagram marks, open tasks, waiting events, data.

The state after step N is the replay's own snapshot (``engine.audit.replay_instance(steps=True)``),
never the stored state: it is what re-executing the log up to that command gives. Candidates of an
open task are the holders of its lane's role in the case's unit as the organisation stands today
(memberships are not versioned), which the page says.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import select

from engine.assignment import unit_for_role
from engine.audit import KIND_NAMES
from engine.audit import ReplayResult
from engine.audit import ReplayStep
from engine.context import EngineContext
from engine.models import Membership
from engine.models import ProcessDefinition
from engine.models import Role
from engine.models import Unit
from engine.models import User
from engine.models import WorkflowInstance
from web.audit.display import DataLine
from web.audit.display import containers
from web.audit.display import data_lines
from web.audit.display import element_names
from web.inbox.diagram import definition_xml


@dataclass(frozen=True)
class OpenTask:
    bpmn_id: str
    name: str
    role_name: str
    unit_name: str
    candidates: list[str]


@dataclass(frozen=True)
class Waiting:
    bpmn_id: str
    name: str
    text: str


@dataclass
class StepView:
    """Step ``number`` (1-based) of ``total``: the event re-executed and the state right after it."""

    number: int
    total: int
    step: ReplayStep
    kind_name: str
    actor_name: str
    element_name: str | None
    completed: list[str]
    active: list[str]
    waiting_ids: list[str]
    open_tasks: list[OpenTask] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    data: list[DataLine] = field(default_factory=list)
    finished: bool = False
    names: dict[str, str] = field(default_factory=dict)
    #: sub-processes enclosing an open or waiting element (they are running)
    running: list[str] = field(default_factory=list)

    @property
    def active_names(self) -> list[str]:
        return [self.names.get(bpmn_id, bpmn_id) for bpmn_id in self.active]

    def diagram(self, xml: str | None, definition: ProcessDefinition) -> dict[str, Any]:
        """What ``web/static/diagram.js`` draws for this step."""
        return {"process_id": definition.process_id, "version": definition.version, "xml": xml,
                "completed": self.completed, "active": self.active, "waiting": self.waiting_ids,
                "running": self.running,
                "current": self.step.bpmn_id, "step": self.number}


def clamp(step: int | None, total: int) -> int:
    return min(max(step or 1, 1), max(total, 1))


def step_view(ctx: EngineContext, instance: WorkflowInstance, definition: ProcessDefinition,
              result: ReplayResult, number: int, *, unmasked: bool = False,
              xml: str | None = None) -> StepView | None:
    """The view of step ``number`` (None when the replay has no step at all)."""
    if not result.snapshots:
        return None
    number = clamp(number, len(result.snapshots))
    step = result.snapshots[number - 1]
    state = step.state
    xml = xml if xml is not None else definition_xml(ctx, definition)
    names = element_names(xml)
    completed: dict[str, None] = {}
    for _process, bpmn_id, task_state in state["trace"]:
        if task_state == "COMPLETED":
            completed.setdefault(bpmn_id, None)
    active = sorted({t["bpmn_id"] for t in state["open_tasks"]})
    waiting_ids = sorted({t["bpmn_id"] for t in state["timers"]} | {m["bpmn_id"] for m in state["messages"]})
    actor_name = ctx.session.execute(select(User.display_name).where(User.username == step.actor)).scalar()
    view = StepView(number=number, total=len(result.snapshots), step=step,
                    kind_name=KIND_NAMES.get(step.kind, step.kind), actor_name=actor_name or step.actor,
                    element_name=names.get(step.bpmn_id or "", step.bpmn_id), completed=list(completed),
                    active=active, waiting_ids=waiting_ids, finished=bool(state["completed"]), names=names,
                    running=containers(xml, active + waiting_ids))
    view.open_tasks = _open_tasks(ctx, instance, definition, state["open_tasks"], names)
    view.waiting = [Waiting(t["bpmn_id"], names.get(t["bpmn_id"], t["bpmn_id"]), f"定时器，到期 {t['due_at']}")
                    for t in state["timers"]]
    view.waiting += [Waiting(m["bpmn_id"], names.get(m["bpmn_id"], m["bpmn_id"]),
                             f"等待消息「{m['message_name']}」（{m['correlation_key']}）") for m in state["messages"]]
    view.data = data_lines(state["data"], unmasked=unmasked)
    return view


def _open_tasks(ctx: EngineContext, instance: WorkflowInstance, definition: ProcessDefinition,
                tasks: list[dict[str, Any]], names: dict[str, str]) -> list[OpenTask]:
    catalogue = {t["bpmn_id"]: t for t in (definition.task_catalogue or {}).get("user_tasks", [])}
    roles = dict(ctx.session.execute(select(Role.code, Role.name)).all())
    out = []
    for task in tasks:
        info = catalogue.get(task["bpmn_id"], {})
        role = info.get("lane")
        unit_id = unit_for_role(ctx, instance, role)
        unit = ctx.session.get(Unit, unit_id) if unit_id is not None else None
        holders = ctx.session.execute(
            select(User.display_name).join(Membership, Membership.user_id == User.id)
            .where(Membership.unit_id == unit_id, Membership.role_code == role, User.is_active)
            .order_by(User.username)
        ).scalars().all() if unit_id is not None and role else []
        out.append(OpenTask(task["bpmn_id"], info.get("name") or names.get(task["bpmn_id"], task["bpmn_id"]),
                            roles.get(role or "", role or "—"), unit.name if unit else "—", list(holders)))
    return out
