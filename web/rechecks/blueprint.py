"""Re-verification pages for signed-in staff; jurisdiction and roles are checked by the engine services."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("rechecks", __name__, url_prefix="/rechecks", template_folder="templates")

from web.rechecks import batches  # noqa: E402,F401  (routes register on the blueprint)
from web.rechecks import documents  # noqa: E402,F401
from web.rechecks import jobs  # noqa: E402,F401  (registers rechecks.run_batch)
from web.rechecks import views  # noqa: E402,F401
