"""One transaction per request: commit on success (status < 400), roll back otherwise."""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import current_app
from flask import g

from engine.context import EngineContext
from web.state import HeduiState


def state() -> HeduiState:
    return current_app.extensions["hedui"]  # type: ignore[no-any-return]


def get_ctx() -> EngineContext:
    """The engine context of the current request (created on first use)."""
    if "hedui_ctx" not in g:
        g.hedui_ctx = state().new_context()
    return g.hedui_ctx  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    app.after_request(_finish)
    app.teardown_request(_close)


def _finish(response: Response) -> Response:
    ctx: EngineContext | None = g.pop("hedui_ctx", None)
    if ctx is None:
        return response
    try:
        if response.status_code < 400 or g.pop("hedui_commit_on_error", False):
            # a refused action commits only its own record (see engine.assignment)
            ctx.session.commit()
            state().dispatch_jobs(ctx)
        else:
            ctx.session.rollback()
    finally:
        ctx.session.close()
    return response


def _close(exc: BaseException | None) -> None:
    ctx: EngineContext | None = g.pop("hedui_ctx", None)
    if ctx is not None:
        ctx.session.rollback()
        ctx.session.close()
