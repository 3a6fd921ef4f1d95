"""Requests and batches with dual control (DX-4, SD-2, SD-3, PS-11)."""

from __future__ import annotations

from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import HeduiError
from engine.errors import PermissionDeniedError
from engine.errors import SeparationOfDutiesError
from engine.errors import ValidationError
from engine.exchange.batches import confirm_batch
from engine.exchange.batches import prepare_batch
from engine.exchange.catalogue import record_agreement
from engine.exchange.catalogue import sharing_unit
from engine.exchange.requests import collect_requests
from engine.models import Event
from engine.models import Household
from engine.models import OutboxMessage
from engine.models.exchange import BatchStatus
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeMode
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import ExchangeResult
from engine.models.exchange import RequestStatus
from engine.models.exchange import ResultStatus
from engine.services.authorisations import end_authorisation
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import SHANGHAI
from tests.engine.exchange_factory import case_in_exchange
from tests.engine.exchange_factory import officer
from tests.engine.exchange_factory import setup_exchange


@pytest.fixture
def exchange(ctx: EngineContext, clock: Any) -> EngineContext:
    setup_exchange(ctx, clock)
    return ctx


def test_outbox_becomes_one_request_per_case_and_unit_with_lookup_data_only(exchange: EngineContext) -> None:
    ctx = exchange
    case_in_exchange(ctx, ["CC-GA", "CC-BDC"])
    assert collect_requests(ctx) == 2
    assert collect_requests(ctx) == 0  # consumed: marked sent
    assert ctx.session.execute(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))).first() is None
    request = ctx.session.execute(select(ExchangeRequest).join(ExchangeRequest.unit)
                                  .where(ExchangeRequest.unit.has(code="CC-GA"))).scalar_one()
    assert request.status is RequestStatus.OPEN and len(request.lines) == 5
    line = request.lines[0]
    assert set(vars(line)) >= {"name", "id_number", "categories"}
    assert line.categories == ["household_registration", "vehicles", "exit_entry"]
    results = ctx.session.execute(select(ExchangeResult).where(ExchangeResult.request_id == request.id)).scalars()
    assert {r.status for r in results} == {ResultStatus.PENDING}


def test_two_registered_officers_prepare_and_confirm(exchange: EngineContext, clock: Any) -> None:
    ctx = exchange
    case_in_exchange(ctx, ["CC-GA"])
    clock.set(IN_WINDOW)
    batch = prepare_batch(ctx, "CC-GA", actor=officer(ctx, "cy_exchange_1"))
    assert (batch.status, batch.request_count, batch.person_count) == (BatchStatus.PREPARED, 1, 5)
    with pytest.raises(SeparationOfDutiesError) as same:
        confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_1"))
    assert same.value.code == "dual_control_same_officer"
    with pytest.raises(PermissionDeniedError) as unregistered:
        confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_reviewer"))
    assert unregistered.value.code == "exchange_officer_unregistered"
    confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_2"))
    assert batch.status is BatchStatus.CONFIRMED and batch.confirmed_by == "cy_exchange_2"
    kinds = ctx.session.execute(select(Event.kind).where(Event.stream == f"exchange_batch:{batch.id}")
                                .order_by(Event.seq)).scalars().all()
    assert kinds == ["exchange_batch_prepared", "exchange_batch_confirmed"]


def test_unregistered_officer_cannot_prepare(exchange: EngineContext, clock: Any) -> None:
    ctx = exchange
    case_in_exchange(ctx, ["CC-GA"])
    clock.set(IN_WINDOW)
    with pytest.raises(PermissionDeniedError) as refused:
        prepare_batch(ctx, "CC-GA", actor=officer(ctx, "cy_intake"))
    assert refused.value.code == "exchange_officer_unregistered"


