"""Policy profiles and administrator overrides (PS-10, PS-11, PS-12), as decision tables.

``jilin`` and ``baoji`` share the statutory working-day limits (10 / 15 / 15 / 7 + ≤ 5) and
differ in the monthly calendar (Jilin only), the decision-feedback due date (Jilin: day 10
of the next month; Baoji: 10 working days, an assumption) and the member list.
"""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine.calendar import WorkingCalendar
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import ConfigurationError
from engine.errors import ValidationError
from engine.history import verify_chain
from engine.models import Event
from engine.models import PolicyOverride
from engine.policy import MEMBER_LISTS
from engine.policy import PROFILES
from engine.policy import SETTINGS
from engine.policy import Policy
from engine.policy import clear_override
from engine.policy import effective_policy
from engine.policy import set_override
from engine.policy import validate_value

SHANGHAI = ZoneInfo("Asia/Shanghai")
ADMIN = Actor("admin", "admin")
JILIN = Policy.build("jilin")
BAOJI = Policy.build("baoji")


def _eod(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 23, 59, 59, 999999, tzinfo=SHANGHAI)


@pytest.fixture
def calendar(session: Any) -> WorkingCalendar:
    return WorkingCalendar(session)


# --- the profiles --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "jilin", "baoji"), [
    ("county_check_days", 10, 10),
    ("city_check_days", 15, 15),
    ("reverification_days", 15, 15),
    ("sharing_reply_days", 7, 7),
    ("sharing_delay_max_days", 5, 5),
    ("material_completion_days", 5, 5),
    ("objection_window_days", 30, 30),
    ("report_validity_months", 12, 12),
    ("report_income_months", 12, 12),
    ("decision_feedback_day", 10, None),
    ("decision_feedback_days", None, 10),
    ("member_inclusion_list", "national_2021", "baoji_2020"),
    ("verification_tiering", "single", "single"),  # PS-5: today's behaviour until an administrator chooses
])
def test_profile_values(key: str, jilin: Any, baoji: Any) -> None:
    assert (JILIN.values()[key], BAOJI.values()[key]) == (jilin, baoji)


def test_only_jilin_has_monthly_windows() -> None:
    assert JILIN.values()["monthly_windows"] == {
        "accept": [1, 10], "decision_feedback": [1, 10], "exchange": [11, 20], "results": [1, 26]}
    assert BAOJI.monthly_windows is None


def test_every_profile_sets_every_key_and_every_setting_names_its_source() -> None:
    for profile in PROFILES.values():
        assert set(profile) == set(SETTINGS)
    assert all(s.source and s.label for s in SETTINGS.values())
    assert set(MEMBER_LISTS) == {"national_2021", "baoji_2020"}  # the household forms' rule sets


@pytest.mark.parametrize(("policy", "lower", "data"), [
    (JILIN, False, {"exchange_days": 7, "delay_days": 5, "verification_days": 10}),
    (JILIN, True, {"exchange_days": 7, "delay_days": 5, "verification_days": 15}),
    (BAOJI, False, {"exchange_days": 7, "delay_days": 5, "verification_days": 10}),
    (BAOJI, True, {"exchange_days": 7, "delay_days": 5, "verification_days": 15}),
])
def test_start_data_for_the_diagrams(policy: Policy, lower: bool, data: dict[str, int]) -> None:
    assert policy.standard_verification_data(from_lower_agency=lower) == data
    assert policy.street_intake_data() == {"material_days": 5}


def test_unknown_profile_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        Policy.build("shaanxi")


def test_the_setting_is_validated_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from web.config import load_config

    assert load_config({"ENV": "testing"})["POLICY_PROFILE"] == "jilin"
    monkeypatch.setenv("HEDUI_POLICY_PROFILE", "baoji")
    assert load_config({"ENV": "testing"})["POLICY_PROFILE"] == "baoji"
    monkeypatch.setenv("HEDUI_POLICY_PROFILE", "shaanxi")
    with pytest.raises(ConfigurationError) as info:
        load_config({"ENV": "testing"})
    assert "HEDUI_POLICY_PROFILE" in info.value.message


# --- values and overrides ------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value", "ok"), [
    ("county_check_days", 12, True),
    ("county_check_days", 0, False),
    ("county_check_days", 367, False),
    ("county_check_days", "10", False),
    ("county_check_days", True, False),
    ("county_check_days", 10.0, False),
    ("county_check_days", None, False),
    ("sharing_delay_max_days", 0, True),
    ("objection_window_days", 365, True),
    ("objection_window_days", 366, False),
    ("report_validity_months", 24, True),
    ("decision_feedback_day", None, True),
    ("decision_feedback_day", 31, True),
    ("decision_feedback_day", 32, False),
    ("monthly_windows", None, True),
    ("monthly_windows", {"accept": [1, 5]}, True),
    ("monthly_windows", {"accept": [5, 1]}, False),
    ("monthly_windows", {"accept": [0, 5]}, False),
    ("monthly_windows", {"accept": [1, 32]}, False),
    ("monthly_windows", {"accept": [1]}, False),
    ("monthly_windows", {"lunch": [1, 5]}, False),
    ("monthly_windows", {}, False),
    ("monthly_windows", [1, 10], False),
    ("member_inclusion_list", "baoji_2020", True),
    ("member_inclusion_list", "shaanxi", False),
    ("verification_tiering", "tiered", True),
    ("verification_tiering", "province", True),
    ("verification_tiering", "national_2021", False),  # another setting's choice
    ("verification_tiering", None, False),
    ("no_such_key", 1, False),
])
def test_values_are_checked_by_type_and_range(key: str, value: Any, ok: bool) -> None:
    if ok:
        assert validate_value(key, value) == value
        return
    with pytest.raises(ValidationError) as info:
        validate_value(key, value)
    assert set(info.value.details["fields"]) <= {key, "key"}
    assert all(isinstance(m, str) and not m.isascii() for ms in info.value.details["fields"].values() for m in ms)


