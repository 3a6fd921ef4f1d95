"""Screens for exchange officers: batches, dual control, export and upload, delay notices, overdue (SD-2)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("exchange", __name__, url_prefix="/exchange", template_folder="templates")

from web.exchange import views  # noqa: E402,F401  (routes register on the blueprint)
