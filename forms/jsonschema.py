"""Describe a task form as JSON Schema (for API clients and the form renderer)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields
from marshmallow import validate

from forms.base import FormSchema

_TYPES: list[tuple[type[fields.Field[Any]], dict[str, Any]]] = [
    (fields.Boolean, {"type": "boolean"}),
    (fields.Integer, {"type": "integer"}),
    (fields.Float, {"type": "number"}),
    (fields.Date, {"type": "string", "format": "date"}),
    (fields.DateTime, {"type": "string", "format": "date-time"}),
    (fields.String, {"type": "string"}),
    (fields.Dict, {"type": "object"}),
]


def json_schema(schema: FormSchema) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of ``schema``: types, Chinese titles and help, choices, lengths."""
    properties = {name: field_schema(field) for name, field in schema.fields.items() if not field.dump_only}
    required = sorted(name for name, field in schema.fields.items() if field.required)
    out: dict[str, Any] = {"type": "object", "title": schema.title or schema.form_key, "properties": properties,
                           "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def field_schema(field: fields.Field[Any]) -> dict[str, Any]:
    out: dict[str, Any]
    if isinstance(field, fields.Nested):
        nested = field.schema
        out = json_schema(nested) if isinstance(nested, FormSchema) else {"type": "object"}
        if field.many:
            out = {"type": "array", "items": out}
    elif isinstance(field, fields.List):
        out = {"type": "array", "items": field_schema(field.inner)}
    else:
        out = next((dict(t) for cls, t in _TYPES if isinstance(field, cls)), {})
    meta = field.metadata
    if meta.get("label"):
        out["title"] = meta["label"]
    if meta.get("help"):
        out["description"] = meta["help"]
    if meta.get("choices"):
        out["enum"] = list(meta["choices"])
        out["x-choice-labels"] = dict(meta["choices"])
    _validators(field, out)
    return out


def _validators(field: fields.Field[Any], out: dict[str, Any]) -> None:
    for v in field.validators:
        if isinstance(v, validate.Length):
            if v.min is not None:
                out["minLength"] = v.min
            if v.max is not None:
                out["maxLength"] = v.max
        elif isinstance(v, validate.OneOf) and "enum" not in out:
            out["enum"] = list(v.choices)
        elif isinstance(v, validate.Range):
            if v.min is not None:
                out["minimum"] = v.min
            if v.max is not None:
                out["maximum"] = v.max
        elif isinstance(v, validate.Regexp):
            out["pattern"] = v.regex.pattern
