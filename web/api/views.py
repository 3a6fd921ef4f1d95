"""API views: thin — parse, call one service, dump."""

from __future__ import annotations

from flask import Response
from flask import jsonify
from sqlalchemy import text

from web.api.blueprint import bp
from web.api.openapi import document
from web.api.openapi import operation
from web.db import get_ctx


@bp.get("/healthz")
def healthz() -> Response:
    get_ctx().session.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})


@bp.get("/api/v1/openapi.json")
def openapi() -> Response:
    return jsonify(document())


operation("get", "/openapi.json", summary="本 API 的 OpenAPI 文档", security=[],
          responses={"200": {"description": "OpenAPI 3.1 文档"}})
