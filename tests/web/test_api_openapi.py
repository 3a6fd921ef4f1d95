"""The OpenAPI document matches the routes: same paths and methods, same path parameters, every refusal an
operation can give documented, a request schema for every body (DESIGN, Web and API).

The document is built from ``operation(...)`` calls next to the views (``web/api/openapi.py``); these tests
compare it with Flask's URL map, so a route added without its description (or the reverse) fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import IntegerConverter

from web.api.openapi import route_path

IGNORED_METHODS = {"HEAD", "OPTIONS"}
BODY_METHODS = {"post", "put", "patch"}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def api() -> tuple[Flask, dict[str, Any]]:
    from web import create_app

    app = create_app({"ENV": "testing", "DATABASE_URL": "sqlite://", "SECRET_KEY": "openapi-test-secret-32-chars!!"})
    return app, app.test_client().get("/api/v1/openapi.json").json


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, ops in spec["paths"].items() for method, op in ops.items()}


def test_every_api_route_is_documented_with_its_methods_and_nothing_else(api: tuple[Flask, dict[str, Any]]) -> None:
    app, spec = api
    routes = {(method.lower(), route_path(rule.rule)) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/") for method in rule.methods - IGNORED_METHODS}
    assert routes == set(_operations(spec))


def test_path_parameters_match_the_routes(api: tuple[Flask, dict[str, Any]]) -> None:
    """Same names; an ``<int:...>`` route parameter is documented as an integer, every other as text."""
    app, spec = api
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        for method in rule.methods - IGNORED_METHODS:
            op = spec["paths"][route_path(rule.rule)][method.lower()]
            documented = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
            expected = {name: "integer" if isinstance(conv, IntegerConverter) else "string"
                        for name, conv in rule._converters.items()}
            kinds = {name: p["schema"].get("type", "string") for name, p in documented.items()}
            if kinds != expected or not all(p.get("required") for p in documented.values()):
                found[f"{method} {rule.rule}"] = (kinds, expected)
    assert found == {}


def test_every_operation_documents_its_success_and_its_refusals(api: tuple[Flask, dict[str, Any]]) -> None:
    """401 when it needs a token, 404 when its path names an object, 413 with a body, 422 always (bad body
    or query string: ``web/api/inputs.py``); every error answer is the ``Error`` object."""
    _, spec = api
    found = {}
    for (method, path), op in _operations(spec).items():
        codes = set(op["responses"])
        expected = {"422"} | ({"401"} if op.get("security") != [] else set()) | (
            {"404"} if "{" in path else set()) | ({"413"} if "requestBody" in op else set())
        problems = [f"missing {sorted(expected - codes)}"] if expected - codes else []
        if not any(re.fullmatch(r"2\d\d", c) for c in codes):
            problems.append("no success response")
        problems += [f"{code} without the Error schema" for code, r in op["responses"].items()
                     if (code == "default" or code >= "400") and r.get("content", {}).get(
                         "application/json", {}).get("schema") != ERROR_REF]
        if "security" not in op or not op.get("summary"):
            problems.append("no security or summary")
        if problems:
            found[f"{method} {path}"] = problems
    assert found == {}


def test_every_body_has_a_schema_of_its_fields(api: tuple[Flask, dict[str, Any]]) -> None:
    """A JSON object with its properties (an action without a body says so: no properties, none other
    allowed); the required fields are among them. Other methods take no body."""
    _, spec = api
    found = {}
    for (method, path), op in _operations(spec).items():
        body = op.get("requestBody")
        if method not in BODY_METHODS:
            if body is not None and method != "delete":
                found[f"{method} {path}"] = "a body on a method that takes none"
            continue
        schema = (body or {}).get("content", {}).get("application/json", {}).get("schema", {})
        properties = schema.get("properties")
        if schema.get("type") != "object" or not isinstance(properties, dict):
            found[f"{method} {path}"] = f"no object schema with properties: {schema}"
        elif not set(schema.get("required", [])) <= set(properties):
            found[f"{method} {path}"] = f"required fields not described: {schema['required']}"
        elif not properties and schema.get("additionalProperties") is not False:
            found[f"{method} {path}"] = "an empty body that does not refuse fields"
    assert found == {}


def test_the_document_has_no_two_paths_of_one_template(api: tuple[Flask, dict[str, Any]]) -> None:
    """OpenAPI 3.1: paths differing only in their parameters' names are the same path (and invalid)."""
    _, spec = api
    shapes = [re.sub(r"\{[^}]+\}", "{}", path) for path in spec["paths"]]
    assert sorted({s for s in shapes if shapes.count(s) > 1}) == []
