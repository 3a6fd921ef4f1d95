"""Input no form can check: a NUL character in any parameter, a number in the URL beyond any row id.

PostgreSQL cannot store a NUL in a text or JSON column, nor compare one in a query: a NUL that reached a
search, a note or a reason was a 500 there (and stored on SQLite). No one types a NUL, so one check for
every browser page and form, with a Chinese message, replaces a check in each form. The API answers for
its own JSON bodies (web/api). The other control characters the API refuses (C0 but tab, LF, CR) are text
PostgreSQL stores; a page form refuses them at the field (``web.home.schemas.HtmlFormSchema``), where the
form can come back with the rest of what was typed, which a refusal before the view could not do.

``<int:...>`` in a route matches any run of digits; a number beyond the id columns (32-bit integers) made
the lookup overflow (SQLite cannot bind it: a 500), and it matched any Unicode digit (「１」 read as 1). The
bounded ASCII converter makes such a URL match no route. Views that read a number from a parameter
themselves use ``forms.base.whole_number``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Flask
from flask import request
from werkzeug.routing import IntegerConverter
from werkzeug.routing import Map

from engine.errors import ValidationError
from forms.base import MAX_ROW_ID

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


@cache  # one pattern per bound, not one per route at every start-up
def digits_up_to(limit: int) -> str:
    """A regular expression for the ASCII decimal numbers 0 … ``limit`` (leading zeros allowed).

    The URL map then refuses a larger number by its pattern, as it refuses letters: a 404 whatever the
    method. (A number the pattern accepts but the converter refuses would make Werkzeug answer 405 for a
    POST when a GET rule has the same shape.)
    """
    text = str(limit)
    width = len(text)
    parts = ["[0-9]"] if width > 1 else [f"[0-{text}]"]
    if width > 2:
        parts.append(f"[1-9][0-9]{{1,{width - 2}}}")
    if width > 1:
        for i, char in enumerate(text):
            low, rest = (1 if i == 0 else 0), width - i - 1
            if int(char) > low:
                parts.append(text[:i] + f"[{low}-{int(char) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
        parts.append(text)
    return f"0*(?:{'|'.join(parts)})"


class RowIdConverter(IntegerConverter):
    """``<int:...>``: ASCII digits up to the largest row id unless the route says otherwise (``<int(max=...):...>``)."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)
        self.regex = digits_up_to(MAX_ROW_ID if self.max is None else self.max)


def init_converters(app: Flask) -> None:
    """Before any blueprint adds its routes: a rule binds its converter when it is added."""
    app.url_map.converters["int"] = RowIdConverter


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul)
