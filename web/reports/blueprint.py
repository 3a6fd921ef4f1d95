"""The 核对报告 in the browser: cover and annex tables, PDF download and print (DO-7, DO-10, RPT-06)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/cases", template_folder="templates")

from web.reports import views  # noqa: E402,F401  (routes register on the blueprint)
