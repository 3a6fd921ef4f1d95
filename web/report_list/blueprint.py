"""核对报告: the list of issued reports for report officers, supervisors and auditors (DO-7, DO-8, OR-3)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("report_list", __name__, url_prefix="/reports", template_folder="templates")

from web.report_list import views  # noqa: E402,F401  (routes register on the blueprint)
