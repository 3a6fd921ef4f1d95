"""The 统计分析 page and the CSV export of each of its tables (AN-1, AU-4).

Filters travel as query parameters (they carry no personal data), so a view can be bookmarked and
an export names exactly what was shown. Invalid filters answer 422 with the message at the field
and the input kept.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import render_template
from flask import request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine.context import Actor
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.stats import access
from engine.stats.report import compute
from engine.stats.scope import choices
from forms.household import BUSINESS_TYPES
from web.db import get_ctx
from web.downloads import file_response
from web.home.schemas import field_errors
from web.stats.blueprint import bp
from web.stats.schemas import PARAMETERS
from web.stats.schemas import PERIODS
from web.stats.schemas import load_query
from web.stats.tables import TABLE_KEYS
from web.stats.tables import Table
from web.stats.tables import tables


def _actor() -> Actor:
    return Actor(current_user.username, None, current_user.id)


@bp.get("/")
def index() -> ResponseReturnValue:
    ctx = get_ctx()
    form = {k: v for k, v in request.args.items() if k in PARAMETERS}
    try:
        query = load_query(ctx, current_user.id, request.args)
    except ValidationError as exc:
        return _page(form, field_errors(exc), exc.message, None), 422
    report = compute(ctx, query)
    access.record_viewed(ctx, _actor(), query, via="web")
    return _page(form, {}, None, report)


def _page(form: dict[str, Any], errors: dict[str, list[str]], message: str | None, report: Any) -> str:
    allowed = choices(get_ctx(), current_user.id)
    return render_template(
        "stats/index.html", form=form, errors=errors, message=message, report=report,
        tables=tables(report) if report is not None else [], periods=list(PERIODS.items()),
        regions=[(code, name) for code, name, _ in allowed.regions], agencies=allowed.agencies,
        business_types=list(BUSINESS_TYPES.items()), export_args=_export_args(report))


def _export_args(report: Any) -> dict[str, str]:
    """The shown period as dates, so an export made after midnight on the 1st still matches the page."""
    if report is None:
        return {}
    q = report.query
    args = {"period": "custom", "from": q.first.isoformat(), "to": q.last.isoformat(), "region": q.region_code,
            "agency": q.agency_unit_id, "business_type": q.business_type}
    return {k: str(v) for k, v in args.items() if v is not None}


@bp.get("/export/<table>.csv")
def export(table: str) -> ResponseReturnValue:
    if table not in TABLE_KEYS:
        raise NotFoundError("没有该统计表", code="stats_table_not_found")
    ctx = get_ctx()
    query = load_query(ctx, current_user.id, request.args)
    [chosen] = [t for t in tables(compute(ctx, query)) if t.key == table]
    access.record_exported(ctx, _actor(), query, table=table, fmt="csv")
    name = f"{chosen.title}_{query.first.isoformat()}_{query.last.isoformat()}.csv"
    return file_response(to_csv(chosen), name, mimetype="text/csv; charset=utf-8")


def to_csv(table: Table) -> str:
    """The table with a BOM, so spreadsheet programs read the Chinese as UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(table.headers)
    writer.writerows([_cell(value) for value in row] for row in table.rows)
    writer.writerow(table.total)
    return out.getvalue()


def _cell(value: str) -> str:
    # a unit name starting like a formula would run in a spreadsheet (CSV injection)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
