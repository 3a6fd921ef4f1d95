"""Form schemas, one per BPMN user-task ``formKey``, plus document validators.

Pure: imports neither Flask nor the database. ``validate(form_key, data)`` is
what the engine calls before a task's data reaches the workflow.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError as _MarshmallowError

from forms.base import FormSchema

_REGISTRY: dict[str, type[FormSchema]] = {}
_loaded = False
#: per thread, one reusable instance per schema class for ``validate`` (building one costs ~0.1 ms)
_instances = threading.local()


class FormError(Exception):
    """Submitted data does not satisfy the form; ``fields`` maps field -> Chinese messages."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        super().__init__("表单填写有误")
        self.fields = dict(fields)


def register(schema: type[FormSchema]) -> type[FormSchema]:
    """Class decorator: make ``schema`` the form for its ``form_key``."""
    if not schema.form_key:
        raise ValueError(f"{schema.__name__} has no form_key")
    if schema.form_key in _REGISTRY and _REGISTRY[schema.form_key] is not schema:
        raise ValueError(f"form key {schema.form_key!r} registered twice")
    _REGISTRY[schema.form_key] = schema
    return schema


def _load_all() -> None:
    """Import every form module once (scanning the package directory costs ~1 ms per call)."""
    global _loaded
    if _loaded:
        return
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name not in {"base", "ids", "jsonschema"}:
            importlib.import_module(f"{__name__}.{module.name}")
    _loaded = True


def form_keys() -> list[str]:
    """Every known form key."""
    _load_all()
    return sorted(_REGISTRY)


def get_schema(form_key: str) -> FormSchema:
    """The schema instance for ``form_key`` (KeyError if unknown)."""
    _load_all()
    return _REGISTRY[form_key]()


def validate(form_key: str, data: Mapping[str, Any], *, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate and normalise ``data`` for ``form_key``; raise :class:`FormError` with per-field messages.

    :param context: the task's properties (e.g. ``allowedDecisions``) for context-dependent rules.
    """
    _load_all()
    cls = _REGISTRY[form_key]
    cache: dict[type[FormSchema], FormSchema] = _instances.__dict__.setdefault("schemas", {})
    schema = cache.get(cls)
    if schema is None:
        schema = cache[cls] = cls()
    schema.context_properties = dict(context or {})
    try:
        return dict(schema.load(dict(data)))
    except _MarshmallowError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise FormError(messages) from exc
