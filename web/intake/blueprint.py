"""New entrustments keyed in from the paper 授权书 by a street clerk of an entrusting unit."""

from __future__ import annotations

from flask import Blueprint
from flask import g
from flask_login import current_user

from engine.errors import PermissionDeniedError
from web.db import get_ctx
from web.intake.queries import clerk_units

bp = Blueprint("intake", __name__, url_prefix="/intake", template_folder="templates", static_folder="static",
               static_url_path="/intake-static")


@bp.before_request
def _require_street_clerk() -> None:
    """Only street clerks (街道（乡镇）经办人) of an entrusting unit reach the wizard."""
    if not current_user.is_authenticated:
        return  # the app's guard has already sent the browser to the login page
    units = clerk_units(get_ctx().session, current_user.id)
    if not units:
        raise PermissionDeniedError("仅委托单位的街道（乡镇）经办人可以登记核对委托", code="role_required",
                                    role="street_clerk")
    g.intake_units = units


from web.intake import views  # noqa: E402,F401  (routes register on the blueprint)
