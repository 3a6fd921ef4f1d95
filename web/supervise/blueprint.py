from __future__ import annotations

from flask import Blueprint

bp = Blueprint("supervise", __name__, template_folder="templates")

from web.supervise import views  # noqa: E402,F401  (routes register on the blueprint)
