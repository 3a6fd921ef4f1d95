"""``GET /api/v1/calendar/add-working-days`` and ``GET /api/v1/policy`` (PR-5, CAL-04, PS-10, PS-11).

Counting starts the day after ``start`` (民法典 第二百零一条); make-up working days (调休)
count, holidays do not; a year without calendar data is a 422 ``calendar_year_missing``,
never a Monday–Friday guess. The test databases hold 2025 and 2026.
"""

from __future__ import annotations

import pytest

from engine.context import Actor
from engine.policy import set_override
from engine.services.users import create_user
from engine.services.users import issue_token

ADMIN = Actor("admin", "admin")


@pytest.fixture
def headers(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A signed-in API user without any role: both endpoints are for every signed-in user."""
    ctx = app.extensions["hedui"].new_context()
    user = create_user(ctx, "reader", "只读用户", "reader-password-1", actor=ADMIN)
    token = issue_token(ctx, user).token
    ctx.session.commit()
    ctx.session.close()
    return {"Authorization": f"Bearer {token}"}


def _due(client, headers: dict[str, str], start: str, days: int | str):  # type: ignore[no-untyped-def]
    return client.get(f"/api/v1/calendar/add-working-days?start={start}&days={days}", headers=headers)


@pytest.mark.parametrize(("start", "days", "due", "why"), [
    ("2025-01-24", 1, "2025-01-26", "Sun 26 Jan 2025 is a make-up working day (春节调休)"),
    ("2025-01-27", 1, "2025-02-05", "春节 28 Jan – 4 Feb 2025 is off"),
    ("2025-09-26", 1, "2025-09-28", "Sun 28 Sep 2025: 国庆调休"),
    ("2025-09-30", 1, "2025-10-09", "国庆、中秋 1–8 Oct 2025 are off"),
    ("2025-10-10", 1, "2025-10-11", "Sat 11 Oct 2025: 国庆调休"),
    ("2025-12-31", 1, "2026-01-04", "元旦 1–3 Jan 2026 off, Sun 4 Jan worked; across the year"),
    ("2026-02-13", 1, "2026-02-14", "Sat 14 Feb 2026: 春节调休"),
    ("2026-02-13", 2, "2026-02-24", "春节 15–23 Feb 2026 is off"),
    ("2026-02-27", 1, "2026-02-28", "Sat 28 Feb 2026: 春节调休"),
    ("2026-05-08", 1, "2026-05-09", "Sat 9 May 2026: 劳动节调休"),
    ("2026-09-18", 1, "2026-09-20", "Sun 20 Sep 2026: 国庆调休"),
    ("2026-09-28", 7, "2026-10-13", "CAL-04's example: 国庆 1–7 Oct off, Sat 10 Oct worked"),
    ("2026-10-09", 1, "2026-10-10", "Sat 10 Oct 2026: 国庆调休"),
    ("2026-11-21", 1, "2026-11-23", "a plain weekend"),
])
def test_working_days_follow_the_official_calendar(  # type: ignore[no-untyped-def]
    client, headers, start: str, days: int, due: str, why: str
) -> None:
    response = _due(client, headers, start, days)
    assert response.status_code == 200, why
    assert response.json == {"start": start, "days": days, "due": due, "due_at": f"{due}T23:59:59.999999+08:00"}, why


@pytest.mark.parametrize(("start", "days", "year"), [
    ("2027-01-04", 1, 2027),
    ("2026-12-30", 2, 2027),  # starts in a loaded year, ends in one that is not
    ("2024-06-03", 1, 2024),
])
def test_a_year_without_calendar_data_is_refused(  # type: ignore[no-untyped-def]
    client, headers, start: str, days: int, year: int
) -> None:
    response = _due(client, headers, start, days)
    assert response.status_code == 422
    assert response.json["error"] == "calendar_year_missing"
    assert response.json["message"].startswith(f"{year} 年的工作日历尚未导入")
    assert response.json["details"] == {"year": year}


@pytest.mark.parametrize(("query", "fields"), [
    ("start=2026-13-01&days=3", {"start": ["须为 YYYY-MM-DD 格式的日期"]}),
    ("start=26-1-1&days=3", {"start": ["须为 YYYY-MM-DD 格式的日期"]}),
    ("start=2026-11-23&days=0", {"days": ["须为 1–366 的整数"]}),
    ("start=2026-11-23&days=-1", {"days": ["须为 1–366 的整数"]}),
    ("start=2026-11-23&days=367", {"days": ["须为 1–366 的整数"]}),
    ("start=2026-11-23&days=2.5", {"days": ["须为 1–366 的整数"]}),
    ("", {"start": ["此项为必填项"], "days": ["此项为必填项"]}),
])
def test_bad_parameters_are_422_per_field(  # type: ignore[no-untyped-def]
    client, headers, query: str, fields: dict[str, list[str]]
) -> None:
    response = client.get(f"/api/v1/calendar/add-working-days?{query}", headers=headers)
    assert response.status_code == 422
    assert response.json["error"] == "validation_error" and response.json["details"]["fields"] == fields


def test_both_endpoints_need_a_signed_in_user(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/api/v1/calendar/add-working-days?start=2026-11-23&days=1", "/api/v1/policy"):
        response = client.get(path)
        assert response.status_code == 401 and response.json["error"] == "not_authenticated"


def test_policy_shows_the_jilin_profile_and_todays_windows(client, headers) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/api/v1/policy", headers=headers).json
    assert (body["profile"], body["today"], body["overridden"]) == ("jilin", "2026-11-23", [])
    assert body["values"]["county_check_days"] == 10 and body["values"]["decision_feedback_day"] == 10
    assert body["values"]["monthly_windows"]["exchange"] == [11, 20]
    assert body["settings"]["sharing_reply_days"]["unit"] == "工作日"
    # Mon 23 Nov: accepting entrustments (1–10) is out of window and warned about; results (before 27th) are fine
    accept = body["windows"]["accept"]
    assert (accept["in_window"], accept["next_start"]) == (False, "2026-12-01")
    assert "12 月 1 日" in accept["warning"] and "不影响办理" in accept["warning"]
    assert body["windows"]["results"] == {"name": "反馈核对结果", "in_window": True, "next_start": "2026-11-23",
                                          "warning": None}


def test_policy_follows_the_configured_profile_and_overrides(  # type: ignore[no-untyped-def]
    app, client, headers
) -> None:
    app.config["POLICY_PROFILE"] = "baoji"
    ctx = app.extensions["hedui"].new_context()
    set_override(ctx, "material_completion_days", 7, actor=ADMIN)
    ctx.session.commit()
    ctx.session.close()
    body = client.get("/api/v1/policy", headers=headers).json
    assert body["profile"] == "baoji" and body["overridden"] == ["material_completion_days"]
    assert body["values"]["material_completion_days"] == 7
    assert body["values"]["monthly_windows"] is None and body["values"]["decision_feedback_days"] == 10
    assert all(w["in_window"] and w["warning"] is None for w in body["windows"].values())


def test_the_openapi_document_describes_both_operations(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/v1/openapi.json").json["paths"]
    operation = paths["/calendar/add-working-days"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["start", "days"]
    assert {"200", "401", "422"} <= set(operation["responses"])
    assert "get" in paths["/policy"]
