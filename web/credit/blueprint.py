"""失信登记 pages (AU-3) for signed-in staff; roles, jurisdiction and SoD are checked by the engine services."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("credit", __name__, url_prefix="/credit", template_folder="templates")

from web.credit import views  # noqa: E402,F401  (routes register on the blueprint)
