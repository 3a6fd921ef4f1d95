"""Policy profiles (PS-10, PS-11): a region's time limits and monthly calendar, as data.

Where the two source regulations differ, Hedui offers both as a profile chosen per
deployment (``HEDUI_POLICY_PROFILE``: ``jilin`` or ``baoji``); an administrator may
override single values (:func:`set_override`), every change is an event on the
system stream. The effective policy is the profile plus the overrides
(:func:`effective_policy`).

Units matter: ``工作日`` values count working days on the official calendar
(``engine.calendar``, CAL-04: the start day is not counted); ``日`` values are calendar
days; the Jilin monthly windows are days of the month (JL 规程 四).

The catalogue (profiles, settings, value checks) is :mod:`engine.policy_settings`; its names are
re-exported here.

Assumptions the regulations leave open (configurable, documented in ``SETTINGS``):

* ``material_completion_days`` — Baoji 第十六条（二） says "限期补齐" without a number:
  5 working days by default.
* ``decision_feedback_days`` — Baoji sets no deadline for the entrusting unit's decision
  feedback (PS-12): 10 working days after the report is delivered, by analogy with the
  county's 10 working days to decide (民发〔2021〕57号 第二十条).
* A day-of-month deadline (Jilin: day 10 of the next month) that falls on a day off moves
  to the next working day (民法典 第二百零三条), as does the end of the objection window.
"""

from __future__ import annotations

import calendar as _monthcal
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from types import MappingProxyType
from typing import Any
from typing import Protocol

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import ConfigurationError
from engine.errors import ValidationError
from engine.history import SYSTEM_STREAM
from engine.history import append_event
from engine.models import PolicyOverride
from engine.policy_settings import DEFAULT_PROFILE
from engine.policy_settings import LEGAL_BASIS
from engine.policy_settings import MEMBER_LISTS
from engine.policy_settings import PROFILE_NAMES
from engine.policy_settings import PROFILES
from engine.policy_settings import SETTINGS
from engine.policy_settings import SHANGHAI
from engine.policy_settings import TIERING_MODES
from engine.policy_settings import WINDOW_KINDS
from engine.policy_settings import Setting
from engine.policy_settings import combined_problems
from engine.policy_settings import validate_value

__all__ = [
    "DEFAULT_PROFILE", "LEGAL_BASIS", "MEMBER_LISTS", "PROFILES", "PROFILE_NAMES", "SETTINGS", "SHANGHAI",
    "TIERING_MODES", "WINDOW_KINDS", "CalendarLike", "Policy", "Setting", "clear_override", "effective_policy",
    "set_override", "validate_value",
]


class CalendarLike(Protocol):
    """What the policy needs from ``engine.calendar.WorkingCalendar``."""

    def is_workday(self, day: date) -> bool: ...

    def add_working_days(self, start: date, n: int) -> date: ...

    def deadline(self, start: datetime, n: int) -> datetime: ...