def test_no_exchange_without_an_agreement_in_force(exchange: EngineContext, clock: Any) -> None:
    """DX-6: the data-exchange and confidentiality agreement must be on record and in force on the day."""
    ctx = exchange
    case_in_exchange(ctx, ["CC-GA"])
    clock.set(IN_WINDOW)
    day = IN_WINDOW.date()
    admin = Actor("admin", "admin")
    record_agreement(ctx, "CC-GA", agreement_no="协议〔2025〕1号", title="数据交换与保密协议", document=b"%PDF-1.4",
                     valid_from=date(2025, 1, 1), valid_to=date(day.year, day.month, 1) - timedelta(days=1),
                     actor=admin)  # lapsed at the end of last month
    first = officer(ctx, "cy_exchange_1")
    with pytest.raises(ValidationError) as refused:
        prepare_batch(ctx, "CC-GA", actor=first)
    assert refused.value.code == "exchange_agreement_missing" and "DX-6" in refused.value.message
    assert ctx.session.execute(select(ExchangeBatch)).first() is None
    record_agreement(ctx, "CC-GA", agreement_no="协议〔2026〕2号", title="数据交换与保密协议", document=b"%PDF-1.4",
                     valid_from=date(day.year, day.month, 1), valid_to=None, actor=admin)
    assert prepare_batch(ctx, "CC-GA", actor=first).unit_id == sharing_unit(ctx, "CC-GA").id
    recorded = ctx.session.execute(select(Event.payload).where(Event.kind == "exchange_agreement_recorded")
                                   .order_by(Event.seq.desc())).scalars().first()
    assert recorded["agreement_no"] == "协议〔2026〕2号" and len(recorded["sha256"]) == 64


def test_jilin_batches_only_in_the_exchange_window_baoji_any_day(exchange: EngineContext, clock: Any) -> None:
    ctx = exchange
    case_in_exchange(ctx, ["CC-GA"])
    clock.set(datetime(2026, 12, 21, 9, 0, tzinfo=SHANGHAI))
    with pytest.raises(ValidationError) as outside:
        prepare_batch(ctx, "CC-GA", actor=officer(ctx, "cy_exchange_1"))
    assert outside.value.code == "outside_exchange_window" and "11–20" in outside.value.message
    ctx.policy_profile = "baoji"
    assert prepare_batch(ctx, "CC-GA", actor=officer(ctx, "cy_exchange_1")).request_count == 1


def test_requests_of_persons_no_longer_authorised_are_held_back(exchange: EngineContext, clock: Any) -> None:
    ctx = exchange
    case_in_exchange(ctx, ["CC-GA"], index=0)
    held = case_in_exchange(ctx, ["CC-GA"], index=1)
    household = ctx.session.execute(select(Household).where(Household.instance_id == held.id)).scalar_one()
    end_authorisation(ctx, household.authorisations[0].id, last_day=date(2026, 12, 11), reason="revoked",
                      actor=Actor("cy_intake", "intake_officer"))
    clock.set(IN_WINDOW)
    batch = prepare_batch(ctx, "CC-GA", actor=officer(ctx, "cy_exchange_1"))
    assert batch.request_count == 1
    kept = ctx.session.execute(select(ExchangeRequest).where(ExchangeRequest.instance_id == held.id)).scalar_one()
    assert kept.status is RequestStatus.OPEN and kept.batch_id is None
    with pytest.raises(HeduiError) as nothing_left:
        prepare_batch(ctx, "CC-GA", actor=officer(ctx, "cy_exchange_1"))
    assert nothing_left.value.code == "no_open_requests" and "授权" in nothing_left.value.message


def test_batch_numbers_continue_after_numbers_issued_before_the_counter(exchange: EngineContext, clock: Any) -> None:
    """A unit whose batches predate the counter continues after its highest number, not after its count."""
    ctx = exchange
    for i in range(2):
        case_in_exchange(ctx, ["CC-GA"], index=i)
    clock.set(IN_WINDOW)
    unit = sharing_unit(ctx, "CC-GA")
    ctx.session.add(ExchangeBatch(batch_no="JH-CC-GA-20261101-0007", unit_id=unit.id, mode=ExchangeMode.SYSTEM,
                                  status=BatchStatus.ANSWERED, request_count=0, person_count=0,
                                  prepared_by="cy_exchange_1", prepared_at=ctx.now()))
    ctx.session.flush()
    first = prepare_batch(ctx, "CC-GA", actor=officer(ctx, "cy_exchange_1"), limit=1)
    second = prepare_batch(ctx, "CC-GA", actor=officer(ctx, "cy_exchange_1"), limit=1)
    assert (first.batch_no, second.batch_no) == ("JH-CC-GA-20261214-0008", "JH-CC-GA-20261214-0009")
