"""The system-mode exchange API: signed results, replays refused, idempotence, delay notices (DX-3, DX-5, DX-7)."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select

from engine.exchange.batches import batch_lines
from engine.exchange.batches import confirm_batch
from engine.exchange.batches import prepare_batch
from engine.exchange.signing import sign_json
from engine.exchange.simulate import DEMO_REGISTRY
from engine.exchange.simulate import delivery_body
from engine.exchange.system_mode import DELAYS_PATH
from engine.exchange.system_mode import RESULTS_PATH
from engine.exchange.system_mode import send_due_batches
from engine.exchange.system_mode import unit_key
from engine.models.exchange import ExchangeDelayNotice
from engine.models.exchange import ExchangeImport
from tests.engine.exchange.test_system_mode import FlakyTransport
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import case_in_exchange
from tests.engine.exchange_factory import case_no
from tests.engine.exchange_factory import officer
from tests.engine.exchange_factory import setup_exchange
from tests.web.test_api_tasks import _token


def _sent_batch(app: Any, clock: Any, units: list[str]) -> tuple[Any, int, str]:
    ctx = app.extensions["hedui"].new_context()
    setup_exchange(ctx, clock)
    case = case_in_exchange(ctx, units)
    clock.set(IN_WINDOW)
    batch = prepare_batch(ctx, units[0], actor=officer(ctx, "cy_exchange_1"))
    confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_2"))
    send_due_batches(ctx, transport=FlakyTransport(set()), sleep=lambda s: None)
    number = case_no(ctx, case)
    ctx.session.commit()
    return ctx, batch.id, number


def test_signed_results_are_staged_once_and_replays_refused(app: Any, client: Any, clock: Any) -> None:
    ctx, batch_id, _ = _sent_batch(app, clock, ["CC-GA"])
    from engine.models.exchange import ExchangeBatch

    batch = ctx.session.get(ExchangeBatch, batch_id)
    payload = delivery_body(DEMO_REGISTRY, batch.batch_no, "CC-GA", batch_lines(ctx, batch))
    body, headers = sign_json(unit_key(ctx, batch.unit), "POST", RESULTS_PATH, payload, clock=clock)
    unsigned = client.post(RESULTS_PATH, data=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 403 and unsigned.json["error"] == "bad_signature"
    first = client.post(RESULTS_PATH, data=body, headers=headers)
    assert first.status_code == 201, first.json
    replay = client.post(RESULTS_PATH, data=body, headers=headers)
    assert replay.status_code == 403 and replay.json["error"] == "replayed_nonce"
    body2, headers2 = sign_json(unit_key(ctx, batch.unit), "POST", RESULTS_PATH, payload, clock=clock)
    again = client.post(RESULTS_PATH, data=body2, headers=headers2)
    assert again.status_code == 200 and again.json["duplicate"] and again.json["import_id"] == first.json["import_id"]
    session = app.extensions["hedui"].new_context().session
    assert len(session.execute(select(ExchangeImport)).scalars().all()) == 1


def test_delay_notice_endpoint_and_overdue_list(app: Any, client: Any, clock: Any) -> None:
    ctx, batch_id, number = _sent_batch(app, clock, ["CC-SW"])
    from engine.models.exchange import ExchangeBatch

    unit = ctx.session.get(ExchangeBatch, batch_id).unit
    notice = {"case_no": number, "officer": "cc_sw_officer", "days": 6, "reason": "数据量大",
              "document_name": "延期说明.pdf", "document_base64": base64.b64encode(b"%PDF-1.4 notice").decode()}
    body, headers = sign_json(unit_key(ctx, unit), "POST", DELAYS_PATH, notice, clock=clock)
    too_long = client.post(DELAYS_PATH, data=body, headers=headers)
    assert too_long.status_code == 422 and too_long.json["error"] == "delay_too_long"
    body, headers = sign_json(unit_key(ctx, unit), "POST", DELAYS_PATH, dict(notice, days=2), clock=clock)
    accepted = client.post(DELAYS_PATH, data=body, headers=headers)
    assert accepted.status_code == 201 and accepted.json["days"] == 2
    session = app.extensions["hedui"].new_context().session
    assert session.execute(select(ExchangeDelayNotice.days)).scalar_one() == 2
    assert client.get("/api/v1/exchange/overdue", headers=_token(client, "cy_intake")).status_code == 403
    listed = client.get("/api/v1/exchange/overdue", headers=_token(client, "cy_exchange_1"))
    assert listed.status_code == 200 and listed.json["items"] == []
    document = client.get("/api/v1/openapi.json").json
    assert {"/exchange/results", "/exchange/delay-notices"} <= set(document["paths"])


def test_results_from_an_unfiled_unit_officer_are_refused_and_the_refusal_kept(app: Any, client: Any,
                                                                               clock: Any) -> None:
    """SD-3: 403 with a stable code; the refusal (and the used nonce) are committed, nothing else."""
    from engine.models import Event
    from engine.models.exchange import ExchangeBatch

    ctx, batch_id, _ = _sent_batch(app, clock, ["CC-GA"])
    batch = ctx.session.get(ExchangeBatch, batch_id)
    payload = delivery_body(DEMO_REGISTRY, batch.batch_no, "CC-GA", batch_lines(ctx, batch))
    body, headers = sign_json(unit_key(ctx, batch.unit), "POST", RESULTS_PATH, dict(payload, officer="cy_exchange_1"),
                              clock=clock)
    refused = client.post(RESULTS_PATH, data=body, headers=headers)
    assert refused.status_code == 403 and refused.json["error"] == "unit_officer_unregistered"
    assert "备案" in refused.json["message"]
    session = app.extensions["hedui"].new_context().session
    assert session.execute(select(ExchangeImport)).first() is None
    [kept] = session.execute(select(Event.payload).where(Event.kind == "exchange_answer_refused")).scalars().all()
    assert kept["error"] == "unit_officer_unregistered" and kept["officer"] == "cy_exchange_1"
    assert client.post(RESULTS_PATH, data=body, headers=headers).json["error"] == "replayed_nonce"
    body, headers = sign_json(unit_key(ctx, batch.unit), "POST", RESULTS_PATH, payload, clock=clock)
    accepted = client.post(RESULTS_PATH, data=body, headers=headers)
    assert accepted.status_code == 201, accepted.json
