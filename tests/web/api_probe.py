"""Bad requests derived from the OpenAPI document.

Used by ``tests/web/test_api_fuzz.py``: each generator yields ``(label, request keyword arguments)``
for Flask's test client; the wrong values follow the documented schema (a string gets a number, a list
and an object; an integer gets text, a fraction, a huge number and a boolean ...).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

#: a string longer than any field takes
OVERSIZED = "长" * 20_000
#: what a JSON request's content type is
JSON_TYPE = "application/json"

#: per JSON Schema type, values of every other kind
WRONG_VALUES: dict[str, list[Any]] = {
    "string": [123, [], {}],
    # 2**31: one past a 32-bit integer column (SQLite stores it, PostgreSQL refuses it)
    "integer": ["x", 1.5, 10**30, 2**31, True],
    "number": ["x", True],
    "boolean": ["x", 2],
    "array": ["x", {}],
    "object": ["x", []],
}


def raw_bodies(valid: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Bodies that are not a JSON object, or not sent as JSON."""
    yield "not_json", {"data": b'{"unterminated', "content_type": JSON_TYPE}
    yield "invalid_utf8", {"data": b'{"x": "\xff\xfe"}', "content_type": JSON_TYPE}
    yield "form_encoded", {"data": "a=1&b=2", "content_type": "application/x-www-form-urlencoded"}
    yield "text_plain", {"data": json.dumps(valid), "content_type": "text/plain"}
    yield "no_content_type", {"data": json.dumps(valid)}
    for label, value in (("null", None), ("list", [valid]), ("string", "x"), ("number", 1), ("true", True)):
        yield f"json_{label}", {"data": json.dumps(value), "content_type": JSON_TYPE}


def body_mutations(schema: dict[str, Any], valid: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every refusal-worthy change of ``valid`` the documented ``schema`` implies (and a few it does not)."""
    yield from raw_bodies(valid)
    if schema.get("required"):
        yield "empty_object", {"json": {}}
    yield "unknown_field", {"json": {**valid, "zz_unknown_field": 1}}
    for label, body in _mutated(schema, valid, "", depth=0):
        yield label, {"json": body}


def _mutated(schema: dict[str, Any], value: Any, where: str, *, depth: int) -> Iterator[tuple[str, Any]]:
    """``(label, whole value)`` with one part of ``value`` wrong, recursing into documented objects and lists."""
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first
        kind = kind[0]
    for wrong in WRONG_VALUES.get(kind or "", [123] if "enum" in schema else []):
        yield f"{where or 'body'}={json.dumps(wrong)[:12]}", wrong
    if "enum" in schema:
        yield f"{where}=not_a_choice", "zz_not_a_choice"
    if kind == "string":
        yield f"{where}=oversized", OVERSIZED
        yield f"{where}=nul", "a\x00b"
        if schema.get("format") in ("date", "date-time"):
            yield f"{where}=bad_date", "2026-13-45"
    if depth > 3:
        return
    if kind == "object" and isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                for label, wrong in _mutated(sub, value[name], f"{where}.{name}".lstrip("."), depth=depth + 1):
                    yield label, {**value, name: wrong}
                if name in schema.get("required", ()):
                    yield f"{where}.{name}:missing".lstrip("."), {k: v for k, v in value.items() if k != name}
        if depth > 0:
            yield f"{where}.zz_unknown_field", {**value, "zz_unknown_field": 1}
    if kind == "array" and isinstance(value, list) and value and isinstance(schema.get("items"), dict):
        for label, wrong in _mutated(schema["items"], value[0], f"{where}[0]", depth=depth + 1):
            changed = copy.copy(value)
            changed[0] = wrong
            yield label, changed


def path_values(kind: str) -> list[str]:
    """Path parameter values that name nothing: missing, negative, huge, not a number, absurd."""
    values = ["zz-does-not-exist", "-1", str(2**70), str(2**31), "99999999", "%00", "x" * 2_000, "²", "１"]
    return values + (["abc", "1.5"] if kind == "integer" else [])


def query_mutations(parameters: list[dict[str, Any]], id_number: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Bad query strings: unknown filters, an ID number, each documented parameter wrong for its schema,
    paging nonsense."""
    for name, value in (("page", "-1"), ("page", "abc"), ("per_page", str(10**9)), ("zz_unknown_filter", "1"),
                        ("id_number", id_number), ("a\x00b", "1")):
        yield f"{name[:10]}={value[:10]}", {name: value}
    for p in parameters:
        if p.get("in") != "query":
            continue
        schema, name = p.get("schema", {}), p["name"]
        kind = schema.get("type")
        if "enum" in schema:
            yield f"{name}=not_a_choice", {name: "zz_not_a_choice"}
        if kind == "integer":
            for bad in ("abc", "-1", "1.5", str(10**9), str(2**70), "²", ""):
                if bad or p.get("required"):
                    yield f"{name}={bad[:10]}", {name: bad}
        if schema.get("format") in ("date", "date-time"):
            for bad in ("2026-13-45", "yesterday", "2026-02-30", "0000-00-00"):
                yield f"{name}={bad}", {name: bad}
        if kind == "string" and "enum" not in schema and not schema.get("format"):
            yield f"{name}=nul", {name: "a\x00b"}
    names = {p["name"] for p in parameters}
    if "limit" in names:
        for bad in ("-1", "0", "abc", "²", str(10**9)):
            yield f"limit={bad}", {"limit": bad}
    if "cursor" in names:
        for bad in ("abc", "-1", "1.5", "²", str(2**70)):
            yield f"cursor={bad[:10]}", {"cursor": bad}
