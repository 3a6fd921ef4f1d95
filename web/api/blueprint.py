from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__)


@bp.before_request
def _check_url() -> None:
    from web.api.inputs import check_url

    check_url()


# kept in this order: the modules register their operations in the API document (openapi) as they load
# isort: off
from web.api import tasks  # noqa: E402,F401  (routes register on the blueprint)
from web.api import views  # noqa: E402,F401
from web.api import calendar  # noqa: E402,F401
from web.api import audit  # noqa: E402,F401
from web.api import cases  # noqa: E402,F401
from web.api import exchange  # noqa: E402,F401
from web.api import rechecks  # noqa: E402,F401
from web.api import crosscity  # noqa: E402,F401
from web.api import reports  # noqa: E402,F401
from web.api import stats  # noqa: E402,F401
from web.api import credit  # noqa: E402,F401
from web.api import complaints  # noqa: E402,F401
from web.api import definitions  # noqa: E402,F401
from web.api import definition_deploy  # noqa: E402,F401
# isort: on
