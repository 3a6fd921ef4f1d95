"""The working-day calendar editor and the policy overrides; the same guard as ``web.admin``."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from engine.errors import PermissionDeniedError
from web.login import has_role

bp = Blueprint("admin_extra", __name__, url_prefix="/admin", template_folder="templates", static_folder="static",
               static_url_path="/admin-extra-static")


@bp.before_request
def _require_admin() -> None:
    """Only holders of the ``admin`` role (in any unit) reach these pages; the app already required sign-in."""
    if not current_user.is_authenticated or not has_role("admin"):
        raise PermissionDeniedError("仅系统管理员可以访问管理页面", code="admin_required")


from web.admin_extra import views  # noqa: E402,F401  (routes register on the blueprint)
