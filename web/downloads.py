"""Files the app hands out (PDFs, archived scans, CSV/JSON exports): one response shape for all of them.

Never cached (they carry personal data), never sniffed into another type, and named for both old
and new clients: an ASCII ``filename`` plus the exact UTF-8 ``filename*`` (RFC 6266).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Response

from engine.documents.printing import Rendered

_UNSAFE = re.compile(r'[^A-Za-z0-9._-]')


def file_response(content: bytes | str, filename: str, *, mimetype: str = "application/pdf",
                  attachment: bool = True) -> Response:
    """``content`` as a download (``attachment``) or shown in the browser (inline)."""
    disposition = "attachment" if attachment else "inline"
    fallback = _UNSAFE.sub("_", filename) or "download"
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def rendered_response(rendered: Rendered, *, printing: bool) -> Response:
    """A produced copy: downloaded as an attachment, or a print opened inline with its number in a header."""
    response = file_response(rendered.content, rendered.filename, attachment=not printing)
    if rendered.print_no is not None:
        response.headers["X-Hedui-Print-No"] = str(rendered.print_no)
    return response
