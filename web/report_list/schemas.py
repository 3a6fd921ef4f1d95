"""The report list's filters, read from a query string by the page and the API alike.

Nothing is silently dropped: a bad date, an unknown state or kind, an over-long text or an ID number
comes back as the field's Chinese message (the page shows it by the filter and lists nothing; the API
answers 422). An ID number is refused: searching by it is 案件查询's, with a purpose, recorded (SEC-12).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.reports.content import KIND_NAMES
from engine.reports.listing import STATE_NAMES
from engine.reports.listing import TEXT_MAX
from engine.reports.listing import ReportFilter
from forms.ids import mask_id
from forms.text import CONTROL
from forms.text import MESSAGE as CONTROL_MESSAGE
from web.cases.schemas import looks_like_id_number
from web.home.schemas import optional_date

PAGE_SIZE = 20
ID_NUMBER_MESSAGE = "不能按身份证号码查询核对报告：请在「案件查询」中按身份证号码查询（须选择查询用途，查询将被记录）"
FIELDS = ("issued_from", "issued_to", "state", "kind", "q")


@dataclass(frozen=True)
class Parsed:
    filter: ReportFilter
    #: field -> Chinese messages (empty: valid)
    errors: dict[str, list[str]]
    #: the values to show back in the form (as typed, an ID number masked)
    shown: dict[str, str]

    def args(self, **extra: Any) -> dict[str, Any]:
        """Query arguments for a link to this list with the same filters (empty ones left out)."""
        return {**{k: v for k, v in self.shown.items() if v}, **extra}


def _choice(raw: str, name: str, choices: Mapping[str, str], errors: dict[str, list[str]]) -> str | None:
    if raw and raw not in choices:
        errors[name] = ["请从列表中选择"]
        return None
    return raw or None


def _text(raw: str, errors: dict[str, list[str]]) -> str | None:
    if len(raw) > TEXT_MAX:
        errors["q"] = [f"不能超过 {TEXT_MAX} 个字符"]
    elif CONTROL.search(raw):
        errors["q"] = [CONTROL_MESSAGE]
    elif looks_like_id_number(raw):
        errors["q"] = [ID_NUMBER_MESSAGE]
    else:
        return raw or None
    return None


def parse_filter(args: Mapping[str, str]) -> Parsed:
    """The filters asked for, each bad one with its message."""
    raw = {name: (args.get(name) or "").strip() for name in FIELDS}
    errors: dict[str, list[str]] = {}
    issued_from = optional_date(raw["issued_from"], "issued_from", errors)
    issued_to = optional_date(raw["issued_to"], "issued_to", errors)
    if issued_from and issued_to and issued_from > issued_to:
        errors["issued_to"] = ["截止日期不能早于起始日期"]
    f = ReportFilter(issued_from=issued_from, issued_to=issued_to,
                     state=_choice(raw["state"], "state", STATE_NAMES, errors),
                     kind=_choice(raw["kind"], "kind", KIND_NAMES, errors), text=_text(raw["q"], errors))
    shown = {name: CONTROL.sub("", value)[:200] for name, value in raw.items()}
    if looks_like_id_number(raw["q"]):
        shown["q"] = mask_id(raw["q"])  # never back into the page in full
    return Parsed(f, errors, shown)
