"""The 核对报告 (DO-7, DO-10, PR-3, RPT-01…RPT-06): issued at 出具核对报告, numbered per agency and year,
an immutable snapshot with its digest, superseded by corrections, valid one year, rendered as PDF."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy import text

from engine.calendar import SHANGHAI
from engine.documents.pdf import Stamp
from engine.errors import IntegrityError
from engine.errors import InvalidStateError
from engine.errors import ValidationError
from engine.models import Event
from engine.models import WorkflowInstance
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import ExchangeResult
from engine.models.exchange import ResultStatus
from engine.models.report import Report
from engine.reports.printing import render_report
from engine.reports.printing import report_counts
from engine.reports.render import report_pdf
from engine.reports.service import case_reports
from engine.reports.service import contents
from engine.reports.service import current_report
from engine.reports.service import issue_report
from engine.reports.service import region_short_name
from engine.reports.service import supersede
from tests.engine.archive_factory import closed
from tests.engine.archive_factory import seed
from tests.engine.archive_factory import seeded
from tests.engine.report_factory import REPORTER
from tests.engine.report_factory import open_cases
from tests.engine.report_factory import southern_case

#: the demo region, the diagrams and the four demo cases, seeded once for the module
SEED_ONCE = seed

#: words of an eligibility verdict or advice, which a report must never contain (PR-3)
VERDICT_WORDS = ("符合", "不符合", "建议", "合格", "资格", "准予", "不予", "批准", "同意救助")


def _pdf_text(content: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(content))
    return "".join(p.extract_text() for p in reader.pages).replace("\n", ""), len(reader.pages)


def _only_report(ctx) -> Report:  # type: ignore[no-untyped-def]
    return ctx.session.execute(select(Report)).scalar_one()


def test_completing_issue_report_issues_a_numbered_snapshot(ctx) -> None:  # type: ignore[no-untyped-def]
    seeded(ctx)
    [done] = closed(ctx)
    report = _only_report(ctx)
    assert report.household_id == done.id and report.number == "朝阳核字〔2026〕第0001号"
    assert (report.year, report.seq) == (2026, 1)
    assert report.addressee_unit_id == done.entrustment.entrusting_unit_id
    assert report.sha256 == hashlib.sha256(report.content.encode()).hexdigest()
    body = contents(report)
    cover = body["cover"]
    assert body["addressee"]["name"] == "红旗街道民政办" and body["agency"]["code"] == "CY-HDZX"
    assert cover["legal_basis"] == ["《社会救助暂行办法》",
                                    "《吉林省社会救助家庭经济状况核对工作管理办法（暂行）》（吉民发〔2017〕58号）"]
    assert cover["entrusted_on"] == done.entrustment.entrusted_on.isoformat() == cover["property_as_of"]
    assert cover["income_period"] == {"from": "2025-11-01", "to": "2026-10-31", "months": 12}
    assert cover["authorised"] == {"first_applicant": done.applicant.name, "households": 1, "persons": 3}
    assert cover["restriction"] == "仅作为相关业务部门作出行政审批决定的参考，不作其他用途"
    assert cover["annex_note"] == "核对结果明细详见附表。" and cover["copies"] == 2 and cover["pages"] >= 3
    assert body["valid_until"] == "2027-11-23" == report.valid_until.isoformat()
    assert body["agency_ref"] == "朝核报〔2026〕1号"  # the demo's own document reference, kept beside the 编号
    [issued] = ctx.session.execute(select(Event).where(Event.kind == "report_issued")).scalars().all()
    assert issued.payload["sha256"] == report.sha256 and issued.instance_id == done.instance_id
    feedback = ctx.session.execute(select(WorkflowInstance).where(
        WorkflowInstance.process_id == "decision_feedback")).scalar_one()
    assert feedback.business_key == done.case_no
    started = ctx.session.execute(select(Event).where(Event.kind == "started",
                                                      Event.instance_id == feedback.id)).scalar_one()
    assert started.payload["data"]["report_no"] == report.number


def test_numbers_run_per_agency_and_year_without_gaps(ctx, clock) -> None:  # type: ignore[no-untyped-def]
    seeded(ctx)
    numbers = [issue_report(ctx, h, actor=REPORTER).number for h in open_cases(ctx)]
    # the demo's four open 朝阳区 cases (one escalated, PS-5), its re-verification's linked case and the
    # escalated case's case at 长春市核对中心 (numbered by that agency); the demo's closed case has 第0001号
    assert sorted(numbers) == ["朝阳核字〔2026〕第0002号", "朝阳核字〔2026〕第0003号", "朝阳核字〔2026〕第0004号",
                               "朝阳核字〔2026〕第0005号", "朝阳核字〔2026〕第0006号", "长春核字〔2026〕第0001号"]
    south = southern_case(ctx)
    assert issue_report(ctx, south, actor=REPORTER).number == "南关核字〔2026〕第0001号"
    clock.set(datetime(2027, 1, 4, 9, 0, tzinfo=SHANGHAI))
    first_of_2027 = issue_report(ctx, open_cases(ctx)[0], actor=REPORTER)
    assert (first_of_2027.number, first_of_2027.year, first_of_2027.seq) == ("朝阳核字〔2027〕第0001号", 2027, 1)
    assert region_short_name("朝阳区") == "朝阳" and region_short_name("宝鸡市") == "宝鸡"


def test_every_source_status_is_in_the_annex_and_no_verdict_anywhere(ctx, clock) -> None:  # type: ignore[no-untyped-def]
    households = seeded(ctx)
    waiting = households[2]  # in data exchange: one unit answered, the others not yet
    report = issue_report(ctx, waiting, actor=REPORTER)
    statuses = {s["status"] for s in contents(report)["sources"]}
    assert {"found", "none", "pending"} <= statuses
    # the same case once the sharing units' time ran out: every unanswered source is 超期未反馈, still listed
    clock.advance(timedelta(days=40))
    later = issue_report(ctx, waiting, actor=REPORTER)
    body = contents(later)
    asked = ctx.session.execute(select(ExchangeResult).join(ExchangeRequest).where(
        ExchangeRequest.instance_id == waiting.instance_id)).scalars().all()
    assert len(body["sources"]) == len(asked) > 0
    assert {s["status"] for s in body["sources"]} == {"found", "none", "overdue"}
    assert body["summary"]["unanswered_sources"]
    names = {s["status_name"] for s in body["sources"]}
    assert names == {"有数据", "无记录", "超期未反馈"}
    pending = issue_report(ctx, households[1], actor=REPORTER)  # nothing asked yet: no sources, still a report
    assert contents(pending)["sources"] == []
    for r in (report, later, pending):
        pdf_text, _ = _pdf_text(report_pdf(contents(r), Stamp("测试", "测试单位", clock.now())))
        for word in VERDICT_WORDS:
            assert word not in r.content and word not in pdf_text, word
    text_all, _ = _pdf_text(report_pdf(body, Stamp("测试", "测试单位", clock.now())))
    assert "超期未反馈" in text_all and "有数据" in text_all and "无记录" in text_all


def test_summary_counts_members_only_and_one_income_once(ctx) -> None:  # type: ignore[no-untyped-def]
    seeded(ctx)
    body = contents(_only_report(ctx))
    summary = body["summary"]
    assert summary["counted_persons"] == 3 and summary["period_months"] == 12
    total = sum(float(v) for v in summary["household_income"].values())
    assert abs(total - float(summary["household_income_total"])) < 0.01
    assert abs(float(summary["per_capita_income"]) * 3 - float(summary["household_income_total"])) < 0.02
    assert set(summary["household_property"]) == {code for code, _ in summary["property_classes"]}
    assert [label for _, label in summary["income_categories"]] == [
        "工资性收入", "经营净收入", "财产净收入", "转移净收入", "其他收入"]
    answered = [s for s in body["sources"] if s["responded_at"]]
    assert answered and all(s["responded_at"].endswith("+08:00") for s in answered)


def test_a_report_never_changes(ctx) -> None:  # type: ignore[no-untyped-def]
    seeded(ctx)
    digest = _only_report(ctx).sha256
    with pytest.raises(IntegrityError) as refused, ctx.session.begin_nested():
        _only_report(ctx).content = "{}"
        ctx.session.flush()
    assert refused.value.code == "report_immutable"
    with pytest.raises(IntegrityError), ctx.session.begin_nested():
        ctx.session.delete(_only_report(ctx))
        ctx.session.flush()
    # below the ORM, the database refuses too
    for statement in ("UPDATE reports SET number = 'x'", "DELETE FROM reports"):
        with pytest.raises(sa_exc.DBAPIError), ctx.session.begin_nested():
            ctx.session.execute(text(statement))
    ctx.session.expire_all()
    report = _only_report(ctx)
    assert report.sha256 == digest == hashlib.sha256(report.content.encode()).hexdigest()


def test_a_correction_supersedes_the_old_report(ctx, clock) -> None:  # type: ignore[no-untyped-def]
    [done] = [h for h in seeded(ctx) if h.instance.status.value == "completed"]
    old = _only_report(ctx)
    old_content, old_digest = old.content, old.sha256
    with pytest.raises(ValidationError):
        supersede(ctx, old, actor=REPORTER, reason=" ")
    clock.advance(timedelta(hours=2))
    new = supersede(ctx, old, actor=REPORTER, reason="附表二漏列不动产登记反馈时间")
    assert new.supersedes_id == old.id and new.number == "朝阳核字〔2026〕第0002号"
    assert contents(new)["supersedes"] == {"id": old.id, "number": old.number, "reason": "附表二漏列不动产登记反馈时间"}
    ctx.session.expire_all()
    assert (old.content, old.sha256) == (old_content, old_digest)
    states = case_reports(ctx, done.case_no)
    assert [(s.report.id, s.label, s.superseded_by.id if s.superseded_by else None) for s in states] == [
        (old.id, "已被替代", new.id), (new.id, "有效", None)]
    assert current_report(ctx, done.case_no).report.id == new.id
    with pytest.raises(InvalidStateError):
        supersede(ctx, old, actor=REPORTER, reason="再次更正")
    text_new, _ = _pdf_text(report_pdf(contents(new), Stamp("测试", "测试单位", clock.now())))
    assert f"本报告替代编号为{old.number}的报告" in text_new
    assert ctx.session.execute(select(Event).where(Event.kind == "report_superseded")).scalar_one()


def test_a_report_expires_after_one_year(ctx, clock) -> None:  # type: ignore[no-untyped-def]
    [done] = [h for h in seeded(ctx) if h.instance.status.value == "completed"]
    assert case_reports(ctx, done.case_no)[0].expired is False
    clock.set(datetime(2027, 11, 23, 23, 0, tzinfo=SHANGHAI))  # the last day of validity
    assert case_reports(ctx, done.case_no)[0].to_json()["expired"] is False
    clock.set(datetime(2027, 11, 24, 9, 0, tzinfo=SHANGHAI))
    state = case_reports(ctx, done.case_no)[0]
    assert state.expired is True and state.label == "已过期" and state.to_json()["expired"] is True


def test_pdf_has_cover_annexes_chinese_pages_and_the_print_counter(ctx) -> None:  # type: ignore[no-untyped-def]
    [done] = [h for h in seeded(ctx) if h.instance.status.value == "completed"]
    report = _only_report(ctx)
    prints = [render_report(ctx, report, actor=REPORTER, viewer="赵丽", unit="朝阳区核对中心", printing=True)
              for _ in range(2)]
    download = render_report(ctx, report, actor=REPORTER, viewer="赵丽", unit="朝阳区核对中心", printing=False)
    assert [p.print_no for p in prints] == [1, 2] and download.print_no is None
    assert report_counts(ctx, [report]) == {report.id: (1, 2)}
    content, pages = _pdf_text(prints[1].content)
    assert pages == contents(report)["cover"]["pages"] >= 3
    assert content.count("第2次打印") == pages and "第1次打印" not in content
    assert content.count("仅供本行政区域内社会救助审核使用") == pages
    for expected in ("居民家庭（个人）经济状况核对报告", report.number, "红旗街道民政办",
                     "2025年11月1日至2026年10月31日",
                     "仅作为相关业务部门作出行政审批决定的参考，不作其他用途", "核对结果明细详见附表",
                     "附表一", "附表二", "附表三", "人均收入", "赵丽", "文号：朝核报〔2026〕1号",
                     done.applicant.name, done.applicant.id_number, f"共{pages}页"):
        assert expected in content, expected
    download_text, _ = _pdf_text(download.content)
    assert "次打印" not in download_text
    kinds = [e.kind for e in ctx.session.execute(select(Event).where(Event.kind.like("report_%"))
                                                 .order_by(Event.id)).scalars()]
    assert kinds == ["report_issued", "report_printed", "report_printed", "report_downloaded"]
    raw = json.dumps([e.payload for e in ctx.session.execute(select(Event).where(
        Event.kind.in_(["report_printed", "report_downloaded"]))).scalars()], ensure_ascii=False)
    assert done.applicant.id_number not in raw


def test_results_without_answer_stay_listed_in_the_pdf(ctx, clock) -> None:  # type: ignore[no-untyped-def]
    households = seeded(ctx)
    waiting = households[2]
    report = issue_report(ctx, waiting, actor=REPORTER)
    body = contents(report)
    unanswered = [s for s in body["sources"] if s["status"] == ResultStatus.PENDING.value]
    assert unanswered and all(s["responded_at"] is None and s["records"] == [] for s in unanswered)
    content, _ = _pdf_text(report_pdf(body, Stamp("测试", "测试单位", clock.now())))
    assert "未反馈" in content and all(s["unit"] in content for s in unanswered)


def test_the_sealed_archive_holds_the_exchange_records_and_the_report(ctx) -> None:  # type: ignore[no-untyped-def]
    from engine.archives.verify import verify_archives
    from engine.models.archive import Archive
    from engine.models.archive import ArchiveItem
    from engine.models.archive import ArchiveItemBlob

    [done] = [h for h in seeded(ctx) if h.instance.status.value == "completed"]
    report = _only_report(ctx)
    archive = ctx.session.execute(select(Archive).where(Archive.household_id == done.id)).scalar_one()
    items = {i.kind: i for i in ctx.session.execute(select(ArchiveItem).where(
        ArchiveItem.archive_id == archive.id)).scalars()}
    assert {"exchange_records", "report_pdf", "report_snapshot"} <= set(items)

    def blob(kind: str) -> bytes:
        return bytes(ctx.session.execute(select(ArchiveItemBlob.content).where(
            ArchiveItemBlob.item_id == items[kind].id)).scalar_one())

    exchange = json.loads(blob("exchange_records"))
    requests = ctx.session.execute(select(ExchangeRequest).where(
        ExchangeRequest.instance_id == done.instance_id)).scalars().all()
    assert [r["id"] for r in exchange["requests"]] == [r.id for r in requests]
    assert all(r["results"] and r["subjects"] for r in exchange["requests"])
    # no more personal data than needed: ID numbers are not in the exchange record
    assert all(p.id_number not in blob("exchange_records").decode() for p in done.persons if p.id_number)
    assert hashlib.sha256(blob("report_snapshot")).hexdigest() == report.sha256
    pdf_text, pages = _pdf_text(blob("report_pdf"))
    assert report.number in pdf_text and pages == contents(report)["cover"]["pages"]
    assert items["report_pdf"].business_id == f"report:{report.id}" and items["report_pdf"].retention_years == 5
    assert verify_archives(ctx.session).ok


def test_a_reverification_report_is_the_same_structure_plus_trigger_and_differences(ctx, clock) -> None:  # type: ignore[no-untyped-def]
    """The 复核报告 (DO-8, RPT-07) the re-verification branch will issue: same snapshot, trigger, differences."""
    from engine.models.report import ReportKind

    households = seeded(ctx)
    waiting = households[2]
    original = issue_report(ctx, waiting, actor=REPORTER)
    clock.advance(timedelta(days=40))  # meanwhile the unanswered units timed out
    review = issue_report(ctx, waiting, actor=REPORTER, kind=ReportKind.REVERIFICATION, original=original,
                          trigger={"code": "objection", "label": "核对对象书面提出异议", "reason": "认为存款数据有误"})
    body = contents(review)
    assert body["title"] == "居民家庭（个人）经济状况复核报告"
    assert body["cover"]["annex_note"] == "复核结果明细详见附表。"
    assert set(contents(original)) | {"reverification"} == set(body)
    assert body["reverification"]["original"]["number"] == original.number
    changed = body["reverification"]["differences"]
    assert changed and all(d["before"].startswith("未反馈") and d["after"].startswith("超期未反馈") for d in changed)
    text_review, _ = _pdf_text(report_pdf(body, Stamp("测试", "测试单位", clock.now())))
    assert "复核事由：核对对象书面提出异议" in text_review and "进行了复核" in text_review
    for word in VERDICT_WORDS:
        assert word not in review.content


def test_support_duty_persons_are_listed_apart_and_not_counted(ctx, clock) -> None:  # type: ignore[no-untyped-def]
    from engine.services.cases import create_entrustment
    from engine.services.demo_cases import DEMO_SCAN
    from engine.services.packages import DocumentIn
    from tests.engine.package_factory import synthetic_household

    seeded(ctx)
    letter = create_entrustment(ctx, entrusting_unit="HQ-MZB", agency_unit="CY-HDZX",
                                households=[synthetic_household(3)],
                                documents=[[DocumentIn("authorisation", "授权书.pdf", DEMO_SCAN)]],
                                contact_name="周敏", contact_phone="0431-88886666", actor=REPORTER)
    body = contents(issue_report(ctx, letter.households[0], actor=REPORTER))
    roles = [(p["role"], p["counted"]) for p in body["persons"]]
    assert roles == [("member", True)] * 4 + [("obligor", False)]  # the excluded conscript is not a subject
    assert body["persons"][-1]["duty"] == "赡养" and body["summary"]["counted_persons"] == 4
    assert body["cover"]["authorised"]["persons"] == 5
    text_all, _ = _pdf_text(report_pdf(body, Stamp("测试", "测试单位", clock.now())))
    assert "赡（扶、抚）养义务人（赡养）" in text_all and "本案件未向信息共享单位发出核对请求" in text_all
