"""A copy of a report for a person: watermarked, counted when printed, recorded (RPT-06, SEC-12).

Every download and print is an access record on the system stream (``report_downloaded`` /
``report_printed``, with the report, its digest and N). Both are counted per report in
``print_counters``: prints under ``report:<id>`` (the N of "第N次打印" on the copy), downloads under
``report_download:<id>``.
"""

from __future__ import annotations

from engine.audit import record_access
from engine.context import Actor
from engine.context import EngineContext
from engine.documents.pdf import Stamp
from engine.documents.printing import Rendered
from engine.documents.printing import next_print_no
from engine.documents.printing import print_counts
from engine.models import WorkflowInstance
from engine.models.report import Report
from engine.reports.content import KIND_NAMES
from engine.reports.render import report_pdf
from engine.reports.service import contents


def print_key(report: Report) -> str:
    return f"report:{report.id}"


def download_key(report: Report) -> str:
    return f"report_download:{report.id}"


def report_counts(ctx: EngineContext, reports: list[Report]) -> dict[int, tuple[int, int]]:
    """Report id -> (downloads, prints) so far."""
    keys = [k for r in reports for k in (download_key(r), print_key(r))]
    counts = print_counts(ctx.session, keys)
    return {r.id: (counts.get(download_key(r), 0), counts.get(print_key(r), 0)) for r in reports}


def render_report(ctx: EngineContext, report: Report, *, actor: Actor, viewer: str, unit: str,
                  printing: bool, via: str = "web") -> Rendered:
    """The report as PDF for ``viewer``; a print counts one more "第N次打印"; both are recorded."""
    print_no = next_print_no(ctx, print_key(report), actor) if printing else None
    download_no = None if printing else next_print_no(ctx, download_key(report), actor)
    content = report_pdf(contents(report), Stamp(viewer=viewer, unit=unit, at=ctx.now(), print_no=print_no))
    instance = ctx.session.get(WorkflowInstance, report.instance_id)
    assert instance is not None
    record_access(ctx, "report_printed" if printing else "report_downloaded", instance, actor=actor, via=via,
                  report_id=report.id, number=report.number, sha256=report.sha256, print_no=print_no,
                  download_no=download_no)
    return Rendered(content, f"{KIND_NAMES[report.kind.value]}-{report.number}.pdf", print_no)
