"""支出调查 (DO-9; BJ 第十四条): the agency investigates spending out of line with the declared income.

One inquiry per case, opened by the case agency's staff while the case runs and before its report;
spending is recorded and voided (never deleted), the finding concludes it, the report carries it in
附表四, and a report cannot be issued while it is open. Every change is in the inquiry's own chain.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.audit_verify import verify_all
from engine.context import Actor
from engine.context import EngineContext
from engine.documents import pdf
from engine.errors import ConflictError
from engine.errors import FormValidationError
from engine.errors import IntegrityError
from engine.errors import InvalidStateError
from engine.errors import PermissionDeniedError
from engine.history import verify_chain
from engine.models import Event
from engine.models import Household
from engine.models.spending import InquiryStatus
from engine.reports.render import report_pdf
from engine.reports.render import spending_sentences
from engine.reports.service import contents
from engine.reports.service import current_report
from engine.services import spending
from engine.services.demo_cases import _advance
from engine.services.demo_cases import _answer
from engine.services.instances import list_open_tasks
from engine.services.users import get_user
from tests.engine.archive_factory import households
from tests.engine.archive_factory import seed
from tests.engine.archive_factory import seeded

#: the demo region, the diagrams and the four demo cases, seeded once for the module
SEED_ONCE = seed

CAR = {"category": "vehicle", "description": "2026年5月购买小型轿车一辆", "amount": "158000", "spent_on": "2026-05-10",
       "source": "data_match"}
TRIP = {"category": "travel", "description": "出境旅游", "amount": "23000.50", "source": "tip_off"}


def _as(ctx: EngineContext, username: str) -> Actor:
    return Actor(username, None, get_user(ctx, username).id)


@pytest.fixture
def running(ctx: EngineContext) -> Household:
    """The demo region and cases; the first case waits at 受理初审 (running, no report)."""
    seeded(ctx)
    household = households(ctx)[0]
    assert household.instance is not None and not spending.closed_reason(ctx, household)
    return household


def _open(ctx: EngineContext, household: Household, who: str = "cy_intake") -> None:
    spending.open_inquiry(ctx, household, {"basis": "申报无收入，但信息比对发现购车贷款",
                                           "declared_monthly_income": "800"},
                          actor=_as(ctx, who))


def test_agency_staff_open_record_void_and_conclude_with_every_change_in_the_chain(ctx, running) -> None:  # type: ignore[no-untyped-def]
    """DO-9: the inquiry's life; amounts exact; voided items stay listed but leave the total."""
    _open(ctx, running)
    reviewer = _as(ctx, "cy_reviewer")
    car = spending.add_item(ctx, running, CAR, actor=reviewer)
    trip = spending.add_item(ctx, running, TRIP, actor=reviewer)
    spending.void_item(ctx, running, trip.id, reason="举报内容经核实为他人", actor=reviewer)
    inquiry = spending.inquiry_of(ctx, running)
    assert inquiry is not None
    assert [i.id for i in inquiry.valid_items] == [car.id] and inquiry.total == Decimal("158000")
    assert inquiry.declared_monthly_income == Decimal("800")
    spending.conclude(ctx, running, {"outcome": "unexplained", "conclusion": "购车款来源未能说明"}, actor=reviewer)
    assert inquiry.status is InquiryStatus.CONCLUDED and inquiry.concluded_by == "cy_reviewer"
    stream = spending.spending_stream(inquiry.id)
    kinds = ctx.session.execute(select(Event.kind).where(Event.stream == stream).order_by(Event.seq)).scalars().all()
    assert kinds == ["spending_inquiry_opened", "spending_item_recorded", "spending_item_recorded",
                     "spending_item_voided", "spending_inquiry_concluded"]
    assert verify_chain(ctx.session, stream) == [] and verify_all(ctx).ok
    rows = ctx.session.execute(select(Event.payload).where(Event.stream == stream)).scalars()
    payloads = " ".join(str(p) for p in rows)
    assert all(p.id_number not in payloads and p.name not in payloads for p in running.persons)  # no personal data
    with pytest.raises(InvalidStateError) as closed:
        spending.add_item(ctx, running, CAR, actor=reviewer)
    assert closed.value.code == "spending_inquiry_concluded"


