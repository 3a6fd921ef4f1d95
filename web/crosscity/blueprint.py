"""Cross-city verification pages (跨地市核对, PS-7): each level sees where its requests are."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("crosscity", __name__, url_prefix="/cross-city", template_folder="templates")

# kept in this order: the modules register their routes as they load
# isort: off
from web.crosscity import views  # noqa: E402,F401  (routes register on the blueprint)
from web.crosscity import review  # noqa: E402,F401
# isort: on
