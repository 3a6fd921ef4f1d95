"""The auditors' pages (AU-1, PR-4, AR-4, SEC-12): cases with their verification, timelines, replay, access log.

Only holders of the ``auditor`` role reach them; everything here reads, and every look at a case
is itself recorded in the access log. Cases outside the auditor's jurisdiction answer 404.
"""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from engine.errors import PermissionDeniedError
from web.login import has_role

bp = Blueprint("audit", __name__, url_prefix="/audit", template_folder="templates", static_folder="static",
               static_url_path="/audit-static")


@bp.before_request
def _require_auditor() -> None:
    if not current_user.is_authenticated or not has_role("auditor"):
        raise PermissionDeniedError("仅审计监督员可以访问审计页面", code="auditor_required")


from web.audit import views  # noqa: E402,F401  (routes register on the blueprint)
