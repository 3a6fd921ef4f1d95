"""Reports for the entrusting unit's systems: the list of a case's reports and the PDF (DO-7, DO-10, RPT-06);
and the list of issued reports of the caller's jurisdiction for report officers, supervisors and auditors.

Jurisdiction exactly as the case API: a case or report outside it answers 404 (OR-3). Each
report says whether it has expired (LOC-27: valid one year) and what superseded it; each PDF
download is recorded and counted like a download in the browser. ``GET /api/v1/reports`` takes the
web list's filters (``web/report_list/schemas.py``) and the API's ``limit``/``cursor``.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from engine import assignment
from engine.context import Actor
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.models import WorkflowInstance
from engine.reports import listing
from engine.reports.content import KIND_NAMES
from engine.reports.levels import reports_with_levels
from engine.reports.printing import render_report
from engine.reports.service import case_reports
from engine.reports.service import get_report
from web.api.blueprint import bp
from web.api.cases import _case
from web.api.inputs import PAGE_PARAMETERS
from web.api.inputs import cursor_arg
from web.api.inputs import limit_arg
from web.api.openapi import BEARER
from web.api.openapi import operation
from web.auth import api_login_required
from web.auth import current_api_user
from web.cases.queries import has_duty
from web.cases.queries import viewer_unit
from web.db import get_ctx
from web.downloads import file_response
from web.report_list.schemas import ID_NUMBER_MESSAGE
from web.report_list.schemas import parse_filter
from web.report_list.views import NOT_A_READER


@bp.get("/api/v1/cases/<case_no>/reports")
@api_login_required
def list_reports(case_no: str) -> Response:
    household, _instance = _case(case_no)
    # its own reports and those upper agencies issued for it, each with its level (分级出具报告, PS-5)
    return jsonify({"case_no": case_no, "reports": [r.to_json() for r in reports_with_levels(get_ctx(), household)]})


@bp.get("/api/v1/reports")
@api_login_required
def list_issued_reports() -> Response:
    """The reports issued in the caller's jurisdiction, newest first; ``next_cursor`` fetches the next page."""
    ctx, user = get_ctx(), current_api_user()
    who = listing.reader(ctx, user.id)
    if who is None:
        raise PermissionDeniedError(NOT_A_READER, code="role_required", roles=sorted(listing.REPORT_READERS))
    parsed = parse_filter(request.args)
    if parsed.errors:
        id_number = parsed.errors.get("q") == [ID_NUMBER_MESSAGE]
        raise ValidationError("查询参数有误", code="id_number_in_query" if id_number else None, fields=parsed.errors)
    rows, more = listing.list_reports(ctx, who, parsed.filter, limit=limit_arg(), before_id=cursor_arg())
    listing.record_read(ctx, who, Actor(user.username, None, user.id), rows, parsed.filter, via="api")
    return jsonify({"items": [_issued(row) for row in rows], "next_cursor": None if more is None else str(more)})


def _issued(row: listing.ReportRow) -> dict[str, Any]:
    return {**row.state.to_json(), "agency": row.agency_name, "issued_by": row.report.issued_by,
            "applicant_name": row.applicant_name, "applicant_id_masked": row.applicant_id}


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
    response.headers["X-Hedui-Report-Status"] = state.code
    return response


