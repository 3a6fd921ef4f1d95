"""Archive viewer and printable documents; read-only: there is no route that edits or deletes an archive."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("archives", __name__, url_prefix="/cases", template_folder="templates")

from web.archives import views  # noqa: E402,F401  (routes register on the blueprint)
