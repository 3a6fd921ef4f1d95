"""Retention periods per record type (ARC-03/04), configuration with a documented default.

No MZ/T 075-2016 text is available (domain notes STD-03). The longest rule the notes give is
the 低保 archive guidance: 日常管理类 archives at least **5 years** (审批类: 3 years after assistance
stops). Every record type therefore defaults to 5 years; a deployment overrides any type with
``HEDUI_ARCHIVE_RETENTION`` ("authorisation=10,case_history=8"). The period is written into each
item's manifest entry, so the archive itself shows it.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.errors import ConfigurationError

DEFAULT_YEARS = 5
#: record types (the ``record_type`` of each item kind) and their Chinese names
RECORD_TYPES = {
    "authorisation": "授权材料",
    "entrustment": "委托材料",
    "exchange": "数据交换记录",
    "report": "核对报告",
    "review": "复核材料",
    "case_history": "办理过程记录",
}


def parse(text: str | None) -> dict[str, int]:
    """``"authorisation=10,case_history=8"`` -> ``{"authorisation": 10, "case_history": 8}``; validated."""
    out: dict[str, int] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, _, years = part.partition("=")
        name = name.strip()
        if name not in RECORD_TYPES or not years.strip().isdigit() or int(years) < 1:
            raise ConfigurationError(f"HEDUI_ARCHIVE_RETENTION 无法识别：{part.strip()!r}（格式：类型=年数，"
                                     f"类型为 {'、'.join(RECORD_TYPES)}）")
        out[name] = int(years)
    return out


def years_for(record_type: str, overrides: Mapping[str, int] | None) -> int:
    return int((overrides or {}).get(record_type, DEFAULT_YEARS))
