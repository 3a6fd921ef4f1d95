"""System mode: signed answers, replays refused, idempotent delivery, retries after an outage (DX-3, DX-7)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.context import EngineContext
from engine.errors import HeduiError
from engine.errors import ValidationError
from engine.exchange.batches import batch_lines
from engine.exchange.batches import confirm_batch
from engine.exchange.batches import prepare_batch
from engine.exchange.registry import SyntheticRegistry
from engine.exchange.registry import UnitBehaviour
from engine.exchange.sender import TransportError
from engine.exchange.sender import TransportResponse
from engine.exchange.signing import sign_json
from engine.exchange.simulate import delivery_body
from engine.exchange.simulate import simulate_pending
from engine.exchange.system_mode import RESULTS_PATH
from engine.exchange.system_mode import receive_results
from engine.exchange.system_mode import send_due_batches
from engine.exchange.system_mode import unit_key
from engine.models import Event
from engine.models.exchange import BatchStatus
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import RequestStatus
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import case_in_exchange
from tests.engine.exchange_factory import officer
from tests.engine.exchange_factory import setup_exchange

LATE = SyntheticRegistry(behaviours={"CC-GA": UnitBehaviour("late", answer_after=2),
                                     "CC-SW": UnitBehaviour("late", answer_after=2)})


@pytest.fixture
def exchange(ctx: EngineContext, clock: Any) -> EngineContext:
    setup_exchange(ctx, clock)
    return ctx


class FlakyTransport:
    """Units listed in ``down`` do not answer; the others accept; every call is counted."""

    def __init__(self, down: set[str]) -> None:
        self.down, self.calls = down, []  # type: ignore[var-annotated]

    def __call__(self, method: str, url: str, body: bytes, headers: Mapping[str, str],
                 timeout: float) -> TransportResponse:
        payload = json.loads(body)
        self.calls.append(payload["batch_no"])
        if payload["unit"] in self.down:
            raise TransportError("connection_error", "unit down")
        return TransportResponse(202, {}, b'{"accepted": true}')


def _confirmed(ctx: EngineContext, unit: str) -> Any:
    batch = prepare_batch(ctx, unit, actor=officer(ctx, "cy_exchange_1"))
    confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_2"))
    return batch


def test_a_unit_that_is_down_is_retried_later_and_delays_nothing_else(exchange: EngineContext, clock: Any) -> None:
    ctx = exchange
    case_in_exchange(ctx, ["CC-GA", "CC-SW"])
    clock.set(IN_WINDOW)
    down, up = _confirmed(ctx, "CC-GA"), _confirmed(ctx, "CC-SW")
    transport = FlakyTransport(down={"CC-GA"})
    assert send_due_batches(ctx, transport=transport, sleep=lambda s: None) == 1
    assert up.status is BatchStatus.SENT
    assert down.status is BatchStatus.CONFIRMED and down.last_error == "connection_error" and down.attempts == 3
    assert down.next_attempt_at > ctx.now()
    assert send_due_batches(ctx, transport=transport, sleep=lambda s: None) == 0  # not due yet: backing off
    transport.down.clear()
    clock.advance(hours=1, minutes=1)
    assert send_due_batches(ctx, transport=transport, sleep=lambda s: None) == 1
    assert down.status is BatchStatus.SENT and transport.calls.count(up.batch_no) == 1


def _signed(ctx: EngineContext, batch: Any, payload: dict[str, Any] | None = None) -> tuple[bytes, dict[str, str]]:
    body = payload or delivery_body(LATE, batch.batch_no, batch.unit.code, batch_lines(ctx, batch))
    return sign_json(unit_key(ctx, batch.unit), "POST", RESULTS_PATH, body, clock=ctx.clock)


def test_signed_results_replays_and_idempotent_delivery(exchange: EngineContext, clock: Any) -> None:
    ctx = exchange
    case_in_exchange(ctx, ["CC-GA"])
    clock.set(IN_WINDOW)
    batch = _confirmed(ctx, "CC-GA")
    send_due_batches(ctx, transport=FlakyTransport(set()), sleep=lambda s: None)
    body, headers = _signed(ctx, batch)
    forged = dict(headers, **{"X-Hedui-Signature": "0" * 64})
    for bad_headers, bad_body, code in ((forged, body, "bad_signature"),
                                        (headers, body.replace(b"no_record", b"has_data", 1), "bad_signature")):
        with pytest.raises(HeduiError) as refused:
            receive_results(ctx, bad_headers, bad_body)
        assert refused.value.code == code
    staged, new = receive_results(ctx, headers, body)
    assert new and staged.staged_by == "unit:CC-GA"
    with pytest.raises(HeduiError) as replay:
        receive_results(ctx, headers, body)  # the same request again: its nonce is used
    assert replay.value.code == "replayed_nonce"
    again, new = receive_results(ctx, *reversed(_signed(ctx, batch)))  # type: ignore[arg-type]
    assert again.id == staged.id and not new  # a re-delivery (fresh nonce) is idempotent
    clock.advance(minutes=10)
    with pytest.raises(HeduiError) as stale:
        receive_results(ctx, headers, body)
    assert stale.value.code == "stale_timestamp"
    assert ctx.session.execute(select(func.count()).select_from(ExchangeImport)).scalar_one() == 1


def test_late_system_answer_through_the_simulator(exchange: EngineContext, clock: Any) -> None:
    ctx = exchange
    case_in_exchange(ctx, ["CC-GA"])
    clock.set(IN_WINDOW)
    batch = _confirmed(ctx, "CC-GA")
    send_due_batches(ctx, transport=FlakyTransport(set()), sleep=lambda s: None)
    assert simulate_pending(ctx, registry=LATE).system_answers == 0  # due in 2 working days
    clock.advance(days=2)
    assert simulate_pending(ctx, registry=LATE).system_answers == 1
    assert ctx.session.execute(select(ExchangeImport.batch_id)).scalar_one() == batch.id
    request = ctx.session.execute(select(ExchangeRequest)).scalar_one()
    assert request.status is RequestStatus.SENT  # staged only, until the second officer confirms


def test_simulated_units_give_delay_notices_answer_late_or_never(exchange: EngineContext, clock: Any) -> None:
    ctx = exchange
    registry = SyntheticRegistry(behaviours={
        "CC-SW": UnitBehaviour("delay_notice", answer_after=8, notice_after=2, extension_days=3),
        "CC-GJJ": UnitBehaviour("never", answer_after=None)})
    case_in_exchange(ctx, ["CC-SW", "CC-GJJ"])
    clock.set(IN_WINDOW)
    for unit in ("CC-SW", "CC-GJJ"):
        _confirmed(ctx, unit)
    send_due_batches(ctx, transport=FlakyTransport(set()), sleep=lambda s: None)
    clock.advance(days=2)  # Wednesday: two working days after sending
    report = simulate_pending(ctx, registry=registry)
    assert (report.delay_notices, report.system_answers) == (1, 0)
    sw = ctx.session.execute(select(ExchangeRequest).join(ExchangeRequest.unit)
                             .where(ExchangeRequest.unit.has(code="CC-SW"))).scalar_one()
    assert sw.extended_days == 3
    assert simulate_pending(ctx, registry=registry).delay_notices == 0  # once only
    clock.advance(days=8)
    report = simulate_pending(ctx, registry=registry)
    assert report.system_answers == 1  # CC-SW; CC-GJJ never answers
    assert ctx.session.execute(select(func.count()).select_from(ExchangeImport)).scalar_one() == 1


def test_a_bad_immediate_answer_is_refused_on_record_and_the_batch_stays_sent(exchange: EngineContext,
                                                                              clock: Any) -> None:
    ctx = exchange
    case_in_exchange(ctx, ["CC-GA"])
    clock.set(IN_WINDOW)
    batch = _confirmed(ctx, "CC-GA")
    bad = {"delivery_id": "x1", "batch_no": batch.batch_no, "officer": "cc_ga_officer",
           "results": [{"request_id": 999999, "id_number": "110101199003074514", "category": "vehicles",
                        "status": "has_data", "records": []}]}

    def answering(method: str, url: str, body: bytes, headers: Mapping[str, str],
                  timeout: float) -> TransportResponse:
        return TransportResponse(200, {}, json.dumps(bad).encode())

    assert send_due_batches(ctx, transport=answering) == 1
    assert batch.status is BatchStatus.SENT
    assert ctx.session.execute(select(func.count()).select_from(ExchangeImport)).scalar_one() == 0
    refused = ctx.session.execute(select(Event.payload).where(Event.kind == "exchange_answer_refused")).scalar_one()
    assert refused["error"] == "answer_wrong_batch"


def test_a_result_record_of_the_wrong_shape_is_refused_and_nothing_staged(exchange: EngineContext,
                                                                          clock: Any) -> None:
    """A record whose keys are lists or objects, a true/false request id, or a field the protocol does not list:
    422 ``answer_invalid`` (not a server error, not silently dropped); the batch still takes its answer."""
    ctx = exchange
    case_in_exchange(ctx, ["CC-GA"])
    clock.set(IN_WINDOW)
    batch = _confirmed(ctx, "CC-GA")
    send_due_batches(ctx, transport=FlakyTransport(set()), sleep=lambda s: None)
    good = delivery_body(LATE, batch.batch_no, "CC-GA", batch_lines(ctx, batch))
    first = good["results"][0]
    for wrong in ({"id_number": [first["id_number"]]}, {"category": {}}, {"status": ["no_record"]},
                  {"request_id": True}, {"note": "多余的字段"}):
        with pytest.raises(HeduiError) as refused:
            receive_results(ctx, *reversed(_signed(ctx, batch, dict(good, results=[{**first, **wrong}]))))  # type: ignore[arg-type]
        assert isinstance(refused.value, ValidationError) and refused.value.code == "answer_invalid", wrong
    assert ctx.session.execute(select(func.count()).select_from(ExchangeImport)).scalar_one() == 0
    staged, new = receive_results(ctx, *reversed(_signed(ctx, batch)))  # type: ignore[arg-type]
    assert new and staged.record_count == len(good["results"])
