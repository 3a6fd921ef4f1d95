"""举报投诉 pages (AU-2) for signed-in staff; roles and jurisdiction are checked by the engine services."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("complaints", __name__, url_prefix="/complaints", template_folder="templates")

from web.complaints import views  # noqa: E402,F401  (routes register on the blueprint)
