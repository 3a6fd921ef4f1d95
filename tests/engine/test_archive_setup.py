"""Archive tests that need a seed of their own (AR-1, AR-3): a retention set before sealing, a plugged-in
item kind, an import into a database without the demo's archive. The other archive tests share one
seed per module (``tests/engine/test_archives.py``)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from engine.archives import retention
from engine.archives.backup import export_bundle
from engine.archives.backup import import_bundle
from engine.archives.verify import verify_archives
from engine.errors import ConfigurationError
from tests.engine.archive_factory import seed
from tests.engine.test_archives import KEY
from tests.engine.test_archives import OPS
from tests.engine.test_archives import _archive
from tests.engine.test_archives import _other_database


def test_retention_is_configurable_per_record_type(ctx) -> None:  # type: ignore[no-untyped-def]
    ctx.archive_retention = retention.parse("authorisation=10, case_history=8")
    seed(ctx)
    manifest = json.loads(_archive(ctx).manifest)
    assert {i["kind"]: i["retention_years"] for i in manifest["items"]} == {
        "authorisation_scan": 10, "authorisation_pdf": 10, "entrustment_pdf": 5, "exchange_records": 5, "report_pdf": 5,
        "report_snapshot": 5, "case_history": 8}
    with pytest.raises(ConfigurationError):
        retention.parse("forever=1")


def test_a_new_item_kind_plugs_in_with_a_collector(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """How the exchange and report branches add their records: register a kind and a collector."""
    from engine.archives import kinds

    monkeypatch.setattr(kinds, "_COLLECTORS", list(kinds._COLLECTORS))
    monkeypatch.setitem(kinds.KINDS, "exchange_result", kinds.ItemKind("exchange_result", "数据交换结果", "exchange"))

    @kinds.collector(45)
    def results(ctx, household, stamp):  # type: ignore[no-untyped-def]
        return [kinds.ItemDraft("exchange_result", "不动产登记中心反馈", "result.json", "application/json",
                                b'{"status": "no_record"}', "exchange_result:1", stamp.at, "unit:CC-BDC")]

    ctx.archive_retention = {"exchange": 7}
    seed(ctx)
    manifest = json.loads(_archive(ctx).manifest)
    assert [i["kind"] for i in manifest["items"]] == ["authorisation_scan", "authorisation_pdf", "entrustment_pdf",
                                                       "exchange_records", "exchange_result", "report_pdf",
                                                       "report_snapshot", "case_history"]
    entry = manifest["items"][4]
    assert (entry["record_type"], entry["retention_years"], entry["created_by"]) == ("exchange", 7, "unit:CC-BDC")
    assert verify_archives(ctx.session).ok


def test_import_into_this_database_from_another(ctx, sqlite_template, tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    with _other_database(sqlite_template, tmp_path, clock) as county:
        seed(county)
        county.session.commit()
        bundle, _ = export_bundle(county, since=date(2026, 1, 1), key=KEY, actor=OPS)
    result = import_bundle(ctx, bundle, key=KEY, actor=OPS)
    assert len(result.imported) == 1
    assert verify_archives(ctx.session).ok and verify_archives(ctx.session).items_checked == 7
