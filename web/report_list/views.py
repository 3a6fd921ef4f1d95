"""核对报告 ``/reports/``: the reports issued in the reader's jurisdiction, newest first (DO-7, DO-8, OR-3).

For report officers, supervisors and auditors (``engine.reports.listing.REPORT_READERS``; anyone else
gets 403). Filters: issue period, state (有效 / 已过期 / 已被替代), kind (核对报告 / 复核报告) and a text
matched against the report number, the case number and the applicant's name. A bad filter is shown at
its field with the values kept and lists nothing (422). ID numbers are masked; the PDF (full numbers) is
linked only for readers with a duty on the case, as the report page offers it. An auditor's read is
recorded in the access log (SEC-12).
"""

from __future__ import annotations

from flask import render_template
from flask import request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from engine.context import Actor
from engine.errors import PermissionDeniedError
from engine.models import WorkflowInstance
from engine.reports import listing
from engine.reports.content import KIND_NAMES
from web.audit.schemas import page_number
from web.cases.queries import duty_instances
from web.db import get_ctx
from web.inbox.views import local_time
from web.report_list.blueprint import bp
from web.report_list.schemas import PAGE_SIZE
from web.report_list.schemas import parse_filter

NOT_A_READER = "只有报告出具人员、科室负责人和审计监督员可以查看核对报告列表"


def _pdf_cases(rows: list[listing.ReportRow]) -> set[int]:
    """The cases of ``rows`` whose PDF the user may download (a duty on the case, SEC-13)."""
    ctx = get_ctx()
    ids = {row.report.instance_id for row in rows}
    instances = list(ctx.session.execute(select(WorkflowInstance).where(WorkflowInstance.id.in_(ids))).scalars())
    return duty_instances(ctx.session, current_user.id, instances)


@bp.get("/")
def index() -> ResponseReturnValue:
    ctx = get_ctx()
    who = listing.reader(ctx, current_user.id)
    if who is None:
        raise PermissionDeniedError(NOT_A_READER, code="role_required", roles=sorted(listing.REPORT_READERS))
    parsed = parse_filter(request.args)
    rows: list[listing.ReportRow] = []
    total, page, pages = 0, 1, 1
    if not parsed.errors:
        total = listing.count_reports(ctx, who, parsed.filter)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(page_number(request.args.get("page")), pages)
        rows, _ = listing.list_reports(ctx, who, parsed.filter, offset=(page - 1) * PAGE_SIZE,
                                       limit=PAGE_SIZE)
        listing.record_read(ctx, who, Actor(current_user.username, None, current_user.id), rows,
                            parsed.filter, via="web")
    html = render_template("report_list/index.html", rows=rows, total=total, page=page, pages=pages, f=parsed,
                           states=listing.STATE_NAMES, kinds=KIND_NAMES, local_time=local_time,
                           pdf_cases=_pdf_cases(rows))
    return (html, 422) if parsed.errors else html
