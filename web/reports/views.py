"""A case's reports in the browser: the cover and the annex tables, the PDF, the print (DO-7, DO-10, RPT-06).

Jurisdiction first: outside it a report answers 404 (OR-3), as the case page does. The page shows
ID numbers masked; the PDF is the official document with full numbers, so downloading and printing
need a duty on the case (SEC-13), as the 授权书 and 委托书 do. Every viewing, download and print is
recorded; downloads and prints are counted per report.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine import assignment
from engine.audit import record_access
from engine.context import Actor
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.models.report import Report
from engine.reports.content import KIND_NAMES
from engine.reports.fields import FIELD_NAMES
from engine.reports.printing import render_report
from engine.reports.printing import report_counts
from engine.reports.render import ROLE_SHORT
from engine.reports.render import cn_date
from engine.reports.render import cover_sentences
from engine.reports.render import review_sentences
from engine.reports.render import spending_sentences
from engine.reports.service import case_reports
from engine.reports.service import contents
from engine.reports.service import get_report
from engine.reports.service import require_current
from engine.reports.service import supersede
from forms.ids import mask_id
from web.cases import queries
from web.db import get_ctx
from web.downloads import rendered_response
from web.inbox.views import local_time
from web.reports.blueprint import bp


def _actor() -> Actor:
    return Actor(current_user.username, None, current_user.id)


def _report(case_no: str, report_id: int) -> tuple[Any, Report]:
    ctx = get_ctx()
    household = queries.visible_case(ctx, current_user.id, case_no)
    report = get_report(ctx, report_id)
    if report.household_id != household.id:
        raise NotFoundError("核对报告不存在", code="report_not_found")
    return household, report


def _is_report_officer(report: Report) -> bool:
    return assignment.holds(get_ctx(), current_user.id, report.agency_unit_id, "report_officer")


@bp.get("/<case_no>/reports/<int:report_id>")
def report(case_no: str, report_id: int) -> str:
    return _page(case_no, report_id, error=None, reason="")


@bp.post("/<case_no>/reports/<int:report_id>/supersede")
def report_supersede(case_no: str, report_id: int) -> ResponseReturnValue:
    """A report officer of the issuing agency issues a corrected report; the old one stays, 已被替代."""
    ctx = get_ctx()
    _household, row = _report(case_no, report_id)
    if not _is_report_officer(row):
        raise PermissionDeniedError("只有出具机构的报告出具人员可以出具更正报告", code="role_required")
    require_current(ctx, row)  # before the reason: a superseded report's page has no form to show its error in
    reason = (request.form.get("reason") or "").strip()
    if not reason or len(reason) > 500:
        return _page(case_no, report_id, error="请填写更正原因（不超过 500 字）", reason=reason[:2000]), 422
    new = supersede(ctx, row, actor=Actor(current_user.username, "report_officer", current_user.id), reason=reason)
    return redirect(url_for("reports.report", case_no=case_no, report_id=new.id))


def _page(case_no: str, report_id: int, *, error: str | None, reason: str) -> str:
    ctx = get_ctx()
    household, row = _report(case_no, report_id)
    assert household.instance is not None
    record_access(ctx, "report_viewed", household.instance, actor=_actor(), via="web", report_id=row.id,
                  number=row.number)
    state = next(s for s in case_reports(ctx, case_no) if s.report.id == row.id)
    content = contents(row)
    review = content.get("reverification")
    downloads, prints = report_counts(ctx, [row])[row.id]
    return render_template(
        "reports/report.html", household=household, report=row, state=state, c=content,
        sentences=cover_sentences(content), review_sentences=review_sentences(review) if review else [],
        spending_sentences=spending_sentences(content["spending"]) if content.get("spending") else [],
        kind_name=KIND_NAMES[row.kind.value], links=_review_links(review) if review else None, cn_date=cn_date,
        role_short=ROLE_SHORT, masked=mask_id,
        field_names=FIELD_NAMES, downloads=downloads, prints=prints,
        can_print=queries.has_duty(ctx.session, current_user.id, household.instance), local_time=local_time,
        can_correct=state.superseded_by is None and _is_report_officer(row), error=error, reason=reason)


def _review_links(review: dict[str, Any]) -> dict[str, Any]:
    """A 复核报告's links: its recheck, and the original report when this user may open it (OR-3)."""
    ctx = get_ctx()
    original = review.get("original") or {}
    if original.get("id") and original.get("case_no"):
        try:
            queries.visible_case(ctx, current_user.id, original["case_no"])
        except NotFoundError:
            original = {}
    else:
        original = {}
    return {"recheck": (review.get("trigger") or {}).get("recheck_no"), "original": original or None}


def _rendered(case_no: str, report_id: int, *, printing: bool) -> Response:
    ctx = get_ctx()
    household, row = _report(case_no, report_id)
    assert household.instance is not None
    if not queries.has_duty(ctx.session, current_user.id, household.instance):
        raise PermissionDeniedError("您在本案件中没有下载或打印核对报告的职责", code="duty_required")
    rendered = render_report(ctx, row, actor=_actor(), viewer=current_user.display_name,
                             unit=queries.viewer_unit(ctx, current_user.id, household), printing=printing)
    return rendered_response(rendered, printing=printing)


@bp.get("/<case_no>/reports/<int:report_id>.pdf")
def report_download(case_no: str, report_id: int) -> Response:
    return _rendered(case_no, report_id, printing=False)


@bp.post("/<case_no>/reports/<int:report_id>/print")
def report_print(case_no: str, report_id: int) -> Response:
    """A printed copy: counted, "第N次打印" on every page, opened in the browser for its print dialog."""
    return _rendered(case_no, report_id, printing=True)
