"""The 复核报告 of an individual recheck and the recheck's 复核表 / 复核委托书 (DO-8, PS-9, PR-3).

A recheck walked to the end issues a ``reverification`` report in its linked case: the 核对报告's
structure plus the 复核表's trigger and the differences from the original case's current report;
the recheck and the original case's history link it, and the original case's report list shows it.
"""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from engine.archives.seal import seal_case
from engine.archives.verify import verify_archives
from engine.audit import replay_instance
from engine.context import Actor
from engine.context import EngineContext
from engine.documents.pdf import Stamp
from engine.documents.printing import print_counts
from engine.documents.printing import recheck_document_key
from engine.documents.printing import render_recheck_document
from engine.documents.render import recheck_form_pdf
from engine.errors import NotFoundError
from engine.history import verify_chain
from engine.models import Event
from engine.models import Recheck
from engine.models.report import Report
from engine.models.report import ReportKind
from engine.reports.printing import render_report
from engine.reports.render import NO_DIFFERENCES
from engine.reports.render import NO_ORIGINAL
from engine.reports.service import contents
from engine.reports.service import current_report
from engine.reports.service import reports_with_rechecks
from engine.reports.service import supersede
from engine.services.org import get_unit_by_code
from engine.services.rechecks import file_recheck
from tests.engine.recheck_factory import as_user
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare
from tests.engine.recheck_factory import prepared_once
from tests.engine.recheck_factory import reverify
from tests.engine.recheck_factory import verify
from tests.engine.test_reports import VERDICT_WORDS

#: the demo region at every level, every diagram and the demo sharing catalogue, seeded once for the module
SEED_ONCE = prepare

VIEWER = Actor("cy_reporter", "report_officer")


