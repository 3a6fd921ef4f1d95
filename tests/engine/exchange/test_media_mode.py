"""Media mode: tampered, foreign, duplicate and wrong-batch answer packages are refused, nothing applied (DX-2)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from engine.context import EngineContext
from engine.errors import HeduiError
from engine.errors import InvalidStateError
from engine.exchange.batches import confirm_batch
from engine.exchange.batches import iter_batch_lines
from engine.exchange.batches import prepare_batch
from engine.exchange.catalogue import current_key
from engine.exchange.media import MediaKey
from engine.exchange.media import PackageError
from engine.exchange.media import write_package
from engine.exchange.media_mode import export_batch
from engine.exchange.media_mode import stage_package
from engine.exchange.results import confirm_import
from engine.exchange.simulate import answer_package
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeResult
from engine.models.exchange import ResultStatus
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import case_in_exchange
from tests.engine.exchange_factory import officer
from tests.engine.exchange_factory import setup_exchange


@pytest.fixture
def exported(ctx: EngineContext, clock: Any) -> tuple[EngineContext, Any]:
    setup_exchange(ctx, clock)
    case_in_exchange(ctx, ["CC-BDC", "CC-SCJG"])
    clock.set(IN_WINDOW)
    batches = {}
    for unit in ("CC-BDC", "CC-SCJG"):
        batch = prepare_batch(ctx, unit, actor=officer(ctx, "cy_exchange_1"))
        confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_2"))
        export_batch(ctx, batch.id, io.BytesIO(), actor=officer(ctx, "cy_exchange_1"))
        batches[unit] = batch
    return ctx, batches


def _nothing_applied(ctx: EngineContext) -> None:
    assert ctx.session.execute(select(func.count()).select_from(ExchangeImport)).scalar_one() == 0
    statuses = set(ctx.session.execute(select(ExchangeResult.status)).scalars())
    assert statuses == {ResultStatus.PENDING}


def _refused(ctx: EngineContext, package: bytes, code: str, **kwargs: Any) -> HeduiError:
    with pytest.raises(HeduiError) as refused:
        stage_package(ctx, io.BytesIO(package), actor=officer(ctx, "cy_exchange_1"), **kwargs)
    assert refused.value.code == code, refused.value.code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.message)  # a Chinese message
    return refused.value


def test_tampered_package_is_refused(exported: Any) -> None:
    ctx, batches = exported
    package = bytearray(answer_package(ctx, batches["CC-BDC"]))
    package[-40] ^= 0x01
    assert isinstance(_refused(ctx, bytes(package), "package_tampered"), PackageError)
    _refused(ctx, answer_package(ctx, batches["CC-BDC"])[:-30], "package_truncated")
    _refused(ctx, b"not a package at all", "package_tampered")
    _nothing_applied(ctx)


def test_foreign_package_is_refused(exported: Any) -> None:
    ctx, batches = exported
    batch = batches["CC-BDC"]
    for key in (MediaKey("CC-BDC", "CC-BDC-k9-unknown", b"\x07" * 32),  # a key Hedui never issued
                MediaKey("CC-SCJG", current_key(ctx, batches["CC-SCJG"].unit).key_id,
                         bytes(current_key(ctx, batches["CC-SCJG"].unit).secret))):  # another unit's key
        out = io.BytesIO()
        write_package(out, [], key=key, kind="result", batch_id=batch.batch_no, sender_unit="CC-BDC",
                      receiver_unit="CY-HDZX", created_at=ctx.now())
        _refused(ctx, out.getvalue(), "package_foreign")
    _nothing_applied(ctx)


def test_wrong_batch_and_duplicate_packages_are_refused(exported: Any) -> None:
    ctx, batches = exported
    answer = answer_package(ctx, batches["CC-BDC"])
    _refused(ctx, answer, "package_wrong_batch", batch_id=batches["CC-SCJG"].id)
    _nothing_applied(ctx)
    staged = stage_package(ctx, io.BytesIO(answer), actor=officer(ctx, "cy_exchange_1"))
    _refused(ctx, answer, "answer_duplicate")
    _refused(ctx, answer_package(ctx, batches["CC-BDC"]), "answer_duplicate")  # another answer, same batch
    confirm_import(ctx, staged.id, actor=officer(ctx, "cy_exchange_2"))
    _refused(ctx, answer, "answer_duplicate")
    with pytest.raises(InvalidStateError):
        confirm_import(ctx, staged.id, actor=officer(ctx, "cy_exchange_1"))


def test_import_needs_a_second_registered_officer(exported: Any) -> None:
    ctx, batches = exported
    staged = stage_package(ctx, io.BytesIO(answer_package(ctx, batches["CC-BDC"])),
                           actor=officer(ctx, "cy_exchange_1"))
    for who, code in (("cy_exchange_1", "dual_control_same_officer"), ("cy_reviewer", "exchange_officer_unregistered")):
        with pytest.raises(HeduiError) as refused:
            confirm_import(ctx, staged.id, actor=officer(ctx, who))
        assert refused.value.code == code
    assert set(ctx.session.execute(select(ExchangeResult.status)).scalars()) == {ResultStatus.PENDING}
    confirm_import(ctx, staged.id, actor=officer(ctx, "cy_exchange_2"))
    bdc = ctx.session.execute(select(ExchangeResult.status).where(ExchangeResult.category == "real_estate")).scalars()
    assert ResultStatus.PENDING not in set(bdc)


def test_an_export_stopped_midway_closes_its_cursor(exported: Any) -> None:
    """The batch lines are read in chunks (a server-side cursor on PostgreSQL); a consumer that stops early
    (an export whose writer failed) must not leave the cursor open in the transaction (as the access log did)."""
    ctx, batches = exported
    lines = iter_batch_lines(ctx, batches["CC-BDC"])
    assert next(lines)["request_id"]
    lines.close()
    if ctx.session.get_bind().dialect.name == "postgresql":
        assert ctx.session.execute(text("SELECT count(*) FROM pg_cursors")).scalar_one() == 0
