"""Reports for the entrusting unit's systems: the list of a case's reports and the PDF (DO-7, DO-10, RPT-06).

Jurisdiction exactly as the case API: a case or report outside it answers 404 (OR-3). Each
report says whether it has expired (LOC-27: valid one year) and what superseded it; each PDF
download is recorded and counted like a download in the browser.
"""

from __future__ import annotations

from flask import Response
from flask import jsonify

from engine import assignment
from engine.context import Actor
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.models import WorkflowInstance
from engine.reports.levels import reports_with_levels
from engine.reports.printing import render_report
from engine.reports.service import case_reports
from engine.reports.service import get_report
from web.api.blueprint import bp
from web.api.cases import _AUTH
from web.api.cases import _case
from web.api.openapi import operation
from web.auth import api_login_required
from web.auth import current_api_user
from web.cases.queries import has_duty
from web.cases.queries import viewer_unit
from web.db import get_ctx
from web.downloads import file_response


@bp.get("/api/v1/cases/<case_no>/reports")
@api_login_required
def list_reports(case_no: str) -> Response:
    household, _instance = _case(case_no)
    # its own reports and those upper agencies issued for it, each with its level (分级出具报告, PS-5)
    return jsonify({"case_no": case_no, "reports": [r.to_json() for r in reports_with_levels(get_ctx(), household)]})


@bp.get("/api/v1/reports/<int:report_id>.pdf")
@api_login_required
def report_pdf(report_id: int) -> Response:
    ctx = get_ctx()
    user = current_api_user()
    report = get_report(ctx, report_id)
    instance = ctx.session.get(WorkflowInstance, report.instance_id)
    if instance is None or not assignment.visible_to(ctx, user.id, instance):
        raise NotFoundError("核对报告不存在", code="report_not_found")
    if not has_duty(ctx.session, user.id, instance):
        # the PDF carries full ID numbers: the same rule as the browser's download (SEC-13)
        raise PermissionDeniedError("您在本案件中没有下载核对报告的职责", code="duty_required")
    rendered = render_report(ctx, report, actor=Actor(user.username, None, user.id), viewer=user.display_name,
                             unit=viewer_unit(ctx, user.id, instance), printing=False, via="api")
    state = next(s for s in case_reports(ctx, report.case_no) if s.report.id == report.id)
    response = file_response(rendered.content, f"report-{report.id}.pdf")
    response.headers["X-Hedui-Report-Expired"] = "true" if state.expired else "false"
    response.headers["X-Hedui-Report-Status"] = {"有效": "valid", "已过期": "expired", "已被替代": "superseded"}[state.label]
    return response


_REPORT = {"type": "object", "required": ["id", "number", "issued_at", "valid_until", "expired", "superseded_by"],
           "properties": {"id": {"type": "integer"}, "number": {"type": "string", "description": "编号"},
                          "kind": {"type": "string", "enum": ["verification", "reverification"]},
                          "case_no": {"type": "string", "description": "出具该报告的案件（复核报告为复核核对案件；"
                                                                  "上级核对时为上级核对机构的案件）"},
                          "issued_at": {"type": "string", "format": "date-time"},
                          "valid_until": {"type": "string", "format": "date", "description": "有效期最后一日（一年）"},
                          "expired": {"type": "boolean", "description": "已超过有效期（LOC-27）"},
                          "superseded_by": {"type": ["string", "null"], "description": "替代它的更正报告编号"},
                          "supersedes_id": {"type": ["integer", "null"]},
                          "status": {"type": "string", "enum": ["有效", "已过期", "已被替代"]},
                          "sha256": {"type": "string"},
                          "level": {"type": "string", "enum": ["县级", "市级", "省级"], "description": "出具机构的层级"},
                          "agency": {"type": "object", "description": "出具报告的核对机构（code、name）"},
                          "own": {"type": "boolean", "description": "本案件自己出具的报告（否：上级核对机构为本案出具）"},
                          "escalation_no": {"type": ["string", "null"], "description": "上级核对编号（PS-5、PS-7）"}}}
operation("get", "/cases/{case_no}/reports", summary="案件的核对报告列表（编号、出具时间、有效期、是否过期、被哪份更正报告替代；"
          "含本户个案复核出具的复核报告（kind=reverification，case_no 为复核核对案件）及上级核对机构为本案出具的报告和各自层级）",
          security=_AUTH,
          responses={"200": {"description": "报告列表", "content": {"application/json": {"schema": {
              "type": "object", "properties": {"case_no": {"type": "string"},
                                               "reports": {"type": "array", "items": _REPORT}}}}}},
                     "404": {"description": "不存在或不在辖区"}})
operation("get", "/reports/{report_id}.pdf", summary="核对报告 PDF（带查看人水印；下载将被记录并计数）",
          security=_AUTH, parameters=[{"name": "report_id", "in": "path", "required": True,
                                       "schema": {"type": "integer", "minimum": 1}}],
          responses={"200": {"description": "PDF；X-Hedui-Report-Expired 头表示是否已过期",
                             "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                     "403": {"description": "在本案件中没有需要完整身份证号码的职责（duty_required）"},
                     "404": {"description": "不存在或不在辖区"}})
