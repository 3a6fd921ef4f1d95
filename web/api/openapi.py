"""The OpenAPI 3.1 document: built from the registered operations, so it cannot drift from the routes."""

from __future__ import annotations

import re
from functools import cache
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

#: the request body of an action that takes none: nothing, or an empty object (``web/api/inputs.no_body``)
NO_BODY = {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "properties": {}, "additionalProperties": False}}}}
#: the ``security`` of an operation that needs a bearer token (``web/auth.py``); ``security=[]`` marks a public one
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_OPERATIONS: list[tuple[str, str, dict[str, Any]]] = []
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
#: the refusals every operation of a kind can give: ``web/auth.py`` (401), a path naming nothing (404), the body
#: size limit (413, ``web/errors.py``), a body or query string that is not what the operation takes (422,
#: ``web/api/inputs.py``); an operation's own descriptions of these statuses come first
STANDARD_ERRORS = {
    "401": "未登录或访问令牌无效（not_authenticated）",
    "404": "路径中的对象不存在或不在辖区（not_found 等）",
    "413": "请求体超过上传大小限制（request_too_large）",
    "422": "请求有误：请求体不是 JSON 对象（invalid_json）、含不允许的字段或控制字符、字段类型或长度有误，"
           "或查询参数未列出、取值有误（validation_error，details.fields 逐字段中文提示）",
}


def json_request(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """A ``requestBody`` of one JSON object."""
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def operation(method: str, path: str, **spec: Any) -> None:
    """Describe one API operation (called next to the view that implements it)."""
    _OPERATIONS.append((method.lower(), path, spec))


def _path_parameters(path: str, declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The declared parameters, plus a text parameter for every ``{name}`` of the path not declared."""
    names = {p["name"] for p in declared if p.get("in") == "path"}
    missing = [name for name in re.findall(r"\{([^}]+)\}", path) if name not in names]
    return [*declared, *({"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in missing)]


def _responses(path: str, op: dict[str, Any]) -> dict[str, Any]:
    """The operation's responses with the standard refusals it can give; every error answers ``Error``."""
    responses = {code: dict(r) for code, r in op.get("responses", {}).items()}
    codes = ["422"]  # a bad body, a bad or unknown query parameter (web/api/inputs.py)
    if op.get("security") != []:
        codes.append("401")
    if "{" in path:
        codes.append("404")
    if "requestBody" in op:
        codes.append("413")
    for code in codes:
        responses.setdefault(code, {"description": STANDARD_ERRORS[code]})
    responses.setdefault("default", {"description": "错误"})
    for code, response in responses.items():
        if (code == "default" or int(code) >= 400) and "content" not in response:
            response["content"] = _ERROR_CONTENT
    return dict(sorted(responses.items()))


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, spec in _OPERATIONS:
        op = dict(spec)
        parameters = _path_parameters(path, list(op.get("parameters", [])))
        if parameters:
            op["parameters"] = parameters
        op["responses"] = _responses(path, op)
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


def route_path(rule: str) -> str:
    """The document's path of a Flask rule: ``/api/v1/tasks/<task_id>`` → ``/tasks/{task_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.removeprefix("/api/v1"))


@cache
def documented_query_parameters(rule: str, method: str) -> frozenset[str] | None:
    """The query parameters the document lists for an operation (``None``: the operation is not documented).

    Read before every API request: cached per route (the operations are all declared at import).
    """
    path, verb = route_path(rule), "get" if method == "HEAD" else method.lower()
    for op_method, op_path, spec in _OPERATIONS:
        if op_path == path and op_method == verb:
            return frozenset(p["name"] for p in spec.get("parameters", []) if p.get("in") == "query")
    return None
