"""A task's submitted data as one line of Chinese for the case history: the form's labels and choice names.

The history timeline (task page, case history, audit pages) shows what each completion recorded; staff
read 「初审结论：受理，转审核复审；纸质材料与电子数据包一致：是」, not ``decision="accept"``. Empty values
are left out; a field the form does not know keeps its key (old events of changed forms).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from marshmallow import fields

from forms import get_schema

EMPTY: tuple[object, ...] = (None, "", [], {})


def describe(form_key: str | None, data: Mapping[str, Any], *, limit: int = 6) -> str:
    """``label：value`` for the first ``limit`` filled-in fields of ``data``, joined with 「；」."""
    known = _fields(form_key or "")
    parts = []
    for key, value in data.items():
        if any(value is e or (type(value) is type(e) and value == e) for e in EMPTY):
            continue
        field = known.get(key)
        label = field.metadata.get("label", key) if field is not None else key
        parts.append(f"{label}：{_value(value, field)}")
    return "；".join(parts[:limit]) + ("；…" if len(parts) > limit else "")


@functools.cache
def _fields(form_key: str) -> dict[str, fields.Field[Any]]:
    try:
        return dict(get_schema(form_key).fields) if form_key else {}
    except KeyError:
        return {}


def _value(value: Any, field: fields.Field[Any] | None) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        inner = field.inner if isinstance(field, fields.List) else None
        return "、".join(_value(v, inner) for v in value)
    choices = field.metadata.get("choices") if field is not None else None
    if isinstance(choices, Mapping) and isinstance(value, str) and isinstance(choices.get(value), str):
        return str(choices[value])
    if isinstance(value, (str, int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)