def _text(content: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.fixture
def prepared(ctx: EngineContext) -> EngineContext:
    # the Baoji profile (BJ 附件4–6 define these documents); under Jilin's the decision feedback of a case
    # finished in December falls in January 2027, a year the test calendar does not hold
    ctx.policy_profile = "baoji"
    return prepared_once(ctx)


def test_a_recheck_walked_to_the_end_issues_a_reverification_report(prepared: EngineContext) -> None:
    """DO-8, PS-9: kind, trigger, differences, links to the recheck and the original report; no verdict (PR-3)."""
    ctx = prepared
    [household] = enrol(ctx)
    verify(ctx, household)
    original = current_report(ctx, household.case_no)
    assert original is not None and original.report.kind is ReportKind.VERIFICATION
    recheck = ctx.session.get(Recheck, reverify(ctx, household).id)
    case = recheck.verification_household
    state = current_report(ctx, case.case_no)
    assert state is not None
    report = state.report
    assert report.kind is ReportKind.REVERIFICATION and recheck.report_no == report.number
    body = contents(report)
    assert body["title"] == "居民家庭（个人）经济状况复核报告"
    review = body["reverification"]
    assert review["trigger"]["code"] == "complaint" and review["trigger"]["recheck_no"] == recheck.number
    assert review["trigger"]["reason"] == recheck.reason and review["trigger"]["requester"] == "匿名"
    assert review["original"]["number"] == original.report.number and review["original"]["id"] == original.report.id
    assert review["original"]["case_no"] == household.case_no
    differences = review["differences"]
    assert differences and any(d["after"].startswith("超期未反馈") for d in differences)

    text = _text(render_report(ctx, report, actor=VIEWER, viewer="测试", unit="朝阳区", printing=False).content)
    assert "经济状况复核报告" in text and "进行了复核" in text
    assert "复核事由：群众投诉、举报" in text and recheck.number in text and original.report.number in text
    assert differences[0]["item"].split(" · ")[0] in text and "超期未反馈" in text
    for word in VERDICT_WORDS:
        assert word not in report.content and word not in text

    listed = reports_with_rechecks(ctx, household)
    assert [s.report.id for s in listed] == [original.report.id, report.id]
    assert [s.report.id for s in reports_with_rechecks(ctx, case)] == [report.id]  # the linked case: its own only
    linked = ctx.session.execute(select(Event).where(Event.instance_id == household.instance_id,
                                                     Event.kind == "recheck_report_issued")).scalar_one()
    assert linked.payload["number"] == report.number and linked.payload["original_report"] == original.report.number
    assert linked.payload["sha256"] == report.sha256
    assert verify_chain(ctx.session) == []
    # the record on the original case's stream is information, not a step: its replay still matches
    assert replay_instance(ctx, household.instance_id).consistent


def test_a_corrected_reverification_report_keeps_the_trigger_and_the_original(prepared: EngineContext) -> None:
    ctx = prepared
    [household] = enrol(ctx)
    verify(ctx, household)
    recheck = reverify(ctx, household)
    first = current_report(ctx, recheck.verification_household.case_no).report
    corrected = supersede(ctx, first, actor=VIEWER, reason="更正复核事由的笔误")
    body, old = contents(corrected), contents(first)
    assert corrected.kind is ReportKind.REVERIFICATION and corrected.supersedes_id == first.id
    assert body["reverification"]["trigger"] == old["reverification"]["trigger"]
    assert body["reverification"]["original"] == old["reverification"]["original"]
    assert body["reverification"]["differences"] == old["reverification"]["differences"]


def test_without_an_original_report_the_reverification_report_says_so(prepared: EngineContext) -> None:
    """A complaint on a household whose case never reached its report: nothing to compare, and it says so."""
    ctx = prepared
    [household] = enrol(ctx)  # at 受理初审: no report yet
    recheck = reverify(ctx, household)
    report = current_report(ctx, recheck.verification_household.case_no).report
    review = contents(report)["reverification"]
    assert report.kind is ReportKind.REVERIFICATION and review["original"] is None and review["differences"] == []
    text = _text(render_report(ctx, report, actor=VIEWER, viewer="测试", unit="朝阳区", printing=False).content)
    assert NO_ORIGINAL in text and NO_DIFFERENCES not in text


def test_an_ordinary_case_still_issues_a_verification_report(prepared: EngineContext) -> None:
    ctx = prepared
    [household] = enrol(ctx)
    verify(ctx, household)
    assert [r.kind for r in ctx.session.execute(select(Report)).scalars()] == [ReportKind.VERIFICATION]


def test_the_recheck_cases_archive_holds_the_reverification_records(prepared: EngineContext) -> None:
    """AR-1: the linked case's archive has the 复核表, the 复核委托书 (once) and the 复核报告; every digest verifies."""
    ctx = prepared
    [household] = enrol(ctx)
    verify(ctx, household)
    recheck = reverify(ctx, household)
    archive = seal_case(ctx, recheck.verification_household)
    items = {i["kind"]: i for i in json.loads(archive.manifest)["items"]}
    assert {"recheck_form_pdf", "recheck_entrustment_pdf", "report_pdf"} <= set(items)
    # the letter once, as the 复核委托书, not also as a generic 委托书 rendering of the same entrustment
    assert "entrustment_pdf" not in items
    assert [i["business_id"] for i in items.values()].count(f"entrustment:{recheck.entrustment.id}") == 1
    assert items["recheck_form_pdf"]["record_type"] == "review"
    assert items["recheck_form_pdf"]["business_id"] == f"recheck:{recheck.number}"
    assert items["report_pdf"]["title"] == f"复核报告 {recheck.report_no}"
    assert verify_archives(ctx.session).ok


# --- 复核表 and 复核委托书 ------------------------------------------------------------------------------------


def test_recheck_form_and_letter_pdfs_from_the_recheck_data(prepared: EngineContext) -> None:
    """BJ 附件4/附件6: the 复核表's fields and members with ID numbers; the letter's sentence; Chinese text."""
    ctx = prepared
    [household] = enrol(ctx)
    verify(ctx, household)
    recheck = ctx.session.get(Recheck, reverify(ctx, household).id)
    viewer = as_user(ctx, "cy_assistance", "assistance_officer")
    form = render_recheck_document(ctx, recheck, "recheck_form", actor=viewer, viewer="王测试", unit="朝阳区民政局",
                                   printing=False)
    text = _text(form.content)
    assert "经济状况核对复核表" in text and form.filename == f"复核表-{recheck.number}.pdf"
    for expected in ("委托部门（盖章）", recheck.initiating_unit.name, "提出复核人", "匿名", "申请复核家庭人员信息",
                     "户主", "救助类型", "户籍所在地", "申请复核事由", "群众投诉、举报", recheck.reason,
                     "复核结果详见《复核报告》", recheck.report_no, "仅供本行政区域内社会救助审核使用", "王测试"):
        assert expected in text, expected
    for person in household.persons:
        assert person.name in text and person.id_number in text
    letter = render_recheck_document(ctx, recheck, "recheck_entrustment", actor=viewer, viewer="王测试",
                                     unit="朝阳区民政局", printing=True)
    text = _text(letter.content)
    assert "经济状况复核委托书" in text and recheck.entrustment.number in text
    assert f"{recheck.agency_unit.name}：" in text and "现委托贵中心对其经济状况进行复核" in text
    assert household.applicant.name in text and household.applicant.id_number in text
    assert "第1次打印" in text and letter.print_no == 1
    for word in VERDICT_WORDS:
        assert word not in text


def test_printing_counts_and_every_copy_is_recorded(prepared: EngineContext) -> None:
    ctx = prepared
    [household] = enrol(ctx)
    clerk = as_user(ctx, "hq_street_clerk", "assistance_officer")
    recheck = file_recheck(ctx, case_no=household.case_no, initiating_unit=get_unit_by_code(ctx, "HQ-MZB"),
                           form={"trigger": "other", "requester_name": "朝阳区民政局", "reason": "年度抽查",
                                 "requested_on": ctx.now().date().isoformat()}, actor=clerk)
    key = recheck_document_key(recheck, "recheck_form")
    numbers = [render_recheck_document(ctx, recheck, "recheck_form", actor=clerk, viewer="周敏", unit="红旗街道",
                                       printing=True).print_no for _ in range(2)]
    assert numbers == [1, 2] and print_counts(ctx.session, [key]) == {key: 2}
    render_recheck_document(ctx, recheck, "recheck_form", actor=clerk, viewer="周敏", unit="红旗街道", printing=False)
    records = ctx.session.execute(select(Event.kind, Event.payload).where(
        Event.kind.in_(["document_printed", "document_downloaded"])).order_by(Event.id)).all()
    assert [(k, p["document"], p["print_no"], p["recheck_no"]) for k, p in records] == [
        ("document_printed", "recheck_form", 1, recheck.number),
        ("document_printed", "recheck_form", 2, recheck.number),
        ("document_downloaded", "recheck_form", None, recheck.number)]
    assert all(p["instance_id"] == recheck.instance_id for _, p in records)
    # before the department decides there is no 复核委托书 yet
    with pytest.raises(NotFoundError):
        render_recheck_document(ctx, recheck, "recheck_entrustment", actor=clerk, viewer="周敏", unit="红旗街道",
                                printing=False)
    text = _text(recheck_form_pdf(ctx.session, recheck, Stamp("周敏", "红旗街道", ctx.now())))
    assert "其他原因：年度抽查" in text and "复核结果详见《复核报告》。" in text
