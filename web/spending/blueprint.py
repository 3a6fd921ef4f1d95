"""支出调查 pages (DO-9; BJ 第十四条) for the case's verification agency; the engine service checks roles and state."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("spending", __name__, url_prefix="/cases", template_folder="templates")

from web.spending import views  # noqa: E402,F401  (routes register on the blueprint)
