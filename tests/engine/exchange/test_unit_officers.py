"""SD-3 / LOC-14 on the unit side: every answer names a unit-side officer filed for that unit, valid that day.

System deliveries, immediate answers, delay notices and media packages naming nobody, an
unknown account, an officer not filed for that unit on the unit side, or one whose filing does
not cover the answer's date are refused with a stable code and a Chinese message; the refusal
is in the batch's history and nothing of the answer is applied.
"""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.context import EngineContext
from engine.errors import HeduiError
from engine.exchange.batches import batch_lines
from engine.exchange.batches import confirm_batch
from engine.exchange.batches import prepare_batch
from engine.exchange.catalogue import seed_demo_catalogue
from engine.exchange.delays import find_request
from engine.exchange.delays import record_delay_notice
from engine.exchange.media import MediaKey
from engine.exchange.media import write_package
from engine.exchange.media_mode import agency_code
from engine.exchange.media_mode import export_batch
from engine.exchange.media_mode import stage_package
from engine.exchange.officers import filed_officers
from engine.exchange.registry import DEMO_UNIT_OFFICERS
from engine.exchange.results import confirm_import
from engine.exchange.sender import TransportResponse
from engine.exchange.signing import sign_json
from engine.exchange.simulate import DEMO_REGISTRY
from engine.exchange.simulate import answer_records
from engine.exchange.simulate import delivery_body
from engine.exchange.system_mode import DELAYS_PATH
from engine.exchange.system_mode import RESULTS_PATH
from engine.exchange.system_mode import receive_delay_notice
from engine.exchange.system_mode import receive_results
from engine.exchange.system_mode import send_due_batches
from engine.exchange.system_mode import unit_key
from engine.models import Event
from engine.models import ExchangeRegistration
from engine.models import ExchangeSide
from engine.models.exchange import BatchStatus
from engine.models.exchange import ExchangeDelayNotice
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeResult
from engine.models.exchange import ResultStatus
from engine.services.org import end_registration
from engine.services.org import get_unit_by_code
from engine.services.org import register_exchange_officer
from engine.services.users import get_user
from tests.engine.exchange.test_system_mode import FlakyTransport
from tests.engine.exchange_factory import ADMIN
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import case_in_exchange
from tests.engine.exchange_factory import case_no
from tests.engine.exchange_factory import officer
from tests.engine.exchange_factory import setup_exchange

#: (officer named, expected refusal): every way an answer's releasing officer can be wrong
BAD_OFFICERS = [
    (None, "unit_officer_missing"),
    ("  ", "unit_officer_missing"),
    ("nobody_at_all", "unit_officer_unknown"),
    ("cy_exchange_1", "unit_officer_unregistered"),  # filed, but on the agency side
    ("cc_bank_officer", "unit_officer_unregistered"),  # filed, but for another unit
]


def _batch(ctx: EngineContext, unit: str) -> Any:
    batch = prepare_batch(ctx, unit, actor=officer(ctx, "cy_exchange_1"))
    confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_2"))
    return batch


@pytest.fixture
def sent(ctx: EngineContext, clock: Any) -> tuple[EngineContext, Any, Any]:
    """One case asking CC-GA (system, answers later) and CC-BDC (media); both batches sent / exported."""
    setup_exchange(ctx, clock)
    case = case_in_exchange(ctx, ["CC-GA", "CC-BDC"])
    clock.set(IN_WINDOW)
    system, media = _batch(ctx, "CC-GA"), _batch(ctx, "CC-BDC")
    send_due_batches(ctx, transport=FlakyTransport(set()), sleep=lambda s: None)
    export_batch(ctx, media.id, io.BytesIO(), actor=officer(ctx, "cy_exchange_1"))
    assert system.status is BatchStatus.SENT and media.status is BatchStatus.SENT
    return ctx, case, {"CC-GA": system, "CC-BDC": media}


def _nothing_applied(ctx: EngineContext) -> None:
    assert ctx.session.execute(select(func.count()).select_from(ExchangeImport)).scalar_one() == 0
    assert set(ctx.session.execute(select(ExchangeResult.status)).scalars()) == {ResultStatus.PENDING}


def _refusals(ctx: EngineContext) -> list[dict[str, Any]]:
    return list(ctx.session.execute(select(Event.payload).where(Event.kind == "exchange_answer_refused")
                                    .order_by(Event.id)).scalars())


def _expect(code: str, call: Any) -> HeduiError:
    with pytest.raises(HeduiError) as refused:
        call()
    assert refused.value.code == code, refused.value.code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.message)  # a Chinese message
    assert refused.value.commit  # the entry point keeps the refusal's record
    return refused.value


