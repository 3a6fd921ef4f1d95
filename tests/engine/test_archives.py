"""Sealed archives (AR-1…AR-4, ARC-01/02): sealed when the verification ends, immutable, verifiable,
and carried between two databases as a signed bundle (export → import → verify)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.archives import retention
from engine.archives.backup import export_bundle
from engine.archives.backup import import_bundle
from engine.archives.seal import seal_case
from engine.archives.seal import seal_closed
from engine.archives.seal import sha256
from engine.archives.verify import item_status
from engine.archives.verify import verify_archives
from engine.context import Actor
from engine.context import EngineContext
from engine.db import make_engine
from engine.errors import IntegrityError
from engine.errors import InvalidStateError
from engine.history import verify_chain
from engine.models import Event
from engine.models.archive import Archive
from engine.models.archive import ArchiveItem
from engine.models.archive import ArchiveItemBlob
from engine.models.case import CaseStatus
from engine.models.report import Report
from engine.runtime import BpmnRuntime
from tests.engine.archive_factory import closed
from tests.engine.archive_factory import seed
from tests.engine.archive_factory import seeded

#: the demo region, the diagrams and the four demo cases, seeded once for the module
SEED_ONCE = seed

KEY = b"shared-archive-key-of-the-county-and-city"
OPS = Actor("ops")


def _archive(ctx: EngineContext) -> Archive:
    return ctx.session.execute(select(Archive)).scalar_one()


def test_a_closed_case_is_sealed_with_every_item_and_a_manifest(ctx) -> None:  # type: ignore[no-untyped-def]
    """AR-1, AR-2: the 授权书 (scan and rendering), 委托书 and 核对报告 are held electronically,
    one archive per case."""
    households = seeded(ctx)
    [done] = closed(ctx)
    archive = _archive(ctx)
    assert archive.household_id == done.id and archive.case_no == done.case_no == households[3].case_no
    assert done.status is CaseStatus.CLOSED and households[0].status is CaseStatus.OPEN
    manifest = json.loads(archive.manifest)
    assert sha256(archive.manifest.encode()) == archive.manifest_sha256
    assert [i["kind"] for i in manifest["items"]] == ["authorisation_scan", "authorisation_pdf", "entrustment_pdf",
                                                       "exchange_records", "report_pdf", "report_snapshot",
                                                       "case_history"]
    assert manifest["creator"] == {"sealed_by": "archive", "unit_code": "CY-HDZX",
                                   "unit_name": "朝阳区社会救助家庭经济状况核对中心"}
    assert manifest["business_ids"]["entrustment_number"] == done.entrustment.number
    assert manifest["business_ids"]["instance_id"] == done.instance_id
    assert manifest["retention"]["by_record_type"]["authorisation"] == retention.DEFAULT_YEARS == 5
    items = ctx.session.execute(select(ArchiveItem).where(ArchiveItem.archive_id == archive.id)
                                .order_by(ArchiveItem.position)).scalars().all()
    for entry, item in zip(manifest["items"], items, strict=True):
        content = ctx.session.execute(select(ArchiveItemBlob.content)
                                      .where(ArchiveItemBlob.item_id == item.id)).scalar()
        assert entry["sha256"] == item.sha256 == sha256(content) and entry["size"] == len(content)
        assert entry["created_by"] and entry["business_id"] and entry["retention_years"] == 5
    history = json.loads(ctx.session.execute(select(ArchiveItemBlob.content).where(
        ArchiveItemBlob.item_id == items[-1].id)).scalar())
    assert history["case_no"] == done.case_no and history["events"][0]["kind"] == "started"
    assert all(e["hash"] and e["prev_hash"] for e in history["events"])
    # full ID numbers are on the official documents only, never in the history (SEC-12)
    raw_history = json.dumps(history, ensure_ascii=False)
    assert not [p.id_number for p in done.persons if p.id_number and p.id_number in raw_history]
    sealed = ctx.session.execute(select(Event).where(Event.kind == "archive_sealed")).scalar_one()
    assert sealed.payload["manifest_sha256"] == archive.manifest_sha256 and verify_chain(ctx.session) == []
    assert verify_archives(ctx.session).ok


def test_sealing_is_idempotent_and_refuses_an_open_case(ctx) -> None:  # type: ignore[no-untyped-def]
    households = seeded(ctx)
    assert seal_closed(ctx) == 0
    assert seal_case(ctx, households[3]).id == _archive(ctx).id
    with pytest.raises(InvalidStateError):
        seal_case(ctx, households[0])
    assert ctx.session.execute(select(Archive.id)).scalars().all() == [_archive(ctx).id]


def _disable_guards(session: Session) -> None:
    """Someone with direct database access (inside the test's rolled-back transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE archive_item_blobs DISABLE TRIGGER archive_item_blobs_immutable"))
        session.execute(text("ALTER TABLE archives DISABLE TRIGGER archives_immutable"))
    else:
        for table in ("archive_item_blobs", "archives"):
            session.execute(text(f"DROP TRIGGER {table}_no_update"))


def test_the_database_refuses_changes_to_an_archive(ctx) -> None:  # type: ignore[no-untyped-def]
    seeded(ctx)
    archive = _archive(ctx)
    for statement in ("UPDATE archive_item_blobs SET content = :b", "DELETE FROM archive_items",
                      "UPDATE archives SET manifest_sha256 = 'x'"):
        with pytest.raises(sa_exc.DatabaseError, match="immutable"), ctx.session.begin_nested():
            ctx.session.execute(text(statement), {"b": b"x"})
    assert verify_archives(ctx.session).ok and _archive(ctx).id == archive.id


def test_the_orm_refuses_changes_to_an_archive_too(ctx) -> None:  # type: ignore[no-untyped-def]
    seeded(ctx)
    with pytest.raises(IntegrityError) as changed, ctx.session.begin_nested():
        _archive(ctx).sealed_by = "someone else"
        ctx.session.flush()
    assert changed.value.code == "archive_immutable"
    with pytest.raises(IntegrityError), ctx.session.begin_nested():
        ctx.session.delete(ctx.session.execute(select(ArchiveItemBlob)).scalars().first())
        ctx.session.flush()
    ctx.session.expire_all()
    assert _archive(ctx).sealed_by == "archive" and verify_archives(ctx.session).ok


def test_verify_finds_a_one_byte_change_and_names_case_and_item(ctx) -> None:  # type: ignore[no-untyped-def]
    seeded(ctx)
    archive = _archive(ctx)
    item = ctx.session.execute(select(ArchiveItem).where(ArchiveItem.archive_id == archive.id,
                                                         ArchiveItem.kind == "authorisation_pdf")).scalar_one()
    content = bytearray(ctx.session.execute(select(ArchiveItemBlob.content)
                                            .where(ArchiveItemBlob.item_id == item.id)).scalar())
    content[len(content) // 2] ^= 0x01
    _disable_guards(ctx.session)
    ctx.session.execute(text("UPDATE archive_item_blobs SET content = :c WHERE item_id = :i"),
                        {"c": bytes(content), "i": item.id})
    report = verify_archives(ctx.session)
    assert [(p.case_no, p.position, p.item) for p in report.problems] == [(archive.case_no, item.position, "授权书")]
    assert "SHA-256 不符" in report.problems[0].problem and str(report.problems[0]).startswith(archive.case_no)
    assert item_status(ctx.session, archive)[item.position] is not None
    assert sum(v is None for v in item_status(ctx.session, archive).values()) == 6


def test_verify_finds_a_rewritten_manifest(ctx) -> None:  # type: ignore[no-untyped-def]
    seeded(ctx)
    archive = _archive(ctx)
    forged = archive.manifest.replace('"retention_years":5', '"retention_years":1')
    _disable_guards(ctx.session)
    # the forger recomputes the stored digest too: the hash-chained 归档 event still disagrees
    ctx.session.execute(text("UPDATE archives SET manifest = :m, manifest_sha256 = :d WHERE id = :i"),
                        {"m": forged, "d": sha256(forged.encode()), "i": archive.id})
    ctx.session.expire_all()
    assert [p.problem for p in verify_archives(ctx.session).problems] == ["清单摘要与办理日志中的归档记录不符"]


def _disable_report_guard(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE reports DISABLE TRIGGER reports_immutable"))
    else:
        session.execute(text("DROP TRIGGER reports_no_update"))


def _one_byte_changed(text_: str) -> str:
    """The snapshot with one character of an ASCII digit changed (one byte of the UTF-8 text)."""
    at = next(i for i in range(len(text_) // 2, len(text_)) if text_[i].isdigit())
    return text_[:at] + str((int(text_[at]) + 1) % 10) + text_[at + 1:]


def test_verify_rechecks_every_reports_digest_in_the_database(ctx) -> None:  # type: ignore[no-untyped-def]
    """DO-7: a one-byte change in a stored report snapshot is reported with the report's number."""
    seeded(ctx)
    report = ctx.session.execute(select(Report)).scalar_one()
    clean = verify_archives(ctx.session)
    assert clean.ok and clean.reports_checked == 1
    changed = _one_byte_changed(report.content)
    assert len(changed.encode()) == len(report.content.encode()) and changed != report.content
    _disable_report_guard(ctx.session)
    ctx.session.execute(text("UPDATE reports SET content = :c WHERE id = :i"), {"c": changed, "i": report.id})
    result = verify_archives(ctx.session)
    assert not result.ok and result.problems == []  # the archive's own copy is intact
    [problem] = result.report_problems
    assert (problem.case_no, problem.number) == (report.case_no, report.number)
    assert "SHA-256 不符" in problem.problem and str(problem).startswith(f"{report.case_no} 报告 {report.number}")
    # a forger who recomputes the stored digest too is caught by the hash-chained 出具 event
    ctx.session.execute(text("UPDATE reports SET sha256 = :d WHERE id = :i"),
                        {"d": sha256(changed.encode()), "i": report.id})
    assert [p.problem for p in verify_archives(ctx.session).report_problems] == ["报告摘要与办理日志中的出具记录不符"]
    # the per-archive check (the viewer's item status) does not look at reports
    assert verify_archives(ctx.session, [_archive(ctx)]).ok


# --- backup between two databases (AR-3) ------------------------------------------------------------------


@contextmanager
def _other_database(sqlite_template: Path, tmp_path: Path, clock) -> Iterator[EngineContext]:  # type: ignore[no-untyped-def]
    """A second Hedui database (a fresh migrated SQLite file) that really commits."""
    path = tmp_path / "city-platform.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    session = Session(engine, expire_on_commit=False)
    try:
        yield EngineContext(session, BpmnRuntime(clock, script_time_limit=2.0), clock)
    finally:
        session.close()
        engine.dispose()


def test_export_import_verify_between_two_databases(ctx, sqlite_template, tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    seeded(ctx)
    original = _archive(ctx)
    bundle, count = export_bundle(ctx, since=date(2026, 11, 1), key=KEY, actor=OPS)
    assert count == 1
    assert export_bundle(ctx, since=date(2026, 11, 24), key=KEY, actor=OPS)[1] == 0  # sealed on the 23rd
    with _other_database(sqlite_template, tmp_path, clock) as other:
        result = import_bundle(other, bundle, key=KEY, actor=OPS)
        other.session.commit()
        assert result.imported == [original.case_no] and result.skipped == []
        again = import_bundle(other, bundle, key=KEY, actor=OPS)  # idempotent
        other.session.commit()
        assert again.imported == [] and again.skipped == [original.case_no]
        copy = other.session.execute(select(Archive)).scalar_one()
        assert (copy.manifest, copy.manifest_sha256, copy.origin) == (original.manifest, original.manifest_sha256,
                                                                      "imported")
        report = verify_archives(other.session)
        assert report.ok and report.items_checked == 7
        assert other.session.execute(select(Event.kind).where(Event.kind == "archive_imported")).scalars().all() == [
            "archive_imported", "archive_imported"]


def _tampered(bundle: bytes, name: str, change) -> bytes:  # type: ignore[no-untyped-def]
    src, out = zipfile.ZipFile(io.BytesIO(bundle)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info.filename, change(data) if info.filename == name else data)
    return out.getvalue()


def test_a_bad_bundle_writes_nothing(ctx, sqlite_template, tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    seeded(ctx)
    bundle, _ = export_bundle(ctx, since=date(2026, 1, 1), key=KEY, actor=OPS)
    flipped = _tampered(bundle, "items/1/2", lambda b: b[:-1] + bytes([b[-1] ^ 1]))
    forged_index = _tampered(bundle, "bundle.json", lambda b: b.replace(b'"sealed_by": "archive"', b'"sealed_by": "x"'))
    with _other_database(sqlite_template, tmp_path, clock) as other:
        with pytest.raises(IntegrityError) as wrong_key:
            import_bundle(other, bundle, key=b"another key", actor=OPS)
        with pytest.raises(IntegrityError) as item:
            import_bundle(other, flipped, key=KEY, actor=OPS)
        with pytest.raises(IntegrityError) as index:
            import_bundle(other, forged_index, key=KEY, actor=OPS)
        assert (wrong_key.value.code, item.value.code, index.value.code) == (
            "bundle_signature", "bundle_digest", "bundle_signature")
        assert "第 2 项" in item.value.details["problems"][0]
        assert other.session.execute(select(Archive.id)).first() is None
        assert other.session.execute(select(ArchiveItem.id)).first() is None


def test_the_sweep_is_a_registered_job_on_the_timer_schedule(ctx) -> None:  # type: ignore[no-untyped-def]
    from engine.jobs import run_job
    from web.worker import celery_settings

    schedule = celery_settings({"TIMER_INTERVAL": 30, "BROKER_URL": "memory://"})["beat_schedule"]
    assert schedule["archives.seal_closed"]["args"] == ("archives.seal_closed", {})
    seeded(ctx)
    assert run_job(ctx, "archives.seal_closed") == 0  # the demo sealed its closed case already
