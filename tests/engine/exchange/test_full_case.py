"""A standard case whose results come from simulated units in both modes (DX-1..DX-4, SD-2, PS-10)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import EngineContext
from engine.exchange.batches import confirm_batch
from engine.exchange.batches import prepare_batch
from engine.exchange.media_mode import export_batch
from engine.exchange.media_mode import stage_package
from engine.exchange.results import confirm_import
from engine.exchange.simulate import answer_package
from engine.exchange.system_mode import send_due_batches
from engine.history import verify_chain
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeRequest
from engine.models.exchange import ExchangeResult
from engine.models.exchange import ImportStatus
from engine.models.exchange import RequestStatus
from engine.models.exchange import ResultStatus
from engine.services.instances import list_open_tasks
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import case_in_exchange
from tests.engine.exchange_factory import officer
from tests.engine.exchange_factory import setup_exchange


@pytest.fixture
def exchange(ctx: EngineContext, clock: Any) -> EngineContext:
    setup_exchange(ctx, clock)
    return ctx


def _open(ctx: EngineContext, case: Any) -> list[str]:
    return sorted(t.bpmn_id for t in list_open_tasks(ctx, instance_id=case.id))


def _send_system(ctx: EngineContext, unit: str) -> Any:
    batch = prepare_batch(ctx, unit, actor=officer(ctx, "cy_exchange_1"))
    confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_2"))
    assert send_due_batches(ctx) == 1
    return batch


def test_results_from_both_modes_reach_the_case(exchange: EngineContext, clock: Any) -> None:
    ctx = exchange
    case = case_in_exchange(ctx, ["CC-GA", "CC-BDC"])
    clock.set(IN_WINDOW)
    # system mode: CC-GA answers at once in the send response; staged, then a second officer applies it
    system = _send_system(ctx, "CC-GA")
    staged = ctx.session.execute(select(ExchangeImport).where(ExchangeImport.batch_id == system.id)).scalar_one()
    assert staged.status is ImportStatus.STAGED and staged.staged_by == "unit:CC-GA"
    assert confirm_import(ctx, staged.id, actor=officer(ctx, "cy_exchange_1")) == 1
    assert _open(ctx, case) == []  # still waiting for CC-BDC
    # media mode: export, the unit answers on a disc, one officer uploads, another confirms
    media = prepare_batch(ctx, "CC-BDC", actor=officer(ctx, "cy_exchange_2"))
    confirm_batch(ctx, media.id, actor=officer(ctx, "cy_exchange_1"))
    out = io.BytesIO()
    export_batch(ctx, media.id, out, actor=officer(ctx, "cy_exchange_1"))
    assert out.getvalue().startswith(b"HEDUIPKG") and "测试".encode() not in out.getvalue()
    package = answer_package(ctx, media)
    staged_media = stage_package(ctx, io.BytesIO(package), actor=officer(ctx, "cy_exchange_1"))
    confirm_import(ctx, staged_media.id, actor=officer(ctx, "cy_exchange_2"))
    assert _open(ctx, case) == ["confirm_exchange"]  # every unit answered: the case continues
    requests = ctx.session.execute(select(ExchangeRequest).where(ExchangeRequest.instance_id == case.id)).scalars()
    assert {r.status for r in requests} == {RequestStatus.ANSWERED}
    results = ctx.session.execute(select(ExchangeResult).join(ExchangeRequest)
                                  .where(ExchangeRequest.instance_id == case.id)).scalars().all()
    assert len(results) == 5 * 3 + 5 * 1  # persons × categories per unit
    assert {r.status for r in results} <= {ResultStatus.FOUND, ResultStatus.NONE}
    found = [r for r in results if r.status is ResultStatus.FOUND]
    assert found and all(r.raw and r.raw["records"] for r in found)
    flats = [r for r in found if r.category == "real_estate"]
    assert all(any(i["kind"] == "property" and i["label"] == "不动产" for i in r.normalised) for r in flats)
    assert verify_chain(ctx.session) == []
