"""A user task's form for the browser, described by its ``forms/`` schema (no per-form templates).

Each marshmallow field carries ``metadata`` (label, help, choices); the widget follows from the
field: choices → radio buttons (few) or a select, booleans → a checkbox, dates and integers →
their inputs, long text → a textarea, a list of short texts → a textarea with one item per line, or
checkboxes when the page supplies the case's choices for it (``dynamic``: e.g. the upper items of 审核复审).
Fields a browser form cannot express (nested records) are listed as "not editable here".
The posted values become the plain data ``complete_task`` validates with the same schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from marshmallow import fields
from marshmallow import validate
from werkzeug.datastructures import MultiDict

import forms

#: at most this many choices are shown as radio buttons, more as a select
MAX_RADIOS = 5
#: strings allowed to be longer than this get a textarea
TEXTAREA_OVER = 200


@dataclass(frozen=True)
class FieldSpec:
    """One form control: ``widget`` is radio, select, checkbox, checks, textarea, lines, date, number, text or
    unsupported."""

    name: str
    label: str
    widget: str
    required: bool = False
    help: str | None = None
    choices: tuple[tuple[str, str], ...] = ()
    maxlength: int | None = None


@dataclass(frozen=True)
class TaskForm:
    form_key: str | None
    title: str
    fields: tuple[FieldSpec, ...]

    @property
    def editable(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.widget != "unsupported")


def task_form(form_key: str | None, properties: Mapping[str, Any], fallback_title: str,
              dynamic: Mapping[str, Sequence[tuple[str, str]]] | None = None) -> TaskForm:
    """The form of a task with ``form_key`` (a task without one just confirms completion).

    :param dynamic: list field -> the case's choices for it (shown as checkboxes).
    """
    if not form_key:
        return TaskForm(None, fallback_title, ())
    try:
        schema = forms.get_schema(form_key)
    except KeyError:
        return TaskForm(form_key, fallback_title, ())
    specs = tuple(_checks(name, f, dynamic[name]) if dynamic and name in dynamic else _spec(name, f, properties)
                  for name, f in schema.fields.items() if not f.dump_only)
    return TaskForm(form_key, schema.title or fallback_title, specs)


def _spec(name: str, field: fields.Field[Any], properties: Mapping[str, Any]) -> FieldSpec:
    meta = field.metadata
    help_text = str(meta["help"]) if meta.get("help") else None

    def make(widget: str, choices: tuple[tuple[str, str], ...] = (), maxlength: int | None = None) -> FieldSpec:
        return FieldSpec(name, str(meta.get("label") or name), widget, bool(field.required), help_text, choices,
                         maxlength)

    choices = _choices(name, field, properties)
    if choices:
        return make("radio" if len(choices) <= MAX_RADIOS else "select", choices)
    if isinstance(field, fields.Boolean):
        return make("checkbox")
    if isinstance(field, fields.Date):
        return make("date")
    if isinstance(field, fields.Integer):
        return make("number")
    if isinstance(field, fields.List) and isinstance(field.inner, fields.String):
        return make("lines")
    if isinstance(field, fields.String):
        limit = _max_length(field)
        return make("textarea" if limit is None or limit > TEXTAREA_OVER else "text", maxlength=limit)
    return make("unsupported")


def _checks(name: str, field: fields.Field[Any], choices: Sequence[tuple[str, str]]) -> FieldSpec:
    meta = field.metadata
    return FieldSpec(name, str(meta.get("label") or name), "checks", False,
                     str(meta["help"]) if meta.get("help") else None, tuple(choices))


def _choices(name: str, field: fields.Field[Any], properties: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    raw = field.metadata.get("choices")
    if not isinstance(raw, Mapping):
        return ()
    choices = [(str(k), str(v)) for k, v in raw.items()]
    # a review-type step narrows its decisions with the task property ``allowedDecisions`` (forms/review.py)
    allowed = [d.strip() for d in str(properties.get("allowedDecisions") or "").split(",") if d.strip()]
    if name == "decision" and allowed:
        choices = [(k, v) for k, v in choices if k in allowed]
    return tuple(choices)


def _max_length(field: fields.Field[Any]) -> int | None:
    limits = [v.max for v in field.validators if isinstance(v, validate.Length) and v.max is not None]
    return min(limits) if limits else None


# --- posted values ------------------------------------------------------------------------------------


def posted_values(form: TaskForm, posted: MultiDict[str, str]) -> dict[str, Any]:
    """What the person entered, to show again (text as typed, checkboxes as booleans)."""
    values: dict[str, Any] = {}
    for spec in form.editable:
        if spec.widget == "checkbox":
            values[spec.name] = spec.name in posted
        elif spec.widget == "checks":
            values[spec.name] = posted.getlist(spec.name)
        else:
            values[spec.name] = posted.get(spec.name, "")
    return values


def submitted_data(form: TaskForm, posted: MultiDict[str, str]) -> dict[str, Any]:
    """The data for ``complete_task``: empty inputs and unticked boxes are left out, so the schema's
    defaults and "required" messages apply exactly as they do for the API."""
    data: dict[str, Any] = {}
    for spec in form.editable:
        if spec.widget == "checkbox":
            if spec.name in posted:
                data[spec.name] = True
            continue
        if spec.widget == "checks":
            # the marker tells "nothing ticked" (an empty list) from "field not on the page" (the default)
            if f"{spec.name}__shown" in posted:
                data[spec.name] = [v for v in posted.getlist(spec.name) if v]
            continue
        text = (posted.get(spec.name) or "").strip()
        if not text:
            continue
        if spec.widget == "lines":
            items = [line.strip() for line in text.splitlines() if line.strip()]
            if items:
                data[spec.name] = items
        else:
            data[spec.name] = text
    return data


def field_messages(raw: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """``{field: [message, ...]}`` from a schema's errors; nested messages (list items) are flattened."""
    out: dict[str, list[str]] = {}
    for name, messages in (raw or {}).items():
        out[str(name)] = _flatten(messages)
    return out


def _flatten(messages: Any) -> list[str]:
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, Mapping):
        found: list[str] = []
        for key, nested in messages.items():
            prefix = f"第 {int(key) + 1} 项：" if isinstance(key, int) or str(key).isdigit() else ""
            found += [prefix + m for m in _flatten(nested)]
        return found
    if isinstance(messages, (list, tuple)):
        return [m for item in messages for m in _flatten(item)]
    return [str(messages)]
