"""Printable documents (DO-4, DO-5, SEC-13, RPT-06): real PDFs, text extracted and checked.

Chinese renders through ReportLab's built-in CID font, so the text round-trips through a PDF
reader with no font installed; every page carries "第 x 页 共 y 页", the use restriction and the
viewer's watermark; a printed copy carries "第N次打印" and the counter is kept per document.
"""

from __future__ import annotations

import io
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from engine.context import Actor
from engine.documents import pdf
from engine.documents.pdf import para
from engine.documents.printing import render_case_document
from engine.models import Event
from engine.models.archive import PrintCounter
from tests.engine.archive_factory import seed
from tests.engine.archive_factory import seeded

#: the demo region, the diagrams and the four demo cases, seeded once for the module
SEED_ONCE = seed

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 23, 9, 30, tzinfo=CST)
CLERK = Actor("hq_street_clerk", "street_clerk")


def pages(content: bytes) -> list[str]:
    assert content.startswith(b"%PDF-")
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def test_a_long_document_has_numbered_pages_the_restriction_and_the_watermark_on_each() -> None:
    stamp = pdf.Stamp(viewer="周敏", unit="红旗街道民政办", at=AT)
    story = [para(f"第{n}段：社会救助家庭经济状况核对的测试文字，用于检查中文换行与分页。" * 3) for n in range(60)]
    texts = pages(pdf.render(title="测试文书", header="测试文书 · 页眉", story=story, stamp=stamp))
    assert len(texts) >= 3
    for n, text in enumerate(texts, start=1):
        assert f"第 {n} 页 共 {len(texts)} 页" in text
        assert "仅供本行政区域内社会救助审核使用" in text
        assert "红旗街道民政办 周敏 2026-11-23 09:30" in text  # the watermark: unit, viewer, local time
        assert "测试文书 · 页眉" in text
        assert "次打印" not in text  # a view is not a print
    assert "第59段：社会救助家庭经济状况核对" in "".join(texts).replace("\n", "")


def test_a_printed_copy_carries_its_print_number_on_every_page() -> None:
    stamp = pdf.Stamp(viewer="周敏", unit="红旗街道民政办", at=AT.astimezone(UTC), print_no=3)
    texts = pages(pdf.render(title="t", header="h", story=[para("内容" * 2000)], stamp=stamp))
    assert len(texts) >= 2
    assert all("由 周敏 进行了第3次打印" in t and "2026-11-23 09:30" in t for t in texts)


def test_the_same_input_renders_the_same_bytes() -> None:
    """Deterministic output: an archived PDF's digest means the document, not the moment it was rendered."""
    stamp = pdf.Stamp(viewer="甲", unit="乙", at=AT)
    one = pdf.render(title="t", header="h", story=[para("同样的内容")], stamp=stamp)
    assert one == pdf.render(title="t", header="h", story=[para("同样的内容")], stamp=stamp)


def test_the_authorisation_is_prefilled_in_the_ver3_layout(ctx) -> None:  # type: ignore[no-untyped-def]
    household = seeded(ctx)[0]
    rendered = render_case_document(ctx, household, "authorisation", actor=CLERK, viewer="周敏", unit="红旗街道民政办",
                                    printing=False)
    texts = pages(rendered.content)
    text = "".join(texts).replace("\n", "")
    applicant = household.applicant
    assert applicant is not None and applicant.id_number
    assert "Ver:3.0" in text and "长春市居民家庭（个人）经济状况核对授权书" in text
    assert "市（县、区）：朝阳区 镇（街）：红旗街道" in text and "县（区）：朝阳区" in text
    assert f"申请人（户主）姓名：{applicant.name}" in text and f"身份证号码：{applicant.id_number}" in text
    assert "■城乡低保" in text and "□特困供养" in text and "□医疗救助" in text
    assert "共同生活的家庭成员基本信息" in text and "法定赡养、扶养、抚养义务人基本信息" in text
    for person in household.persons:  # every member in full on the official document
        assert person.name in text and person.id_number in text
    assert "第一申请人（户主）" in text
    assert "四、第一申请人抄写、确认以下内容" in text and "特此授权各地核对机构开展本家庭经济状况核对工作" in text
    assert "第一申请人签名及指模" in text and "家庭其他全体成员签名及指模" in text
    assert "本表一式三份" in text and "镇（街）经办人：周敏" in text
    assert len(texts) >= 2 and all("仅供本行政区域内社会救助审核使用" in t for t in texts)
    assert rendered.print_no is None


def test_the_entrustment_letter_names_the_batch(ctx) -> None:  # type: ignore[no-untyped-def]
    households = seeded(ctx)
    first = households[0]
    entrustment = first.entrustment
    text = "".join(pages(render_case_document(ctx, first, "entrustment", actor=CLERK, viewer="周敏",
                                              unit="红旗街道民政办", printing=False).content)).replace("\n", "")
    applicant = first.applicant
    assert applicant is not None
    assert "居民家庭（个人）经济状况核对委托书" in text and "朝阳区社会救助家庭经济状况核对中心：" in text
    assert (f"对{applicant.name}等申请人（家庭）共{entrustment.household_count}户{entrustment.person_count}人"
            "开展经济状况核对") in text
    assert "经办人：周敏" in text and "联系电话：0431-88886666" in text and "委托时间：" in text
    batch = [h for h in households if h.entrustment_id == entrustment.id]
    assert len(batch) == entrustment.household_count
    for household in batch:  # the subject list: one row per household of the batch
        assert household.case_no in text


@pytest.mark.parametrize("which", ["authorisation", "entrustment"])
def test_prints_are_counted_per_document_and_every_copy_recorded(ctx, which: str) -> None:  # type: ignore[no-untyped-def]
    a, b = seeded(ctx)[:2]
    numbers = [render_case_document(ctx, a, which, actor=CLERK, viewer="周敏", unit="红旗街道民政办",
                                    printing=True).print_no for _ in range(2)]
    other = render_case_document(ctx, b, which, actor=CLERK, viewer="周敏", unit="红旗街道民政办", printing=True)
    download = render_case_document(ctx, a, which, actor=CLERK, viewer="周敏", unit="红旗街道民政办", printing=False)
    assert numbers == [1, 2]
    # the 委托书 covers the whole batch: one counter for the letter; the 授权书 is per household
    assert other.print_no == (3 if which == "entrustment" else 1)
    assert "第2次打印" not in "".join(pages(download.content))
    counters = {c.document_key: c.count for c in ctx.session.execute(select(PrintCounter)).scalars()}
    assert counters == ({f"entrustment:{a.entrustment_id}": 3} if which == "entrustment"
                        else {f"authorisation:{a.id}": 2, f"authorisation:{b.id}": 1})
    recorded = ctx.session.execute(select(Event).where(Event.kind.in_(["document_printed", "document_downloaded"]))
                                   .order_by(Event.id)).scalars().all()
    assert [(e.kind, e.actor, e.payload["document"], e.payload["print_no"]) for e in recorded] == [
        ("document_printed", "hq_street_clerk", which, 1), ("document_printed", "hq_street_clerk", which, 2),
        ("document_printed", "hq_street_clerk", which, other.print_no),
        ("document_downloaded", "hq_street_clerk", which, None)]
    for event in recorded:  # the access record names the case, never an ID number
        assert all(p.id_number not in str(event.payload) for p in a.persons if p.id_number)
