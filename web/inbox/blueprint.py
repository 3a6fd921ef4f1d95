from __future__ import annotations

from flask import Blueprint

bp = Blueprint("inbox", __name__, template_folder="templates")

from web.inbox import views  # noqa: E402,F401  (routes register on the blueprint)
