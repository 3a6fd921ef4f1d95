"""流程定义: which definitions are deployed, their versions, what changed, which cases run on which.

Process designers, auditors and administrators read these pages (``DEFINITION_READERS``);
everyone else gets 403. Only process designers make another version current (rollback).
Definitions hold no personal data, so reading them is not recorded in the access log.
"""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from engine.errors import PermissionDeniedError
from engine.services.definitions import may_read
from web.db import get_ctx

bp = Blueprint("designer", __name__, url_prefix="/designer", template_folder="templates")

REFUSED = "仅流程设计员、审计监督员和系统管理员可以查看流程定义"


@bp.before_request
def _require_role() -> None:
    if not current_user.is_authenticated or not may_read(get_ctx(), current_user.id):
        raise PermissionDeniedError(REFUSED, code="definition_role_required")


from web.designer import views  # noqa: E402,F401  (routes register on the blueprint)
