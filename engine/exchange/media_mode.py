"""Media mode (DX-1, DX-2): export a confirmed batch as one encrypted package, stage the unit's answer.

The package is written with the unit's current key (``engine.exchange.media``: SM4-GCM where
available, AES-256-GCM otherwise; a manifest with counts and digests). An answer package is
verified completely before anything is stored: tampered, foreign, duplicate or wrong-batch
packages are refused with a Chinese message and nothing is kept; so is a package whose
authenticated header does not name (``extra.officer``) a unit-side officer filed for the unit on
the package's date (SD-3, the refusal is recorded); a valid one is staged for the second
officer (``engine.exchange.results.confirm_import``).
"""

from __future__ import annotations

import hashlib
import io
from datetime import date
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import InvalidStateError
from engine.exchange.batches import get_batch
from engine.exchange.batches import iter_batch_lines
from engine.exchange.batches import log_batch
from engine.exchange.batches import mark_sent
from engine.exchange.catalogue import current_key
from engine.exchange.catalogue import key_owner
from engine.exchange.control import require_registered
from engine.exchange.media import Manifest
from engine.exchange.media import MediaKey
from engine.exchange.media import PackageError
from engine.exchange.media import PackageReader
from engine.exchange.media import PackageWrongBatchError
from engine.exchange.media import read_header
from engine.exchange.media import write_package
from engine.exchange.officers import answer_day
from engine.exchange.officers import registration_username
from engine.exchange.officers import require_unit_officer
from engine.exchange.results import stage_answer
from engine.models.exchange import BatchStatus
from engine.models.exchange import ExchangeBatch
from engine.models.exchange import ExchangeImport
from engine.models.exchange import ExchangeMode

PACKAGE_SUFFIX = ".hdpkg"


def agency_code(batch: ExchangeBatch) -> str:
    return batch.agency.code if batch.agency is not None else "HEDUI"


def export_batch(ctx: EngineContext, batch_id: int, out: BinaryIO, *, actor: Actor) -> str:
    """Write the request package of a confirmed media batch to ``out``; returns its file name.

    Exporting again (a second disc) writes a new package of the same batch; the batch is
    marked sent at the first export.
    """
    batch = get_batch(ctx, batch_id, lock=True)
    require_registered(ctx, actor, batch.unit)
    if batch.mode is not ExchangeMode.MEDIA or batch.status not in (BatchStatus.CONFIRMED, BatchStatus.SENT):
        raise InvalidStateError("只有已确认的介质交换批次可以导出", code="batch_not_exportable")
    key = current_key(ctx, batch.unit)
    digest = _HashingWriter(out)
    manifest = write_package(digest, iter_batch_lines(ctx, batch), key=MediaKey(batch.unit.code, key.key_id,
                                                                              bytes(key.secret)),
                             kind="request", batch_id=batch.batch_no, sender_unit=agency_code(batch),
                             receiver_unit=batch.unit.code, created_at=ctx.now())
    batch.package_sha256 = digest.hexdigest()
    if batch.status is BatchStatus.CONFIRMED:
        mark_sent(ctx, batch, actor, mode="media", package_id=manifest.package_id, records=manifest.record_count,
                  sha256=batch.package_sha256)
    else:
        log_batch(ctx, batch, "exchange_batch_exported_again", actor, package_id=manifest.package_id,
                  sha256=batch.package_sha256)
    return f"{batch.batch_no}{PACKAGE_SUFFIX}"


class _HashingWriter(io.RawIOBase):
    """Pass writes through while hashing them (the exported file's digest goes into the history)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out, self._hash = out, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._hash.update(data)
        self._out.write(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def stage_package(ctx: EngineContext, package: BinaryIO, *, actor: Actor,
                  batch_id: int | None = None) -> ExchangeImport:
    """Verify an answer package and stage it (the first officer of the import's dual control).

    :param batch_id: when the officer uploads on a batch's page, the package must answer that batch.
    :raises PackageError: tampered, foreign, wrong kind or wrong batch (nothing stored).
    """
    header = read_header(package)
    batch = _batch_of(ctx, header.batch_id, batch_id)
    require_registered(ctx, actor, batch.unit)

    def lookup(unit_code: str, key_id: str) -> bytes | None:
        owner = key_owner(ctx, key_id)
        return owner[1] if owner is not None and owner[0].code == unit_code == batch.unit.code else None

    reader = PackageReader(package, lookup, kind="result", batch_id=batch.batch_no, sender_unit=batch.unit.code,
                           receiver_unit=agency_code(batch))
    manifest = reader.verify()
    registration = require_unit_officer(ctx, batch.unit, manifest.extra.get("officer"), _package_day(manifest),
                                        batch=batch, actor=actor, source="media", package_id=manifest.package_id)
    records = list(reader.records())
    return stage_answer(ctx, batch, records, delivery_id=f"pkg:{manifest.package_id}", source=ExchangeMode.MEDIA,
                        actor=actor, idempotent=False, officer=registration_username(ctx, registration))


def _package_day(manifest: Manifest) -> date:
    """The answer's date: when the unit wrote the package (authenticated header, SD-3 validity)."""
    try:
        return answer_day(datetime.fromisoformat(manifest.created_at))
    except (TypeError, ValueError):
        raise PackageError("数据交换包的生成时间无效，已拒绝导入") from None


def _batch_of(ctx: EngineContext, batch_no: str, expected_id: int | None) -> ExchangeBatch:
    batch = ctx.session.execute(select(ExchangeBatch).where(ExchangeBatch.batch_no == str(batch_no))
                                ).scalar_one_or_none()
    if expected_id is not None:
        expected = get_batch(ctx, expected_id)
        if batch is None or batch.id != expected.id:
            raise PackageWrongBatchError(f"数据交换包属于批次 {batch_no}，不是批次 {expected.batch_no} 的反馈，"
                                         "已拒绝导入",
                                         batch_id=str(batch_no))
    if batch is None or batch.mode is not ExchangeMode.MEDIA:
        raise PackageWrongBatchError(f"没有与数据交换包对应的介质交换批次（{batch_no}），已拒绝导入",
                                     batch_id=str(batch_no))
    return batch


__all__ = ["PACKAGE_SUFFIX", "PackageError", "export_batch", "stage_package"]
