"""统计分析 (AN-1, AU-4): aggregate figures of the viewer's jurisdiction, CSV exports of each table.

Only supervisors, auditors, administrators and assistance officers (civil-affairs departments) reach
these pages; everyone else gets 403. Every viewing and export is recorded.
"""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from engine.errors import PermissionDeniedError
from engine.stats.access import may_view
from web.db import get_ctx

bp = Blueprint("stats", __name__, url_prefix="/stats", template_folder="templates")

REFUSED = "仅监督部门、审计监督员、系统管理员和民政部门经办人员可以查看统计分析"


@bp.before_request
def _require_role() -> None:
    if not current_user.is_authenticated or not may_view(get_ctx(), current_user.id):
        raise PermissionDeniedError(REFUSED, code="stats_role_required")


from web.stats import views  # noqa: E402,F401  (routes register on the blueprint)