_REPORT: dict[str, Any] = {
    "type": "object", "required": ["id", "number", "issued_at", "valid_until", "expired", "superseded_by"],
    "properties": {"id": {"type": "integer"}, "number": {"type": "string", "description": "编号"},
                   "kind": {"type": "string", "enum": ["verification", "reverification"]},
                   "case_no": {"type": "string", "description": "出具该报告的案件（复核报告为复核核对案件；"
                                                           "上级核对时为上级核对机构的案件）"},
                   "issued_at": {"type": "string", "format": "date-time"},
                   "valid_until": {"type": "string", "format": "date", "description": "有效期最后一日（一年）"},
                   "expired": {"type": "boolean", "description": "已超过有效期（LOC-27）"},
                   "superseded_by": {"type": ["string", "null"], "description": "替代它的更正报告编号"},
                   "supersedes_id": {"type": ["integer", "null"]},
                   "status": {"type": "string", "enum": ["有效", "已过期", "已被替代"], "description": "状态（中文）"},
                   "state": {"type": "string", "enum": ["valid", "expired", "superseded"],
                             "description": "状态代码（与列表的 state 筛选条件相同）"},
                   "sha256": {"type": "string"},
                   "level": {"type": "string", "enum": ["县级", "市级", "省级"],
                             "description": "出具机构的层级"},
                   "agency": {"type": "object", "description": "出具报告的核对机构（code、name）"},
                   "own": {"type": "boolean",
                           "description": "本案件自己出具的报告（否：上级核对机构为本案出具）"},
                   "escalation_no": {"type": ["string", "null"], "description": "上级核对编号（PS-5、PS-7）"}}}
operation("get", "/cases/{case_no}/reports",
          summary="案件的核对报告列表（编号、出具时间、有效期、是否过期、被哪份更正报告替代；"
          "含本户个案复核出具的复核报告（kind=reverification，case_no 为复核核对案件）"
          "及上级核对机构为本案出具的报告和各自层级）",
          security=BEARER,
          responses={"200": {"description": "报告列表", "content": {"application/json": {"schema": {
              "type": "object", "properties": {"case_no": {"type": "string"},
                                               "reports": {"type": "array", "items": _REPORT}}}}}},
                     "404": {"description": "不存在或不在辖区"}})
operation("get", "/reports/{report_id}.pdf", summary="核对报告 PDF（带查看人水印；下载将被记录并计数）",
          security=BEARER, parameters=[{"name": "report_id", "in": "path", "required": True,
                                       "schema": {"type": "integer", "minimum": 1}}],
          responses={"200": {"description": "PDF；X-Hedui-Report-Expired 头表示是否已过期",
                             "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                     "403": {"description": "在本案件中没有需要完整身份证号码的职责（duty_required）"},
                     "404": {"description": "不存在或不在辖区"}})
_ISSUED = {"type": "object", "required": [*_REPORT["required"], "status", "applicant_id_masked"],
           "properties": {**_REPORT["properties"],
                          "agency": {"type": "string", "description": "出具报告的核对机构名称"},
                          "issued_by": {"type": "string", "description": "出具人（用户名）"},
                          "applicant_name": {"type": ["string", "null"], "description": "申请人姓名"},
                          "applicant_id_masked": {"type": ["string", "null"],
                                                  "description": "申请人身份证号码（已隐藏中间位）"}}}
operation("get", "/reports", summary="辖区内已出具的核对报告和复核报告（最新在前；"
          "报告出具人员、科室负责人、审计监督员；审计监督员的查阅记入访问记录）", security=BEARER, parameters=[
              {"name": "issued_from", "in": "query", "schema": {"type": "string", "format": "date"}},
              {"name": "issued_to", "in": "query", "schema": {"type": "string", "format": "date"},
               "description": "出具日期（北京时间，含两端）"},
              {"name": "state", "in": "query", "schema": {"enum": list(listing.STATE_NAMES)},
               "description": "valid 有效、expired 已过期、superseded 已被替代（已出具更正报告）"},
              {"name": "kind", "in": "query", "schema": {"enum": list(KIND_NAMES)},
               "description": "verification 核对报告、reverification 复核报告"},
              {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": listing.TEXT_MAX},
               "description": "报告编号、案件编号或申请人姓名的一部分（不得为身份证号码：id_number_in_query）"},
              *PAGE_PARAMETERS],
          responses={"200": {"description": "items 与 next_cursor", "content": {"application/json": {"schema": {
              "type": "object", "properties": {"items": {"type": "array", "items": _ISSUED},
                                               "next_cursor": {"type": ["string", "null"]}}}}}},
                     "403": {"description": "须为报告出具人员、科室负责人或审计监督员（role_required）"},
                     "422": {"description": "日期、状态、类别或文字有误（validation_error），"
                                            "按身份证号码查询（id_number_in_query），limit 或 cursor 有误"}})
