"""Case pages for every signed-in user; what each user sees is limited by jurisdiction (OR-3)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("cases", __name__, url_prefix="/cases", template_folder="templates", static_folder="static",
               static_url_path="/cases-static")

from web.cases import documents  # noqa: E402,F401  (routes register on the blueprint)
from web.cases import imports  # noqa: E402,F401
from web.cases import views  # noqa: E402,F401
