"""Map the domain exception tree to HTTP in one place; API errors are JSON with a stable code."""

from __future__ import annotations

import logging

from flask import Flask
from flask import Response
from flask import jsonify
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge

from engine import errors as e

logger = logging.getLogger(__name__)

STATUS: list[tuple[type[e.HeduiError], int]] = [
    (e.NotFoundError, 404),
    (e.SeparationOfDutiesError, 403),
    (e.PermissionDeniedError, 403),
    (e.ConflictError, 409),
    (e.DeploymentError, 422),
    (e.ValidationError, 422),
    (e.ScriptError, 500),
    (e.WorkflowError, 500),
    (e.IntegrityError, 500),
    (e.ConfigurationError, 500),
]

HTTP_MESSAGES = {
    400: "请求格式不正确",
    401: "请先登录",
    403: "无权访问",
    404: "页面或对象不存在",
    405: "不支持该请求方法",
    409: "数据已被他人修改，请刷新后重试",
    413: "上传内容过大",
    422: "提交的数据有误",
    500: "系统内部错误，请联系管理员",
}


def status_for(exc: e.HeduiError) -> int:
    if exc.code in ("not_authenticated", "invalid_credentials"):
        return 401
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _respond(status: int, body: dict[str, object]) -> Response | tuple[str, int]:
    if wants_json():
        response = jsonify(body)
        response.status_code = status
        return response
    if status < 500:
        try:  # in the site's layout, whose navigation reads the user's roles
            return render_template("errors/error.html", status=status, message=body["message"]), status
        except Exception:  # noqa: BLE001 - e.g. the session is unusable after the error: the plain page below
            logger.warning("error page layout failed; plain page for %s", status, exc_info=True)
    # a server error may come from the database the layout reads: no layout then
    return render_template("errors/plain.html", status=status, message=body["message"]), status


def handle_domain_error(exc: e.HeduiError) -> Response | tuple[str, int]:
    from flask import g

    status = status_for(exc)
    if exc.commit:
        g.hedui_commit_on_error = True
    if status >= 500:
        logger.error("%s: %s", exc.code, exc.message)
    return _respond(status, exc.to_dict())


def handle_http_error(exc: HTTPException) -> Response | tuple[str, int]:
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    return _respond(status, {"error": code, "message": HTTP_MESSAGES.get(status, exc.name or "错误")})


def handle_too_large(exc: RequestEntityTooLarge) -> Response | tuple[str, int]:
    """A body over ``MAX_CONTENT_LENGTH`` (HEDUI_MAX_UPLOAD_MB): refused before anything is read or written."""
    from flask import current_app

    limit_mb = int(current_app.config["MAX_CONTENT_LENGTH"]) // (1024 * 1024)
    logger.info("request body over %s MB refused on %s %s", limit_mb, request.method, request.path)
    return _respond(413, {"error": "request_too_large", "limit_mb": limit_mb,
                          "message": f"上传内容过大：每次提交不能超过 {limit_mb} MB，请压缩或分批上传后重试"})


def handle_unexpected(exc: Exception) -> Response | tuple[str, int]:
    from flask import current_app

    if current_app.testing:
        raise exc
    logger.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return _respond(500, {"error": "internal_error", "message": HTTP_MESSAGES[500]})


def init_app(app: Flask) -> None:
    app.register_error_handler(e.HeduiError, handle_domain_error)
    app.register_error_handler(RequestEntityTooLarge, handle_too_large)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