# --- the effective policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """The effective values for one deployment: a profile plus the administrator's overrides."""

    profile: str
    county_check_days: int
    city_check_days: int
    reverification_days: int
    sharing_reply_days: int
    sharing_delay_max_days: int
    material_completion_days: int
    objection_window_days: int
    report_validity_months: int
    report_income_months: int
    decision_feedback_day: int | None
    decision_feedback_days: int | None
    #: window kind -> (first day, last day) of each month; None: no monthly calendar
    monthly_windows: Mapping[str, tuple[int, int]] | None
    member_inclusion_list: str
    #: single | tiered | province (TIERING_MODES)
    verification_tiering: str
    #: the keys whose value comes from an override rather than the profile
    overridden: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(cls, profile: str, overrides: Mapping[str, Any] | None = None) -> Policy:
        """The profile's values with ``overrides`` applied (each validated)."""
        if profile not in PROFILES:
            raise ConfigurationError(f"未知的政策配置「{profile}」；可选：{'、'.join(PROFILES)}", profile=profile)
        overrides = {k: validate_value(k, v) for k, v in (overrides or {}).items()}
        values = {**PROFILES[profile], **overrides}
        problems = combined_problems(values)
        if problems:
            raise ConfigurationError("政策配置无效：" + "；".join(problems), problems=problems)
        windows = values.pop("monthly_windows")
        frozen = None if windows is None else MappingProxyType({k: (v[0], v[1]) for k, v in windows.items()})
        return cls(profile=profile, monthly_windows=frozen, overridden=frozenset(overrides), **values)

    def values(self) -> dict[str, Any]:
        """The effective values as JSON (what the API shows and an override would store)."""
        out = {key: getattr(self, key) for key in SETTINGS}
        if self.monthly_windows is not None:
            out["monthly_windows"] = {k: list(v) for k, v in self.monthly_windows.items()}
        return out

    # --- time limits handed to the diagrams ----------------------------------------------------------

    def verification_days(self, *, from_lower_agency: bool = False) -> int:
        """County check (10) or a check entrusted to the higher agency (15), in working days (PS-10)."""
        return self.city_check_days if from_lower_agency else self.county_check_days

    def standard_verification_data(self, *, from_lower_agency: bool = False) -> dict[str, int]:
        """The time-limit start data of ``standard_verification``."""
        return {"exchange_days": self.sharing_reply_days, "delay_days": self.sharing_delay_max_days,
                "verification_days": self.verification_days(from_lower_agency=from_lower_agency)}

    def street_intake_data(self) -> dict[str, int]:
        """The time-limit start data of ``street_intake``."""
        return {"material_days": self.material_completion_days}

    def feedback_due(self, delivered_at: datetime, calendar: CalendarLike) -> datetime:
        """When the entrusting unit's assistance decision is due (PS-12), end of day in Beijing.

        Jilin: day ``decision_feedback_day`` of the month after delivery (moved to the next
        working day when that is a day off); otherwise ``decision_feedback_days`` working days.
        """
        if delivered_at.tzinfo is None or delivered_at.utcoffset() is None:
            raise ValidationError("送达时间必须带时区", code="naive_datetime")
        if self.decision_feedback_day is None:
            assert self.decision_feedback_days is not None  # Policy.build refuses both empty
            return calendar.deadline(delivered_at, self.decision_feedback_days)
        local = delivered_at.astimezone(SHANGHAI).date()
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        due = date(year, month, min(self.decision_feedback_day, _monthcal.monthrange(year, month)[1]))
        return datetime.combine(_next_workday(due, calendar), time.max, tzinfo=SHANGHAI)

    def decision_feedback_data(self, case_no: str, delivered_at: datetime, calendar: CalendarLike,
                               **extra: Any) -> dict[str, Any]:
        """Start data of ``decision_feedback``: the case and the ISO ``feedback_due``."""
        return {"case_no": case_no, "feedback_due": self.feedback_due(delivered_at, calendar).isoformat(), **extra}

    def objection_deadline(self, notified_on: date, calendar: CalendarLike | None = None) -> date:
        """Last day to ask for re-verification, ``objection_window_days`` calendar days after notice (PS-13)."""
        last = notified_on + timedelta(days=self.objection_window_days)
        return last if calendar is None else _next_workday(last, calendar)

    @property
    def legal_basis(self) -> tuple[str, ...]:
        """The regulations the report cover names (the profile's, not overridable: they are law, not settings)."""
        return LEGAL_BASIS[self.profile]

    def income_period(self, entrusted_on: date) -> tuple[date, date]:
        """The report's income period: the ``report_income_months`` whole months before the entrustment month.

        Entrusted on 2026-11-20 with 12 months: 2025-11-01 to 2026-10-31.
        """
        last = entrusted_on.replace(day=1) - timedelta(days=1)
        months = last.year * 12 + last.month - self.report_income_months
        return date(months // 12, months % 12 + 1, 1), last

    def report_valid_until(self, issued_on: date) -> date:
        """The last day a report is valid (民法典 第二百零二条: the corresponding day of the last month)."""
        months = issued_on.month - 1 + self.report_validity_months
        year, month = issued_on.year + months // 12, months % 12 + 1
        return date(year, month, min(issued_on.day, _monthcal.monthrange(year, month)[1]))

    # --- the monthly windows (warn, never block) -----------------------------------------------------

    def window(self, kind: str, year: int, month: int) -> tuple[date, date] | None:
        """The ``kind`` window of a month, or None when this policy has none for it."""
        if kind not in WINDOW_KINDS:
            raise ValidationError(f"未知的业务时段「{kind}」", code="unknown_window", kind=kind)
        bounds = (self.monthly_windows or {}).get(kind)
        if bounds is None:
            return None
        last_of_month = _monthcal.monthrange(year, month)[1]
        return date(year, month, min(bounds[0], last_of_month)), date(year, month, min(bounds[1], last_of_month))

    def in_window(self, kind: str, day: date) -> bool:
        """Whether ``kind`` work on ``day`` is inside its monthly window (always, without windows)."""
        period = self.window(kind, day.year, day.month)
        return period is None or period[0] <= day <= period[1]

    def next_window_start(self, kind: str, day: date) -> date:
        """The first day on or after ``day`` on which the ``kind`` window is open (``day`` when it is)."""
        period = self.window(kind, day.year, day.month)
        if period is None or period[0] <= day <= period[1]:
            return day
        if day < period[0]:
            return period[0]
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        following = self.window(kind, year, month)
        assert following is not None
        return following[0]

    def window_warning(self, kind: str, day: date) -> str | None:
        """A Chinese warning when ``kind`` work on ``day`` is outside its window; None otherwise."""
        if self.in_window(kind, day):
            return None
        first, last = self.window(kind, day.year, day.month)  # type: ignore[misc]
        start = self.next_window_start(kind, day)
        return (f"按{PROFILE_NAMES[self.profile]}的月度时段，每月 {first.day}–{last.day} 日{WINDOW_KINDS[kind]}；"
                f"{day.month} 月 {day.day} 日不在该时段内，下一时段自 {start.month} 月 {start.day} 日开始"
                "（仅提示，不影响办理）。")


def _next_workday(day: date, calendar: CalendarLike) -> date:
    """``day`` itself when worked, else the next working day (民法典 第二百零三条)."""
    return day if calendar.is_workday(day) else calendar.add_working_days(day, 1)


# --- services ----------------------------------------------------------------------------------------------


def _overrides(ctx: EngineContext) -> dict[str, Any]:
    rows = ctx.session.execute(select(PolicyOverride.key, PolicyOverride.value)).all()
    # a key retired from SETTINGS keeps its row (history) but no longer applies
    return {key: value for key, value in rows if key in SETTINGS}


def effective_policy(ctx: EngineContext, profile: str | None = None) -> Policy:
    """The deployment's policy: ``profile`` (default ``jilin``) plus the stored overrides."""
    return Policy.build(profile or DEFAULT_PROFILE, _overrides(ctx))


def _check_every_profile(overrides: Mapping[str, Any], key: str) -> None:
    # overrides outlive a change of HEDUI_POLICY_PROFILE, so they must make sense with every profile
    for name, values in PROFILES.items():
        problems = combined_problems({**values, **overrides})
        if problems:
            raise ValidationError(f"与政策配置「{name}」组合后无效：{problems[0]}", code="policy_conflict",
                                  fields={key: problems})


def set_override(ctx: EngineContext, key: str, value: Any, *, actor: Actor) -> PolicyOverride:
    """Override one policy value (validated by type and range); the change is an event.

    :raises ValidationError: unknown key, wrong type or range, or a combination no profile can use.
    """
    if not actor.username:
        raise ValidationError(fields={"actor": ["缺少操作人"]})
    value = validate_value(key, value)
    _check_every_profile({**_overrides(ctx), key: value}, key)
    row = ctx.session.get(PolicyOverride, key)
    previous = {"value": row.value} if row is not None else None
    if row is None:
        row = PolicyOverride(key=key)
        ctx.session.add(row)
    row.value, row.set_by, row.set_at = value, actor.username, ctx.now()
    ctx.session.flush()
    append_event(ctx, stream=SYSTEM_STREAM, kind="policy_override_set", actor=actor,
                 payload={"key": key, "value": value, "previous": previous})
    return row


def clear_override(ctx: EngineContext, key: str, *, actor: Actor) -> bool:
    """Return ``key`` to its profile value; False when it was not overridden."""
    if key not in SETTINGS:
        raise ValidationError(f"未知的政策参数「{key}」", code="unknown_policy_key", fields={"key": ["未知的政策参数"]})
    row = ctx.session.get(PolicyOverride, key)
    if row is None:
        return False
    remaining = {k: v for k, v in _overrides(ctx).items() if k != key}
    _check_every_profile(remaining, key)
    previous = row.value
    ctx.session.delete(row)
    ctx.session.flush()
    append_event(ctx, stream=SYSTEM_STREAM, kind="policy_override_cleared", actor=actor,
                 payload={"key": key, "previous": {"value": previous}})
    return True
