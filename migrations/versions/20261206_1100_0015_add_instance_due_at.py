"""add workflow_instances.due_at: the instance's statutory deadline (PS-10, AU-4), backfilled from the stored state

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 11:00:00

The column is derived: ``save_workflow`` copies it from the data variable the diagram names in its
process property ``instanceDueVariable``. Existing instances get it here by reading their stored
state JSON (never deserializing workflows, no application code: this file must keep working when the
engine changes). Definitions deployed before the property existed name no variable; for them the one
diagram that had a case deadline is known by its process id.
"""

from __future__ import annotations

import json
import re
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timezone
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_BEIJING = ZoneInfo("Asia/Shanghai")
#: process id -> due variable for definitions deployed before ``instanceDueVariable`` existed
_LEGACY_VARIABLES = {"standard_verification": "verification_due"}
#: SpiffWorkflow task states whose data is real: WAITING, READY, STARTED, COMPLETED
_HAS_DATA = 8 | 16 | 32 | 64
_PROPERTY = re.compile(r'name="instanceDueVariable"\s+value="([A-Za-z_][A-Za-z0-9_]*)"')

_instances = sa.table(
    "workflow_instances", sa.column("id", sa.Integer()), sa.column("definition_id", sa.Integer()),
    sa.column("state", sa.Text()), sa.column("due_at", sa.DateTime(timezone=True)))
_definitions = sa.table(
    "process_definitions", sa.column("id", sa.Integer()), sa.column("process_id", sa.String()),
    sa.column("task_catalogue", sa.Text()))
_files = sa.table("definition_files", sa.column("definition_id", sa.Integer()), sa.column("content", sa.Text()))


def upgrade() -> None:
    with op.batch_alter_table("workflow_instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_workflow_instances_due_at"), ["due_at"], unique=False)
    backfill_due_at(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("workflow_instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_instances_due_at"))
        batch_op.drop_column("due_at")


def backfill_due_at(bind: Any, *, batch_size: int = 500) -> int:
    """Set ``due_at`` of every instance that has none from its stored state, ``batch_size`` rows at a time.

    States that cannot be read, and values that are no date, are skipped. Returns how many rows were set.
    """
    variables = _due_variables(bind)
    if not variables:
        return 0
    updated, after = 0, 0
    while True:
        rows = bind.execute(
            sa.select(_instances.c.id, _instances.c.definition_id, _instances.c.state)
            .where(_instances.c.due_at.is_(None), _instances.c.definition_id.in_(list(variables)),
                   _instances.c.id > after)
            .order_by(_instances.c.id).limit(batch_size)).all()
        if not rows:
            return updated
        after = rows[-1].id
        for row in rows:
            due = _due_in_state(row.state, variables[row.definition_id])
            if due is not None:
                if bind.dialect.name == "sqlite":
                    due = due.replace(tzinfo=None)  # stored naive UTC, as the models' UTCDateTime does
                bind.execute(sa.update(_instances).where(_instances.c.id == row.id).values(due_at=due))
                updated += 1


def _due_variables(bind: Any) -> dict[int, str]:
    """definition id -> the data variable holding its instances' deadline."""
    out: dict[int, str] = {}
    for definition_id, process_id, catalogue in bind.execute(
            sa.select(_definitions.c.id, _definitions.c.process_id, _definitions.c.task_catalogue)).all():
        try:
            declared = (json.loads(catalogue or "{}").get("process_properties") or {}).get("instanceDueVariable")
        except (ValueError, AttributeError):
            declared = None
        if declared is None:
            contents = bind.execute(sa.select(_files.c.content)
                                    .where(_files.c.definition_id == definition_id)).scalars().all()
            found = [m.group(1) for text in contents for m in [_PROPERTY.search(text or "")] if m]
            declared = found[0] if found else _LEGACY_VARIABLES.get(process_id)
        if declared:
            out[definition_id] = declared
    return out


def _due_in_state(state: str | None, variable: str) -> datetime | None:
    """The variable's value in a stored state: in the top-level task that changed last, else the process data.

    A stored task holds its data as a delta against its parent's (SpiffWorkflow 3.x), so the data is
    rebuilt along the path from the root.
    """
    try:
        dct = json.loads(state or "")
        tasks = {k: t for k, t in (dct.get("tasks") or {}).items() if isinstance(t, dict)}
        live = [k for k, t in tasks.items() if int(t.get("state", 0)) & _HAS_DATA]
        if live:
            data = _task_data(tasks, max(live, key=lambda k: float(tasks[k].get("last_state_change") or 0)))
            if variable in data:
                return _as_utc(data[variable])
        return _as_utc((dct.get("data") or {}).get(variable))
    except (ValueError, TypeError, AttributeError, KeyError):
        return None


def _task_data(tasks: dict[str, Any], task_id: str) -> dict[str, Any]:
    path: list[dict[str, Any]] = []
    current: str | None = task_id
    while current is not None and len(path) <= len(tasks):
        path.append(tasks[current])
        current = tasks[current].get("parent")
    data: dict[str, Any] = {}
    for task in reversed(path):
        data.update(task.get("data") or {})
        delta = task.get("delta") or {}
        data.update(delta.get("updates") or {})
        for key in delta.get("deletions") or []:
            data.pop(key, None)
    return data


def _as_utc(value: Any) -> datetime | None:
    """As ``engine.deadlines.instance_due_at`` (copied, so this revision never changes with the engine)."""
    if isinstance(value, dict) and "value" in value:  # a date/datetime the serializer wrapped
        value = value["value"]
    if not isinstance(value, str):
        return None
    text = value.strip()
    parsed: date | datetime = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    if not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed, time.max, tzinfo=_BEIJING)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=_BEIJING)
    return parsed.astimezone(timezone.utc)
