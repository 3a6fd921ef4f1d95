"""检查与部署 (upload, lint, deploy) and the bpmn-js modeler, for process designers only.

Everyone else gets 403: an error page for pages, JSON with a stable code for the JSON endpoints
(``check.json``, ``deploy.json``, ``.../source``), whatever the request's Accept header says.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request
from flask_login import current_user

from engine.errors import HeduiError
from engine.errors import PermissionDeniedError
from web.errors import handle_domain_error
from web.errors import status_for
from web.login import has_role

bp = Blueprint("designer_edit", __name__, url_prefix="/designer/edit", template_folder="templates",
               static_folder="static", static_url_path="/static")

DESIGNER_ROLE = "process_designer"
REFUSED = "仅流程设计员可以检查、部署和在线编辑流程"


def is_json_endpoint() -> bool:
    """The endpoints the modeler's script calls: they always answer JSON."""
    return request.path.endswith(".json") or request.path.endswith("/source")


@bp.before_request
def _require_designer() -> None:
    if not current_user.is_authenticated or not has_role(DESIGNER_ROLE):
        raise PermissionDeniedError(REFUSED, code="designer_role_required")


@bp.errorhandler(HeduiError)
def _domain_error(exc: HeduiError):  # type: ignore[no-untyped-def]
    if not is_json_endpoint():
        return handle_domain_error(exc)
    response: Response = jsonify(exc.to_dict())
    response.status_code = status_for(exc)
    return response


from web.designer_edit import api  # noqa: E402,F401  (routes register on the blueprint)
from web.designer_edit import views  # noqa: E402,F401
