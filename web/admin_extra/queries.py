"""What the calendar editor and the policy page show (changes go through engine.calendar / engine.policy)."""

from __future__ import annotations

import calendar as monthcal
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import ADMIN_SOURCE_PREFIX
from engine.models import CalendarDay
from engine.models import CalendarYear
from engine.models import PolicyOverride
from engine.policy import PROFILES
from engine.policy import SETTINGS
from engine.policy import WINDOW_KINDS
from engine.policy import Policy
from engine.policy import Setting

KIND_NAMES = {"workday": "工作日", "weekend": "休息日", "holiday": "节假日", "makeup_workday": "调休上班日"}
WEEKDAY_NAMES = ("一", "二", "三", "四", "五", "六", "日")
#: the kinds a day may take: Monday–Friday, or Saturday and Sunday (engine.calendar._validate_day)
WEEKDAY_KINDS = ("workday", "holiday")
WEEKEND_KINDS = ("weekend", "holiday", "makeup_workday")


@dataclass(frozen=True)
class DayCell:
    day: date
    kind: str | None
    name: str | None
    edited: bool

    @property
    def label(self) -> str:
        kind = KIND_NAMES.get(self.kind or "", "无数据")
        return f"{self.day.month}月{self.day.day}日 星期{WEEKDAY_NAMES[self.day.weekday()]} {kind}" + (
            f"（{self.name}）" if self.name else "")


@dataclass(frozen=True)
class Month:
    month: int
    weeks: list[list[DayCell | None]]


def year_grid(session: Session, year: int) -> list[Month]:
    """Twelve months of Monday-first weeks; days without a row have ``kind`` None."""
    rows = {r.day: r for r in session.execute(select(CalendarDay).where(
        CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))).scalars()}
    months = []
    for month in range(1, 13):
        weeks = []
        for week in monthcal.Calendar(firstweekday=0).monthdatescalendar(year, month):
            weeks.append([_cell(day, rows.get(day)) if day.month == month else None for day in week])
        months.append(Month(month, weeks))
    return months


def _cell(day: date, row: CalendarDay | None) -> DayCell:
    if row is None:
        return DayCell(day, None, None, False)
    return DayCell(day, row.kind.value, row.name, row.source.startswith(ADMIN_SOURCE_PREFIX))


def year_status(session: Session, year: int) -> CalendarYear | None:
    return session.get(CalendarYear, year)


def allowed_kinds(day: date) -> list[tuple[str, str]]:
    kinds = WEEKEND_KINDS if day.weekday() >= 5 else WEEKDAY_KINDS
    return [(k, KIND_NAMES[k]) for k in kinds]


# --- policy ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRow:
    setting: Setting
    value: Any
    profile_value: Any
    override: PolicyOverride | None

    @property
    def key(self) -> str:
        return self.setting.key


def policy_rows(session: Session, policy: Policy) -> list[PolicyRow]:
    values = policy.values()
    overrides = {o.key: o for o in session.execute(select(PolicyOverride)).scalars()}
    return [PolicyRow(s, values[key], PROFILES[policy.profile][key],
                      overrides.get(key) if key in policy.overridden else None)
            for key, s in SETTINGS.items()]


def show_value(setting: Setting, value: Any) -> str:
    """A policy value in Chinese, with its unit."""
    if value is None:
        return "不适用"
    if setting.kind == "choice":
        return str(setting.choices.get(value, value))
    if setting.kind == "windows":
        return "；".join(f"{WINDOW_KINDS.get(k, k)}：每月 {v[0]}–{v[1]} 日" for k, v in sorted(dict(value).items()))
    return f"{value} {setting.unit}"
