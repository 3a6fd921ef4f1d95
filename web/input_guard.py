"""Input no form can check: a NUL character in any parameter, a number in the URL beyond any row id; and
``whole_number`` for the views that read a number from a parameter themselves.

PostgreSQL cannot store a NUL in a text or JSON column, nor compare one in a query: a NUL that reached a
search, a note or a reason was a 500 there (and stored on SQLite). No one types a NUL, so one check for
every browser page and form, with a Chinese message, replaces a check in each form. The API answers for
its own JSON bodies (web/api).

``<int:...>`` in a route matches any run of digits; a number beyond the id columns (32-bit integers) made
the lookup overflow (SQLite cannot bind it: a 500). The bounded converter makes such a URL a 404.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask import request
from werkzeug.routing import IntegerConverter
from werkzeug.routing import Map

from engine.errors import ValidationError
from forms.base import ROW_ID

NUL_MESSAGE = "提交的内容含有不可见的控制字符（NUL），请删除后重新输入并提交"


def _refuse_nul() -> None:
    if request.path.startswith("/api/") or request.endpoint in (None, "static"):
        return
    values = [v for _, vs in request.args.lists() for v in vs]
    if request.method not in ("GET", "HEAD"):
        values += [v for _, vs in request.form.lists() for v in vs]
        values += [f.filename or "" for _, fs in request.files.lists() for f in fs]
    if any("\x00" in v for v in values) or any("\x00" in k for k in (*request.args, *request.form)):
        raise ValidationError(NUL_MESSAGE, code="nul_character")


def whole_number(raw: str, maximum: int = ROW_ID.max) -> int | None:
    """``raw`` as a whole number if it is ASCII digits and at most ``maximum``, else None: ``str.isdigit``
    also takes 「²」 (which ``int`` refuses: a 500) and any length (which the database cannot bind)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(maximum)):
        return None
    value = int(raw)
    return value if value <= maximum else None


class RowIdConverter(IntegerConverter):
    """``<int:...>`` up to the largest row id unless the route says otherwise (``<int(max=...):...>``)."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", ROW_ID.max)
        super().__init__(url_map, *args, **kwargs)


def init_converters(app: Flask) -> None:
    """Before any blueprint adds its routes: a rule binds its converter when it is added."""
    app.url_map.converters["int"] = RowIdConverter


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul)
