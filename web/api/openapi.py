"""The OpenAPI 3.1 document: built from the registered operations, so it cannot drift from the routes."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "stable error code"},
        "message": {"type": "string", "description": "Chinese message for people"},
        "details": {"type": "object"},
    },
}

_OPERATIONS: list[tuple[str, str, dict[str, Any]]] = []


def operation(method: str, path: str, **spec: Any) -> None:
    """Describe one API operation (called next to the view that implements it)."""
    _OPERATIONS.append((method.lower(), path, spec))


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, spec in _OPERATIONS:
        op = dict(spec)
        op.setdefault("responses", {})
        op["responses"].setdefault("default", {
            "description": "错误",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        })
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hedui 核对系统 API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
