"""Configuration: documented defaults, then ``HEDUI_*`` environment variables, then test overrides.

This is the only module that reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.archives import retention
from engine.errors import ConfigurationError
from engine.policy import PROFILES

INSTANCE_DIR = Path(os.environ.get("HEDUI_INSTANCE_DIR", Path.cwd() / "instance"))

#: name -> (default, description); every setting Hedui reads, documented in README.md
SETTINGS: dict[str, tuple[Any, str]] = {
    "ENV": ("development", "development | production; production refuses unsafe defaults"),
    "SECRET_KEY": (None, "session signing key; required in production"),
    "DATABASE_URL": (f"sqlite:///{INSTANCE_DIR / 'hedui.db'}", "SQLAlchemy URL (sqlite:///... or postgresql+psycopg://...)"),
    "JOBS": ("inprocess", "background jobs: inprocess | celery"),
    "BROKER_URL": ("redis://127.0.0.1:6379/0", "Celery broker when JOBS=celery (redis:// or amqp://)"),
    "TIMER_INTERVAL": (30, "seconds between due-timer sweeps (in-process ticker and celery beat)"),
    "SCRIPT_TIME_LIMIT": (2.0, "seconds a diagram script or expression may run"),
    "BPMN_DIR": (str(Path(__file__).resolve().parent.parent / "bpmn"),
                 "directory `hedui bpmn deploy` reads by default"),
    "LOG_LEVEL": ("INFO", "root log level"),
    "SESSION_IDLE_MINUTES": (30, "minutes without a request after which a browser session ends (server-side check)"),
    "EXCHANGE_SIMULATOR": ("off", "on: simulated sharing units answer in process (demo); refused in production"),
    "MAX_UPLOAD_MB": (512, "largest request body in MB (uploads: scans, data packages); larger ones get 413"),
    "DRAFT_RETENTION_DAYS": (30, "days an intake draft may sit untouched before the retention job deletes it"),
    "PACKAGE_RETENTION_DAYS": (14, "days an uploaded data package that was never imported is kept"),
    "RECHECK_BATCH_STALE_MINUTES": (15, "minutes without progress after which a recheck batch counts as interrupted "
                                        "(shown as 已中断, resumed by the periodic job)"),
    "MIGRATION_RUN_STALE_MINUTES": (15, "minutes without progress after which a background 版本迁移 run counts as "
                                        "interrupted (shown as 已中断, resumed by the periodic job)"),
    "RETENTION_INTERVAL": (3600, "seconds between retention sweeps (in-process ticker and celery beat)"),
    "CROSS_CITY_GATHER_INTERVAL": (86400, "seconds between the city agencies' gatherings of cross-city requests "
                                          "into batches (PS-7; in-process ticker and celery beat)"),
    "POLICY_PROFILE": ("jilin", "policy profile: jilin | baoji (time limits, monthly windows; engine/policy.py)"),
    "TRUSTED_PROXIES": (0, "reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted"),
    "ARCHIVE_KEY": (None, "HMAC key signing archive backup bundles (AR-3), the same on the county and city "
                          "platforms; export/import require it in production, otherwise derived from SECRET_KEY"),
    "ARCHIVE_RETENTION": ("", "retention years per archive record type overriding the default of 5, "
                              "e.g. authorisation=10,case_history=8 (engine/archives/retention.py)"),
}
_INT = {"TIMER_INTERVAL", "SESSION_IDLE_MINUTES", "TRUSTED_PROXIES", "MAX_UPLOAD_MB", "DRAFT_RETENTION_DAYS",
        "PACKAGE_RETENTION_DAYS", "RETENTION_INTERVAL", "RECHECK_BATCH_STALE_MINUTES", "CROSS_CITY_GATHER_INTERVAL",
        "MIGRATION_RUN_STALE_MINUTES"}
_FLOAT = {"SCRIPT_TIME_LIMIT"}
_DEV_SECRET = "dev-only-not-secret"  # noqa: S105 -- a default that production refuses (validate_config)


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults < ``HEDUI_<NAME>`` environment variables < ``overrides``; typed and validated."""
    config = {name: default for name, (default, _) in SETTINGS.items()}
    for name in SETTINGS:
        raw = os.environ.get(f"HEDUI_{name}")
        if raw is not None and raw != "":
            config[name] = _typed(name, raw)
    for name, value in (overrides or {}).items():
        config[name] = value
    if config["SECRET_KEY"] is None and config["ENV"] != "production":
        config["SECRET_KEY"] = _DEV_SECRET
    validate_config(config)
    return config


