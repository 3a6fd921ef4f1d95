"""``hedui exchange unit|run|simulate``: catalogue upkeep without showing secrets, the sweep, the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.exchange.batches import confirm_batch
from engine.exchange.batches import prepare_batch
from engine.exchange.media_mode import export_batch
from engine.models import Event
from engine.models.exchange import ExchangeKey
from tests.engine.exchange_factory import IN_WINDOW
from tests.engine.exchange_factory import case_in_exchange
from tests.engine.exchange_factory import officer
from tests.engine.exchange_factory import setup_exchange


def test_unit_commands_never_print_or_log_secrets(runner: Any, app: Any, clock: Any, tmp_path: Path) -> None:
    ctx = app.extensions["hedui"].new_context()
    setup_exchange(ctx, clock)
    ctx.session.commit()
    listed = runner.invoke(args=["exchange", "unit", "list"])
    assert listed.exit_code == 0 and "CC-BANK" in listed.output and "系统与介质并行" in listed.output
    changed = runner.invoke(args=["exchange", "unit", "set", "CC-BDC", "--mode", "both", "--endpoint",
                                  "https://bdc.example/hedui", "--categories", "real_estate,housing_transactions"])
    assert changed.exit_code == 0, changed.output
    bad = runner.invoke(args=["exchange", "unit", "set", "CC-BDC", "--mode", "system"])
    assert bad.exit_code == 1 and "接口地址" in bad.output
    rotated = runner.invoke(args=["exchange", "unit", "rotate-key", "CC-BDC"])
    assert rotated.exit_code == 0 and "新密钥编号：CC-BDC-k2-" in rotated.output
    agreement = tmp_path / "协议.pdf"
    agreement.write_bytes(b"%PDF-1.4 agreement")
    recorded = runner.invoke(args=["exchange", "unit", "agreement", "CC-BDC", "--number", "协议〔2026〕9号",
                                   "--title", "数据交换与保密协议", "--file", str(agreement), "--from", "2026-01-01"])
    assert recorded.exit_code == 0, recorded.output
    session = app.extensions["hedui"].new_context().session
    secrets = [k.secret.hex() for k in session.execute(select(ExchangeKey)).scalars()]
    payloads = " ".join(str(p) for p in session.execute(select(Event.payload)).scalars())
    everything = listed.output + changed.output + rotated.output + recorded.output + payloads
    assert secrets and not any(s in everything for s in secrets)


def test_run_and_simulate(runner: Any, app: Any, clock: Any, tmp_path: Path) -> None:
    ctx = app.extensions["hedui"].new_context()
    setup_exchange(ctx, clock)
    case_in_exchange(ctx, ["CC-BDC"])
    ctx.session.commit()
    assert "新请求 1" in runner.invoke(args=["exchange", "run"]).output
    clock.set(IN_WINDOW)
    ctx = app.extensions["hedui"].new_context()
    batch = prepare_batch(ctx, "CC-BDC", actor=officer(ctx, "cy_exchange_1"))
    confirm_batch(ctx, batch.id, actor=officer(ctx, "cy_exchange_2"))
    with (tmp_path / "out.hdpkg").open("wb") as out:
        export_batch(ctx, batch.id, out, actor=officer(ctx, "cy_exchange_1"))
    ctx.session.commit()
    clock.advance(days=3)  # CC-BDC answers three working days later in the demo profile
    result = runner.invoke(args=["exchange", "simulate", "--packages", str(tmp_path / "answers")])
    assert result.exit_code == 0 and "介质反馈包 1 个" in result.output, result.output
    assert (tmp_path / "answers" / f"{batch.batch_no}-answer.hdpkg").read_bytes().startswith(b"HEDUIPKG")


def test_the_sweep_is_scheduled_and_the_simulator_never_in_production() -> None:
    from engine.errors import ConfigurationError
    from engine.jobs import job_names
    from web.config import load_config
    from web.config import validate_config
    from web.worker import celery_settings

    assert {"exchange.run", "exchange.send_due", "exchange.collect", "exchange.mark_overdue"} <= set(job_names())
    config = load_config({"ENV": "testing"})
    assert celery_settings(config)["beat_schedule"]["exchange.run"]["args"] == ("exchange.run", {})
    with pytest.raises(ConfigurationError) as refused:
        validate_config({**config, "ENV": "production", "SECRET_KEY": "x" * 40, "EXCHANGE_SIMULATOR": "on"})
    assert "HEDUI_EXCHANGE_SIMULATOR" in str(refused.value.details) + refused.value.message
