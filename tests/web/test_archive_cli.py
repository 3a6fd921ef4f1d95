"""``hedui archive seal|verify|export|import`` (AR-1, AR-3, AR-4): a one-byte change is reported with case
and item, and a signed bundle goes from this database to another and verifies there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy import text

from engine.models.archive import Archive
from tests.engine.archive_factory import seed
from tests.engine.archive_factory import seeded

#: the demo region, the diagrams and the four demo cases, seeded once for the module
SEED_ONCE = seed


@pytest.fixture
def sealed(app) -> str:  # type: ignore[no-untyped-def]
    ctx = app.extensions["hedui"].new_context()
    case_no = seeded(ctx)[3].case_no
    ctx.session.commit()
    ctx.session.close()
    return case_no


def _drop_guard(connection, table: str, pg_trigger: str) -> None:  # type: ignore[no-untyped-def]
    """Someone with direct database access lifts the table's immutability trigger."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {pg_trigger}"))
    else:
        connection.execute(text(f"DROP TRIGGER {table}_no_update"))


def test_verify_passes_then_reports_a_one_byte_change(runner, sealed: str, connection) -> None:  # type: ignore[no-untyped-def]
    ok = runner.invoke(args=["archive", "verify"])
    assert ok.exit_code == 0 and "核验通过：1 份档案、7 个项目" in ok.output
    _drop_guard(connection, "archive_item_blobs", "archive_item_blobs_immutable")
    where = " WHERE item_id = (SELECT id FROM archive_items WHERE position = 3)"
    content = bytearray(connection.execute(text("SELECT content FROM archive_item_blobs" + where)).scalar())
    content[19] ^= 0x01  # one bit of one byte
    connection.execute(text("UPDATE archive_item_blobs SET content = :c" + where), {"c": bytes(content)})
    bad = runner.invoke(args=["archive", "verify"])
    assert bad.exit_code == 1
    assert f"{sealed} 第 3 项「委托书」：项目内容与清单中的 SHA-256 不符" in bad.output
    assert "第 1 项" not in bad.output and "第 2 项" not in bad.output


def test_verify_reports_a_changed_report_snapshot_with_its_number(runner, sealed: str, connection) -> None:  # type: ignore[no-untyped-def]
    """DO-7: the report row's snapshot is checked against its digest, not only the archive's copy."""
    ok = runner.invoke(args=["archive", "verify"])
    assert ok.exit_code == 0 and "1 份报告，摘要全部一致" in ok.output
    _drop_guard(connection, "reports", "reports_immutable")
    number, content = connection.execute(text("SELECT number, content FROM reports")).one()
    changed = content.replace('"copies":2', '"copies":3')  # one byte
    assert len(changed.encode()) == len(content.encode()) and changed != content
    connection.execute(text("UPDATE reports SET content = :c"), {"c": changed})
    bad = runner.invoke(args=["archive", "verify"])
    assert bad.exit_code == 1
    assert f"{sealed} 报告 {number}：报告内容与其 SHA-256 不符" in bad.output
    assert "第 " not in bad.output  # the archive's sealed copy is intact


def test_seal_is_a_no_op_when_everything_is_sealed(runner, sealed: str) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["archive", "seal"])
    assert result.exit_code == 0 and "已封存 0 份档案" in result.output


def test_export_then_import_into_another_database_and_verify(app, runner, sealed: str, sqlite_template: Path,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path, clock) -> None:
    from web import create_app

    bundle = tmp_path / "backup.zip"
    exported = runner.invoke(args=["archive", "export", "--since", "2026-11-01", str(bundle)])
    assert exported.exit_code == 0 and "已导出 1 份档案" in exported.output and bundle.exists()
    path = tmp_path / "city.db"
    shutil.copy(sqlite_template, path)
    city = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{path}", "CLOCK": clock,
                       "SECRET_KEY": "test-secret"})
    city_runner = city.test_cli_runner()
    first = city_runner.invoke(args=["archive", "import", str(bundle)])
    again = city_runner.invoke(args=["archive", "import", str(bundle)])
    assert first.exit_code == 0 and "导入 1 份档案，跳过已有的 0 份" in first.output
    assert again.exit_code == 0 and "导入 0 份档案，跳过已有的 1 份" in again.output
    verified = city_runner.invoke(args=["archive", "verify"])
    assert verified.exit_code == 0 and "核验通过：1 份档案、7 个项目" in verified.output
    with city.extensions["hedui"].session_factory() as session:
        assert session.execute(select(Archive.case_no, Archive.origin)).all() == [(sealed, "imported")]
    # a platform with another key refuses the bundle and writes nothing
    path2 = tmp_path / "other.db"
    shutil.copy(sqlite_template, path2)
    other = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{path2}", "CLOCK": clock,
                        "SECRET_KEY": "test-secret", "ARCHIVE_KEY": "a-different-archive-key-0123456789"})
    refused = other.test_cli_runner().invoke(args=["archive", "import", str(bundle)])
    assert refused.exit_code == 1 and "签名无效" in refused.output
    with other.extensions["hedui"].session_factory() as session:
        assert session.execute(select(Archive.id)).first() is None
    for each in (city, other):
        each.extensions["hedui"].db_engine.dispose()


def test_the_retention_setting_is_validated_at_start_up() -> None:
    from engine.errors import ConfigurationError
    from web import create_app

    with pytest.raises(ConfigurationError, match="HEDUI_ARCHIVE_RETENTION"):
        create_app({"ENV": "testing", "DATABASE_URL": "sqlite://", "ARCHIVE_RETENTION": "reports=ever"})


def test_production_refuses_a_bundle_without_an_archive_key(tmp_path: Path) -> None:
    from web import create_app

    app = create_app({"ENV": "production", "DATABASE_URL": "sqlite://", "SECRET_KEY": "s" * 40})
    result = app.test_cli_runner().invoke(args=["archive", "export", "--since", "2026-01-01",
                                                str(tmp_path / "b.zip")])
    assert result.exit_code == 1 and "HEDUI_ARCHIVE_KEY" in result.output
    assert not (tmp_path / "b.zip").exists()