def test_only_the_case_agencys_investigating_staff_may_write(ctx, running) -> None:  # type: ignore[no-untyped-def]
    """DO-9 with OR-3: a street clerk (entrusting unit), an exchange officer or another county's staff may not."""
    for who in ("hq_street_clerk", "cy_exchange_1", "ng_intake", "admin"):
        with pytest.raises(PermissionDeniedError) as refused:
            _open(ctx, running, who)
        assert refused.value.code == "spending_role_required"
    assert spending.inquiry_of(ctx, running) is None
    assert spending.may_investigate(ctx, get_user(ctx, "cy_reporter").id, running)


def test_one_inquiry_per_case_and_bad_input_names_the_field(ctx, running) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FormValidationError) as bad:
        spending.open_inquiry(ctx, running, {"basis": "  ", "declared_monthly_income": "八百"},
                              actor=_as(ctx, "cy_intake"))
    assert "declared_monthly_income" in bad.value.details["fields"]
    _open(ctx, running)
    with pytest.raises(ConflictError) as twice:
        _open(ctx, running, "cy_reviewer")
    assert twice.value.code == "spending_inquiry_exists"
    for wrong, field in (({**CAR, "amount": "12.345"}, "amount"), ({**CAR, "amount": "0"}, "amount"),
                         ({**CAR, "category": "lottery"}, "category"), ({**CAR, "spent_on": "2026-13-01"}, "spent_on")):
        with pytest.raises(FormValidationError) as invalid:
            spending.add_item(ctx, running, wrong, actor=_as(ctx, "cy_intake"))
        assert field in invalid.value.details["fields"]
    with pytest.raises(FormValidationError):
        spending.void_item(ctx, running, 1, reason=" ", actor=_as(ctx, "cy_intake"))


def test_rows_are_never_deleted(ctx, running) -> None:  # type: ignore[no-untyped-def]
    _open(ctx, running)
    inquiry = spending.inquiry_of(ctx, running)
    ctx.session.delete(inquiry)
    with pytest.raises(IntegrityError):
        ctx.session.flush()
    ctx.session.rollback()


def _to_report_step(ctx: EngineContext, household: Household) -> None:
    _advance(ctx, household.instance, stop_after="prepare_exchange")
    _answer(ctx, household.instance)
    _advance(ctx, household.instance, stop_after="confirm_exchange")


def test_the_report_waits_for_the_inquiry_and_then_carries_it_in_annex_four(ctx, running) -> None:  # type: ignore[no-untyped-def]
    """DO-9 with DO-7: issuing while the inquiry is open is refused; after the finding, 附表四 states it."""
    _open(ctx, running)
    spending.add_item(ctx, running, CAR, actor=_as(ctx, "cy_intake"))
    _to_report_step(ctx, running)
    ctx.session.commit()
    with pytest.raises(InvalidStateError) as refused:
        _advance(ctx, running.instance, stop_after="issue_report")
    assert refused.value.code == "spending_inquiry_open"
    ctx.session.rollback()
    running = ctx.session.get(Household, running.id)
    assert [t.bpmn_id for t in list_open_tasks(ctx, instance_id=running.instance_id)] == ["issue_report"]
    spending.conclude(ctx, running, {"outcome": "explained", "conclusion": "系亲属赠与，有转账凭证"},
                      actor=_as(ctx, "cy_reviewer"))
    _advance(ctx, running.instance, stop_after="issue_report")
    state = current_report(ctx, running.case_no)
    assert state is not None
    section = contents(state.report)["spending"]
    assert section["outcome"] == "支出已作出合理说明" and section["total"] == "158000.00"
    assert [i["category"] for i in section["items"]] == ["购买机动车"]
    assert section["declared_monthly_income"] == "800.00"
    assert any("合计 158000.00 元" in s for s in spending_sentences(section))
    stamp = pdf.Stamp(viewer="测试", unit="朝阳区核对中心", at=ctx.now())
    assert report_pdf(contents(state.report), stamp).startswith(b"%PDF")
    assert spending.closed_reason(ctx, running) == "本案已出具核对报告，支出调查不能再变更"


def test_a_case_without_an_inquiry_has_no_annex_four(ctx, running) -> None:  # type: ignore[no-untyped-def]
    ended = [h for h in households(ctx) if h.instance is not None and h.instance.status.value == "completed"]
    state = current_report(ctx, ended[0].case_no)
    assert state is not None and "spending" not in contents(state.report)
    assert spending.closed_reason(ctx, ended[0]) == "案件核对已结束，支出调查不能再变更"