def _post(ctx: EngineContext, batch: Any, officer_name: str | None) -> Any:
    body = delivery_body(DEMO_REGISTRY, batch.batch_no, batch.unit.code, batch_lines(ctx, batch))
    body.pop("officer")
    if officer_name is not None:
        body["officer"] = officer_name
    signed, headers = sign_json(unit_key(ctx, batch.unit), "POST", RESULTS_PATH, body, clock=ctx.clock)
    return receive_results(ctx, headers, signed)


def _end(ctx: EngineContext, username: str, unit: str, last_day: date) -> ExchangeRegistration:
    registration = ctx.session.execute(select(ExchangeRegistration).where(
        ExchangeRegistration.user_id == get_user(ctx, username).id,
        ExchangeRegistration.sharing_unit_id == get_unit_by_code(ctx, unit).id,  # type: ignore[union-attr]
        ExchangeRegistration.side == ExchangeSide.SHARING_UNIT)).scalar_one()
    end_registration(ctx, registration, last_day=last_day, actor=ADMIN)
    return registration


def _package(ctx: EngineContext, batch: Any, extra: dict[str, Any]) -> bytes:
    key = unit_key(ctx, batch.unit)
    out = io.BytesIO()
    write_package(out, answer_records(DEMO_REGISTRY, batch.unit.code, batch_lines(ctx, batch)),
                  key=MediaKey(key.unit_code, key.key_id, key.secret), kind="result", batch_id=batch.batch_no,
                  sender_unit=batch.unit.code, receiver_unit=agency_code(batch), created_at=ctx.now(), extra=extra)
    return out.getvalue()


def test_system_answer_from_an_unfiled_officer_is_refused_on_record(sent: Any) -> None:
    ctx, _case, batches = sent
    batch = batches["CC-GA"]
    for name, code in BAD_OFFICERS:
        _expect(code, lambda: _post(ctx, batch, name))
    _nothing_applied(ctx)
    assert batch.status is BatchStatus.SENT
    refusals = _refusals(ctx)
    assert [r["error"] for r in refusals] == [code for _name, code in BAD_OFFICERS]
    assert {r["batch_no"] for r in refusals} == {batch.batch_no} and refusals[2]["officer"] == "nobody_at_all"
    staged, new = _post(ctx, batch, "cc_ga_officer")
    assert new and staged.record_count > 0
    staged_event = ctx.session.execute(select(Event.payload).where(Event.kind == "exchange_answer_staged")).scalar_one()
    assert staged_event["officer"] == "cc_ga_officer"


def test_an_ended_registration_is_refused_and_a_valid_one_accepted(sent: Any) -> None:
    ctx, _case, batches = sent
    batch = batches["CC-GA"]
    today = IN_WINDOW.date()
    _end(ctx, "cc_ga_officer", "CC-GA", today.replace(day=today.day - 1))
    _expect("unit_officer_not_valid", lambda: _post(ctx, batch, "cc_ga_officer"))
    _nothing_applied(ctx)
    # filed again from today (a change registered before it takes effect): accepted
    register_exchange_officer(ctx, get_user(ctx, "cc_ga_officer"), batch.unit, batch.unit, valid_from=today,
                              valid_to=None, actor=ADMIN)
    staged, _new = _post(ctx, batch, "cc_ga_officer")
    assert confirm_import(ctx, staged.id, actor=officer(ctx, "cy_exchange_2")) == 1


def test_an_immediate_answer_naming_nobody_is_refused_and_the_batch_stays_sent(ctx: EngineContext,
                                                                             clock: Any) -> None:
    setup_exchange(ctx, clock)
    case_in_exchange(ctx, ["CC-GA"])
    clock.set(IN_WINDOW)
    batch = _batch(ctx, "CC-GA")

    def anonymous(method: str, url: str, body: bytes, headers: Any, timeout: float) -> TransportResponse:
        answer = delivery_body(DEMO_REGISTRY, batch.batch_no, "CC-GA", json.loads(body)["lines"])
        del answer["officer"]
        return TransportResponse(200, {}, json.dumps(answer).encode())

    assert send_due_batches(ctx, transport=anonymous) == 1
    assert batch.status is BatchStatus.SENT
    _nothing_applied(ctx)
    assert [r["error"] for r in _refusals(ctx)] == ["unit_officer_missing"]


