"""Time limits (PS-10, DX-5): delay notice with document extends by ≤ 5 working days; time-out → 超期未反馈."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import HeduiError
from engine.exchange.batches import confirm_batch
from engine.exchange.batches import prepare_batch
from engine.exchange.delays import find_request
from engine.exchange.delays import record_delay_notice
from engine.exchange.results import confirm_import
from engine.exchange.results import mark_overdue
from engine.exchange.results import overdue_requests
from engine.exchange.simulate import post_results
from engine.exchange.system_mode import send_due_batches
from engine.models import Event
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeResult
from engine.models.exchange import RequestStatus
from engine.models.exchange import ResultStatus
from engine.persistence import load_workflow
from engine.services.instances import list_open_tasks
from engine.services.timers import fire_due_timers
from tests.engine.exchange.test_system_mode import FlakyTransport
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import case_in_exchange
from tests.engine.exchange_factory import case_no
from tests.engine.exchange_factory import officer
from tests.engine.exchange_factory import setup_exchange

UNIT_SW = Actor("unit:CC-SW")
NOTICE = b"%PDF-1.4\n% delay notice\n%%EOF\n"
#: the tax bureau's filed unit-side officer who signs its notices (SD-3)
SW_OFFICER = "cc_sw_officer"


@pytest.fixture
def sent(ctx: EngineContext, clock: Any) -> tuple[EngineContext, Any]:
    setup_exchange(ctx, clock)
    case = case_in_exchange(ctx, ["CC-GA", "CC-SW"])
    clock.set(IN_WINDOW)
    for unit in ("CC-GA", "CC-SW"):
        batch = prepare_batch(ctx, unit, actor=officer(ctx, "cy_exchange_1"))
        confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_2"))
    send_due_batches(ctx, transport=FlakyTransport(set()), sleep=lambda s: None)
    return ctx, case


def test_delay_notice_extends_and_time_out_becomes_overdue(sent: Any, clock: Any) -> None:
    ctx, case = sent
    number = case_no(ctx, case)
    sw, ga = find_request(ctx, number, "CC-SW"), find_request(ctx, number, "CC-GA")
    due = sw.reply_due
    with pytest.raises(HeduiError) as too_long:
        record_delay_notice(ctx, sw, days=6, reason="数据量大", document_name="延期说明.pdf", document=NOTICE,
                            actor=UNIT_SW, officer=SW_OFFICER)
    assert too_long.value.code == "delay_too_long"
    with pytest.raises(HeduiError) as no_document:
        record_delay_notice(ctx, sw, days=3, reason="数据量大", document_name="", document=b"",
                            actor=UNIT_SW, officer=SW_OFFICER)
    assert no_document.value.code == "delay_document_missing"
    notice = record_delay_notice(ctx, sw, days=3, reason="数据量大", document_name="延期说明.pdf", document=NOTICE,
                                 actor=UNIT_SW, officer=SW_OFFICER)
    assert notice.document_sha256 and sw.extended_days == 3 and sw.reply_due > due
    with pytest.raises(HeduiError) as twice:
        record_delay_notice(ctx, sw, days=2, reason="再延", document_name="b.pdf", document=NOTICE,
                            actor=UNIT_SW, officer=SW_OFFICER)
    assert twice.value.code == "delay_already_recorded"
    # the original limit runs out: CC-GA never answered, CC-SW has its extension
    clock.set(due + timedelta(hours=10))
    assert [r.id for r in overdue_requests(ctx)] == [ga.id]  # flagged to the officers before the sweep
    fire_due_timers(ctx)
    assert mark_overdue(ctx) == 1
    assert ga.status is RequestStatus.OVERDUE and sw.status is RequestStatus.SENT
    statuses = set(ctx.session.execute(select(ExchangeResult.status).where(
        ExchangeResult.request_id == ga.id)).scalars())
    assert statuses == {ResultStatus.OVERDUE}
    # CC-SW answers within its extension; the second officer applies it; the case goes on
    post_results(ctx, _batch(ctx, sw))
    staged = ctx.session.execute(select(ExchangeImport).where(ExchangeImport.batch_id == sw.batch_id)).scalar_one()
    confirm_import(ctx, staged.id, actor=officer(ctx, "cy_exchange_1"))
    assert [t.bpmn_id for t in list_open_tasks(ctx, instance_id=case.id)] == ["confirm_exchange"]
    [task] = list_open_tasks(ctx, instance_id=case.id)
    data = load_workflow(ctx, case).task_data(task.id)
    assert data["exchange_status"] == {"CC-GA": "no_reply", "CC-SW": "answered"}
    assert [r["extended_days"] for r in sorted(data["exchange_results"], key=lambda r: r["unit"])] == [0, 3]
    # CC-GA answers after all: kept for the record, but the case went on without it — still 超期未反馈
    post_results(ctx, _batch(ctx, ga))
    late = ctx.session.execute(select(ExchangeImport).where(ExchangeImport.batch_id == ga.batch_id)).scalar_one()
    assert confirm_import(ctx, late.id, actor=officer(ctx, "cy_exchange_2")) == 0
    rows = ctx.session.execute(select(ExchangeResult).where(ExchangeResult.request_id == ga.id)).scalars().all()
    assert {r.status for r in rows} == {ResultStatus.OVERDUE} and all(r.raw is not None for r in rows)
    kinds = ctx.session.execute(select(Event.kind).where(Event.instance_id == case.id)).scalars().all()
    assert "exchange_result_late" in kinds and "exchange_request_overdue" in kinds


def _batch(ctx: EngineContext, request: Any) -> Any:
    return ctx.session.get(ExchangeBatch, request.batch_id)
