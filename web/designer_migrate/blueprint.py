"""版本迁移 pages for process designers: move running cases to another deployed version of their process.

Only holders of ``process_designer`` reach these pages; everyone else gets 403. The plan, the
compatibility rule and the migration itself are the engine's (``engine.services.instance_migration``).
"""

from __future__ import annotations

from flask import Blueprint

from engine.errors import PermissionDeniedError
from engine.services.instance_migration import DESIGNER_ROLE
from engine.services.instance_migration import NOT_DESIGNER
from web.login import has_role

bp = Blueprint("designer_migrate", __name__, url_prefix="/designer/migrate", template_folder="templates")


@bp.before_request
def _require_designer() -> None:
    if not has_role(DESIGNER_ROLE):
        raise PermissionDeniedError(NOT_DESIGNER, code="designer_required")


from web.designer_migrate import jobs  # noqa: E402,F401  (registers migrations.run)
from web.designer_migrate import runs  # noqa: E402,F401  (routes register on the blueprint)
from web.designer_migrate import views  # noqa: E402,F401