def test_media_package_from_an_unfiled_or_ended_officer_is_refused(sent: Any, clock: Any) -> None:
    ctx, _case, batches = sent
    batch = batches["CC-BDC"]
    upload = officer(ctx, "cy_exchange_1")
    for name, code in BAD_OFFICERS:
        extra = {} if name is None else {"officer": name}
        _expect(code, lambda: stage_package(ctx, io.BytesIO(_package(ctx, batch, extra)), actor=upload))
    # released on the 11th by an officer filed until the 12th: still good when imported later ...
    clock.set(IN_WINDOW.replace(day=11))
    released_in_time = _package(ctx, batch, {"officer": "cc_bdc_officer"})
    clock.set(IN_WINDOW)
    _end(ctx, "cc_bdc_officer", "CC-BDC", date(2026, 12, 12))
    # ... but a package written today, after the filing ended, is refused
    _expect("unit_officer_not_valid",
            lambda: stage_package(ctx, io.BytesIO(_package(ctx, batch, {"officer": "cc_bdc_officer"})), actor=upload))
    _nothing_applied(ctx)
    refusals = _refusals(ctx)
    assert len(refusals) == len(BAD_OFFICERS) + 1 and {r["source"] for r in refusals} == {"media"}
    staged = stage_package(ctx, io.BytesIO(released_in_time), actor=upload)
    assert confirm_import(ctx, staged.id, actor=officer(ctx, "cy_exchange_2")) == 1


def test_delay_notice_needs_a_filed_unit_officer(sent: Any) -> None:
    ctx, case, batches = sent
    number = case_no(ctx, case)
    request = find_request(ctx, number, "CC-GA")
    due = request.reply_due
    notice = {"case_no": number, "days": 2, "reason": "数据量大", "document_name": "延期说明.pdf",
              "document_base64": "JVBERi0xLjQ="}
    for name, code in BAD_OFFICERS:
        body = dict(notice, **({} if name is None else {"officer": name}))
        signed, headers = sign_json(unit_key(ctx, request.unit), "POST", DELAYS_PATH, body, clock=ctx.clock)
        _expect(code, lambda: receive_delay_notice(ctx, headers, signed))
    _expect("unit_officer_unregistered", lambda: record_delay_notice(
        ctx, request, days=2, reason="数据量大", document_name="a.pdf", document=b"%PDF", actor=ADMIN,
        officer="cc_sw_officer"))
    assert ctx.session.execute(select(func.count()).select_from(ExchangeDelayNotice)).scalar_one() == 0
    assert request.reply_due == due and request.extended_days == 0
    assert len(_refusals(ctx)) == len(BAD_OFFICERS) + 1
    signed, headers = sign_json(unit_key(ctx, request.unit), "POST", DELAYS_PATH,
                                dict(notice, officer="cc_ga_officer"), clock=ctx.clock)
    assert receive_delay_notice(ctx, headers, signed).days == 2
    assert request.extended_days == 2


def test_a_unit_side_officer_cannot_act_on_the_agency_side(sent: Any) -> None:
    ctx, _case, batches = sent
    staged, _new = _post(ctx, batches["CC-GA"], "cc_ga_officer")
    unit_side = officer(ctx, "cc_ga_officer")
    with pytest.raises(HeduiError) as refused:
        confirm_import(ctx, staged.id, actor=unit_side)
    assert refused.value.code == "exchange_officer_unregistered"


def test_demo_catalogue_files_every_demo_units_officer_and_lists_both_sides(ctx: EngineContext, clock: Any) -> None:
    setup_exchange(ctx, clock)
    ga = get_unit_by_code(ctx, "CC-GA")
    assert ga is not None
    ctx.session.execute(ExchangeRegistration.__table__.delete().where(
        ExchangeRegistration.side == ExchangeSide.SHARING_UNIT))
    seed_demo_catalogue(ctx, actor=ADMIN, valid_from=date(2025, 1, 1))  # a database seeded before SD-3
    filed = ctx.session.execute(select(ExchangeRegistration).where(
        ExchangeRegistration.side == ExchangeSide.SHARING_UNIT)).scalars().all()
    assert {(r.sharing_unit.code, r.user_id) for r in filed} == {
        (unit, get_user(ctx, username).id) for unit, (username, _name) in DEMO_UNIT_OFFICERS.items()}
    seed_demo_catalogue(ctx, actor=ADMIN, valid_from=date(2025, 1, 1))  # idempotent
    assert len(ctx.session.execute(select(ExchangeRegistration.id).where(
        ExchangeRegistration.side == ExchangeSide.SHARING_UNIT)).all()) == len(DEMO_UNIT_OFFICERS)
    listed = filed_officers(ctx, {ga.id}, IN_WINDOW.date())
    # the exchange officers of the county, the city and the province agency (PS-5) and the unit's own officer
    assert {(o.side, o.username) for o in listed} == {
        *(("核对机构", f"{agency}_exchange_{n}") for agency in ("cy", "cc", "jl") for n in (1, 2)),
        ("共享单位", "cc_ga_officer")}
    assert all(o.valid_today for o in listed)