def test_set_and_clear_an_override(ctx: EngineContext) -> None:
    assert effective_policy(ctx).profile == "jilin"
    row = set_override(ctx, "sharing_reply_days", 6, actor=ADMIN)
    assert (row.key, row.value, row.set_by, row.set_at) == ("sharing_reply_days", 6, "admin", ctx.now())
    set_override(ctx, "sharing_reply_days", 8, actor=ADMIN)
    for profile in ("jilin", "baoji"):
        policy = effective_policy(ctx, profile)
        assert policy.sharing_reply_days == 8 and policy.overridden == {"sharing_reply_days"}
        assert policy.standard_verification_data()["exchange_days"] == 8
    assert clear_override(ctx, "sharing_reply_days", actor=ADMIN) is True
    assert clear_override(ctx, "sharing_reply_days", actor=ADMIN) is False
    assert effective_policy(ctx).sharing_reply_days == 7
    events = ctx.session.execute(
        select(Event).where(Event.kind.like("policy_override_%")).order_by(Event.seq)).scalars().all()
    assert [(e.kind, e.stream, e.actor, e.payload) for e in events] == [
        ("policy_override_set", "system", "admin", {"key": "sharing_reply_days", "value": 6, "previous": None}),
        ("policy_override_set", "system", "admin",
         {"key": "sharing_reply_days", "value": 8, "previous": {"value": 6}}),
        ("policy_override_cleared", "system", "admin", {"key": "sharing_reply_days", "previous": {"value": 8}}),
    ]
    assert verify_chain(ctx.session) == []


def test_a_null_override_switches_the_monthly_windows_off(ctx: EngineContext) -> None:
    set_override(ctx, "monthly_windows", None, actor=ADMIN)
    policy = effective_policy(ctx, "jilin")
    assert policy.monthly_windows is None and policy.in_window("accept", date(2026, 11, 23))
    assert ctx.session.get(PolicyOverride, "monthly_windows").value is None


def test_refused_overrides_change_nothing(ctx: EngineContext) -> None:
    with pytest.raises(ValidationError) as info:
        set_override(ctx, "county_check_days", "ten", actor=ADMIN)
    assert info.value.details["fields"] == {"county_check_days": ["须为 1–366 的整数（工作日）"]}
    with pytest.raises(ValidationError) as info:
        set_override(ctx, "no_such_key", 1, actor=ADMIN)
    assert info.value.code == "unknown_policy_key"
    # Jilin has no working-day rule for the feedback: removing its day would leave no due date at all
    with pytest.raises(ValidationError) as info:
        set_override(ctx, "decision_feedback_day", None, actor=ADMIN)
    assert info.value.code == "policy_conflict" and "jilin" in info.value.message
    assert ctx.session.execute(select(PolicyOverride)).scalars().all() == []
    # ... unless a working-day rule is set first: then both profiles stay usable
    set_override(ctx, "decision_feedback_days", 5, actor=ADMIN)
    set_override(ctx, "decision_feedback_day", None, actor=ADMIN)
    with pytest.raises(ValidationError):  # and that rule cannot be cleared while the day is gone
        clear_override(ctx, "decision_feedback_days", actor=ADMIN)
    assert effective_policy(ctx, "jilin").decision_feedback_days == 5


def test_an_override_for_a_retired_key_is_ignored(ctx: EngineContext) -> None:
    ctx.session.add(PolicyOverride(key="retired_setting", value=3, set_by="admin", set_at=ctx.now()))
    ctx.session.flush()
    assert effective_policy(ctx).overridden == frozenset()


# --- dates -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("delivered", "due", "why"), [
    (datetime(2026, 11, 23, 9, tzinfo=SHANGHAI), _eod(2026, 12, 10), "day 10 of the next month"),
    (datetime(2026, 10, 31, 17, tzinfo=UTC), _eod(2026, 12, 10), "1 Nov 01:00 in Beijing: November's report"),
    (datetime(2026, 4, 15, 9, tzinfo=SHANGHAI), _eod(2026, 5, 11), "Sun 10 May is a day off: next working day"),
    (datetime(2026, 9, 15, 9, tzinfo=SHANGHAI), _eod(2026, 10, 10), "Sat 10 Oct is a make-up working day"),
    (datetime(2026, 1, 31, 9, tzinfo=SHANGHAI), _eod(2026, 2, 10), "February"),
    (datetime(2025, 12, 5, 9, tzinfo=SHANGHAI), _eod(2026, 1, 12), "across the year; Sat 10 Jan is off"),
])
def test_jilin_feedback_is_due_on_day_ten_of_the_next_month(calendar: WorkingCalendar, delivered: datetime,
                                                              due: datetime, why: str) -> None:
    assert JILIN.feedback_due(delivered, calendar) == due, why


