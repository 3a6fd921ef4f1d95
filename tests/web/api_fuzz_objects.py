"""What the seeded demo lacks for the API fuzz's valid calls (tests/web/test_api_fuzz.py), added to its world.

The demo day holds no 失信 record, no re-verification batch and no system-mode exchange batch waiting for its
answer: ``tests.web.demo_world.credit_and_batch`` adds a proposed and a registered record and a batch not started
yet; here a case is taken to its data exchange with 长春市公安局 (CC-GA, system mode)
and its batch sent to a unit that accepts it without answering, as test_exchange_api.py does. So the
mutations of decision, revoke, results and delay notices meet real objects (refused, nothing changed), and
each valid call succeeds on a copy of this world. Requirements: AU-3, PS-8, DX-3, DX-5, DX-7.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Flask
from sqlalchemy import select

from engine.exchange.registry import DEMO_UNIT_OFFICERS
from engine.exchange.simulate import DEMO_REGISTRY
from engine.exchange.simulate import delivery_body

#: the system-mode unit whose answer is awaited (its demo officer releases the answer and the delay notice)
UNIT = "CC-GA"
#: a synthetic household the demo does not hold (test_form_fuzz_more.py uses 20–22 on its own copy)
HOUSEHOLD_INDEX = 23


def add_objects(app: Flask) -> None:
    """Add the records, the batch and the sent exchange batch to ``app``'s world, committed."""
    from tests.web.demo_world import credit_and_batch

    with app.app_context():
        ctx = app.extensions["hedui"].new_context()
        try:
            credit_and_batch(ctx)
            _awaiting_answer(ctx)
            ctx.session.commit()
        finally:
            ctx.session.close()


def _awaiting_answer(ctx: Any) -> None:
    """A case of CC-GA's batched, confirmed by the second officer and sent; the unit has not answered."""
    from engine.exchange.batches import confirm_batch
    from engine.exchange.batches import prepare_batch
    from engine.exchange.system_mode import send_due_batches
    from tests.engine.exchange.test_system_mode import FlakyTransport
    from tests.engine.exchange_factory import case_in_exchange
    from tests.engine.exchange_factory import officer

    case_in_exchange(ctx, [UNIT], index=HOUSEHOLD_INDEX)
    batch = prepare_batch(ctx, UNIT, actor=officer(ctx, "cy_exchange_1"), enforce_window=False)
    confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_2"))
    assert send_due_batches(ctx, transport=FlakyTransport(set()), sleep=lambda s: None) >= 1


def credit_number(ctx: Any, status: str) -> str:
    """The number of the world's record in ``status`` (``proposed`` or ``registered``)."""
    from engine.models.credit import CreditRecord

    return ctx.session.execute(select(CreditRecord.number).where(CreditRecord.status == status)
                               .order_by(CreditRecord.id)).scalars().first()


def recheck_batch_no(ctx: Any) -> str:
    from engine.models import RecheckBatch

    return ctx.session.execute(select(RecheckBatch.number).order_by(RecheckBatch.id)).scalars().first()


def answer_and_notice(ctx: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The unit's answer to its sent batch (as the simulator would give it) and a delay notice for its case."""
    from engine.exchange.batches import batch_lines
    from engine.models import Unit
    from engine.models.exchange import BatchStatus
    from engine.models.exchange import ExchangeBatch
    from engine.models.exchange import ExchangeRequest

    batch = ctx.session.execute(select(ExchangeBatch).join(Unit, Unit.id == ExchangeBatch.unit_id).where(
        Unit.code == UNIT, ExchangeBatch.status == BatchStatus.SENT)
        .order_by(ExchangeBatch.id.desc())).scalars().first()
    lines = batch_lines(ctx, batch)
    case_no = ctx.session.get(ExchangeRequest, lines[0]["request_id"]).case_no
    notice = {"case_no": case_no, "officer": DEMO_UNIT_OFFICERS[UNIT][0], "days": 3,
              "reason": "数据量大，需人工核查", "document_name": "延期说明.pdf",
              "document_base64": base64.b64encode(b"%PDF-1.4 notice").decode()}
    return delivery_body(DEMO_REGISTRY, batch.batch_no, UNIT, lines), notice