def _typed(name: str, raw: str) -> Any:
    try:
        if name in _INT:
            return int(raw)
        if name in _FLOAT:
            return float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"HEDUI_{name} 应为数字，实际为 {raw!r}") from exc
    return raw


def validate_config(config: Mapping[str, Any]) -> None:
    """Fail fast on a configuration that cannot work or is unsafe."""
    problems = []
    if config["ENV"] not in ("development", "production", "testing"):
        problems.append("HEDUI_ENV 须为 development、production 或 testing")
    if config["ENV"] == "production" and (not config["SECRET_KEY"] or config["SECRET_KEY"] == _DEV_SECRET):
        problems.append("生产环境必须设置 HEDUI_SECRET_KEY")
    if config["ENV"] == "production" and len(str(config["SECRET_KEY"] or "")) < 32:
        problems.append("HEDUI_SECRET_KEY 至少 32 个字符")
    if config["JOBS"] not in ("inprocess", "celery"):
        problems.append("HEDUI_JOBS 须为 inprocess 或 celery")
    if not str(config["DATABASE_URL"]).startswith(("sqlite", "postgresql")):
        problems.append("HEDUI_DATABASE_URL 仅支持 sqlite 与 postgresql")
    if int(config["TIMER_INTERVAL"]) < 1:
        problems.append("HEDUI_TIMER_INTERVAL 至少为 1 秒")
    if not 0 <= int(config["TRUSTED_PROXIES"]) <= 5:
        problems.append("HEDUI_TRUSTED_PROXIES 须为 0–5")
    if not 1 <= int(config["SESSION_IDLE_MINUTES"]) <= 24 * 60:
        problems.append("HEDUI_SESSION_IDLE_MINUTES 须为 1–1440 分钟")
    try:
        retention.parse(config.get("ARCHIVE_RETENTION"))
    except ConfigurationError as exc:
        problems.append(exc.message)
    if config["EXCHANGE_SIMULATOR"] not in ("on", "off"):
        problems.append("HEDUI_EXCHANGE_SIMULATOR 须为 on 或 off")
    elif config["EXCHANGE_SIMULATOR"] == "on" and config["ENV"] == "production":
        problems.append("生产环境不能启用模拟信息共享单位（HEDUI_EXCHANGE_SIMULATOR）")
    if not 1 <= int(config["MAX_UPLOAD_MB"]) <= 4096:
        problems.append("HEDUI_MAX_UPLOAD_MB 须为 1–4096（MB）")
    for name in ("DRAFT_RETENTION_DAYS", "PACKAGE_RETENTION_DAYS"):
        if not 1 <= int(config[name]) <= 3650:
            problems.append(f"HEDUI_{name} 须为 1–3650 天")
    for name in ("RECHECK_BATCH_STALE_MINUTES", "MIGRATION_RUN_STALE_MINUTES"):
        if not 1 <= int(config[name]) <= 1440:
            problems.append(f"HEDUI_{name} 须为 1–1440 分钟")
    if int(config["RETENTION_INTERVAL"]) < 60:
        problems.append("HEDUI_RETENTION_INTERVAL 至少为 60 秒")
    if int(config["CROSS_CITY_GATHER_INTERVAL"]) < 60:
        problems.append("HEDUI_CROSS_CITY_GATHER_INTERVAL 至少为 60 秒")
    if config["POLICY_PROFILE"] not in PROFILES:
        problems.append(f"HEDUI_POLICY_PROFILE 须为 {' 或 '.join(PROFILES)}")
    if problems:
        raise ConfigurationError("配置错误: " + "；".join(problems), problems=problems)