def test_baoji_feedback_is_due_after_ten_working_days(calendar: WorkingCalendar) -> None:
    assert BAOJI.feedback_due(datetime(2026, 11, 23, 9, tzinfo=SHANGHAI), calendar) == _eod(2026, 12, 7)
    # across 国庆: Sep 29, 30, Oct 8, 9, 10 (Sat, 调休), 12, 13, 14, 15, 16
    assert BAOJI.feedback_due(datetime(2026, 9, 28, 9, tzinfo=SHANGHAI), calendar) == _eod(2026, 10, 16)


def test_feedback_due_needs_calendar_data_and_a_time_zone(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValidationError) as info:
        JILIN.feedback_due(datetime(2026, 12, 3, 9, tzinfo=SHANGHAI), calendar)  # due 10 Jan 2027
    assert info.value.code == "calendar_year_missing"
    with pytest.raises(ValidationError) as info:
        JILIN.feedback_due(datetime(2026, 11, 23, 9), calendar)
    assert info.value.code == "naive_datetime"


def test_decision_feedback_start_data(calendar: WorkingCalendar) -> None:
    data = JILIN.decision_feedback_data("HD-1", datetime(2026, 11, 23, 9, tzinfo=SHANGHAI), calendar, report_no="R1")
    assert data == {"case_no": "HD-1", "feedback_due": "2026-12-10T23:59:59.999999+08:00", "report_no": "R1"}


def test_objection_window_and_report_validity(calendar: WorkingCalendar) -> None:
    # 30 calendar days after notice; a last day on a holiday moves to the next working day
    assert BAOJI.objection_deadline(date(2026, 9, 1)) == date(2026, 10, 1)
    assert BAOJI.objection_deadline(date(2026, 9, 1), calendar) == date(2026, 10, 8)
    assert BAOJI.objection_deadline(date(2026, 11, 2), calendar) == date(2026, 12, 2)
    assert BAOJI.report_valid_until(date(2026, 11, 23)) == date(2027, 11, 23)
    assert BAOJI.report_valid_until(date(2024, 2, 29)) == date(2025, 2, 28)
    assert Policy.build("baoji", {"report_validity_months": 6}).report_valid_until(date(2026, 8, 31)) == date(
        2027, 2, 28)


# --- the Jilin monthly windows (warn, never block) -------------------------------------------------


@pytest.mark.parametrize(("kind", "day", "inside", "next_start"), [
    ("accept", date(2026, 11, 1), True, date(2026, 11, 1)),
    ("accept", date(2026, 11, 10), True, date(2026, 11, 10)),
    ("accept", date(2026, 11, 11), False, date(2026, 12, 1)),
    ("accept", date(2026, 12, 23), False, date(2027, 1, 1)),
    ("decision_feedback", date(2026, 11, 5), True, date(2026, 11, 5)),
    ("exchange", date(2026, 11, 10), False, date(2026, 11, 11)),
    ("exchange", date(2026, 11, 20), True, date(2026, 11, 20)),
    ("exchange", date(2026, 11, 21), False, date(2026, 12, 11)),
    ("results", date(2026, 11, 26), True, date(2026, 11, 26)),
    ("results", date(2026, 11, 27), False, date(2026, 12, 1)),
])
def test_jilin_windows(kind: str, day: date, inside: bool, next_start: date) -> None:
    assert JILIN.in_window(kind, day) is inside
    assert JILIN.next_window_start(kind, day) == next_start
    assert (JILIN.window_warning(kind, day) is None) is inside
    assert BAOJI.in_window(kind, day) and BAOJI.next_window_start(kind, day) == day
    assert BAOJI.window_warning(kind, day) is None


def test_window_warning_text_and_short_months() -> None:
    warning = JILIN.window_warning("exchange", date(2026, 11, 23))
    assert warning == ("按吉林省（吉民发〔2017〕58号）的月度时段，每月 11–20 日与信息共享单位进行数据交换；"
                       "11 月 23 日不在该时段内，下一时段自 12 月 11 日开始（仅提示，不影响办理）。")
    late_month = Policy.build("jilin", {"monthly_windows": {"results": [25, 31]}})
    assert late_month.in_window("results", date(2026, 2, 28))  # clamped to the month's last day
    assert late_month.next_window_start("results", date(2026, 1, 31)) == date(2026, 1, 31)
    assert late_month.next_window_start("accept", date(2026, 1, 31)) == date(2026, 1, 31)  # no window: open
    with pytest.raises(ValidationError):
        JILIN.in_window("lunch", date(2026, 11, 23))
