"""The calendar editor and the policy overrides: admins only; a toggled day moves deadlines at once,
an override shows in /api/v1/policy; every change is an event; invalid input gets Chinese messages."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import CalendarDay
from engine.models import Event
from tests.web.test_api_tasks import _token
from tests.web.test_intake import post
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import seed_region

PAGES = ["/admin/calendar", "/admin/calendar?year=2025", "/admin/calendar?year=2031", "/admin/calendar/2026-11-24",
         "/admin/calendar/2026-11-28", "/admin/policy"]
#: the demo region, seeded once for the module
SEED_ONCE = seed_region


@pytest.fixture
def admin(app, client):  # type: ignore[no-untyped-def]
    assert login(client, "admin").status_code == 302
    return client


def events(app, kind: str) -> list[Event]:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        rows = list(session.execute(select(Event).where(Event.kind == kind).order_by(Event.seq)).scalars())
        for row in rows:
            session.expunge(row)
        return rows


def due(client, start: str, days: int, headers: dict[str, str]) -> Any:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/calendar/add-working-days?start={start}&days={days}", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["due"]


@pytest.mark.parametrize("path", PAGES)
def test_the_pages_render_for_admins(admin, path: str) -> None:  # type: ignore[no-untyped-def]
    response = admin.get(path)
    assert response.status_code == 200
    assert_valid_html(response.get_data(as_text=True))


def test_the_admin_home_links_to_both_pages(admin) -> None:  # type: ignore[no-untyped-def]
    html = admin.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/calendar"' in html and 'href="/admin/policy"' in html


def test_staff_get_403(app, client) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    assert post(client, "/admin/calendar/2026-11-24", {"kind": "holiday"}).status_code == 403
    assert post(client, "/admin/policy/county_check_days", {"value": "12"}).status_code == 403


# --- calendar ------------------------------------------------------------------------------------------------


def test_the_year_view_shows_every_day_with_its_kind(admin) -> None:  # type: ignore[no-untyped-def]
    html = admin.get("/admin/calendar?year=2026").get_data(as_text=True)
    assert html.count('class="month"') == 12
    assert 'aria-label="10月1日 星期四 节假日（国庆节）"' in html
    assert 'aria-label="10月10日 星期六 调休上班日（国庆节）"' in html
    assert 'href="/admin/calendar/2026-11-24"' in html
    assert "尚未导入" in admin.get("/admin/calendar?year=2031").get_data(as_text=True)


def test_a_provisional_year_is_marked_as_such(app, admin) -> None:  # type: ignore[no-untyped-def]
    from engine.calendar_provisional import seed_provisional

    with app.extensions["hedui"].unit_of_work() as ctx:
        seed_provisional(ctx.session, [2027], clock=ctx.clock)
    html = admin.get("/admin/calendar?year=2027").get_data(as_text=True)
    assert "临时日历" in html and "不含调休上班日" in html
    assert 'aria-label="2月9日 星期二 节假日（春节（补假））"' in html
    assert "临时日历" not in admin.get("/admin/calendar?year=2026").get_data(as_text=True)


def test_the_home_page_warns_admins_of_calendar_gaps(app, admin) -> None:  # type: ignore[no-untyped-def]
    from engine.calendar_provisional import calendar_gaps
    from engine.calendar_provisional import seed_provisional

    html = admin.get("/").get_data(as_text=True)  # T0 is in November 2026
    assert "2027 年的工作日历尚未导入" in html and 'href="/admin/calendar?year=2027"' in html
    with app.extensions["hedui"].unit_of_work() as ctx:
        seed_provisional(ctx.session, [2027], clock=ctx.clock)
        assert calendar_gaps(ctx.session, date(2026, 9, 30)) == [], "2027 does not matter before October"
        assert calendar_gaps(ctx.session, date(2026, 10, 1)) == [(2027, "provisional")]
        assert calendar_gaps(ctx.session, date(2028, 1, 1)) == [(2028, "missing")]
    html = admin.get("/").get_data(as_text=True)
    assert "2027 年目前使用按法定节假日推算的临时日历" in html and "尚未导入" not in html


def test_toggling_a_day_moves_a_deadline_at_once(app, admin, client) -> None:  # type: ignore[no-untyped-def]
    headers = _token(client, "cy_intake")
    assert due(client, "2026-11-23", 1, headers) == "2026-11-24"  # cached by the app from now on
    response = post(admin, "/admin/calendar/2026-11-24", {"kind": "holiday", "name": "临时调整"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/calendar?year=2026#m11"
    assert due(client, "2026-11-23", 1, headers) == "2026-11-25"
    [changed] = events(app, "calendar_day_set")
    assert changed.actor == "admin" and changed.stream == "system"
    assert changed.payload == {"day": "2026-11-24", "kind": "holiday", "is_workday": False, "name": "临时调整",
                               "previous": {"kind": "workday", "is_workday": True, "name": None,
                                            "source": changed.payload["previous"]["source"]}}
    # and back: a make-up working day on a Saturday counts as well
    post(admin, "/admin/calendar/2026-11-24", {"kind": "workday"})
    post(admin, "/admin/calendar/2026-11-28", {"kind": "makeup_workday", "name": "演练"})
    assert due(client, "2026-11-27", 1, headers) == "2026-11-28"
    with app.extensions["hedui"].session_factory() as session:
        row = session.get(CalendarDay, date(2026, 11, 28))
        assert row is not None and row.source == "admin:admin" and row.is_workday


def test_a_kind_that_does_not_fit_the_weekday_is_refused_in_chinese(app, admin) -> None:  # type: ignore[no-untyped-def]
    response = post(admin, "/admin/calendar/2026-11-24", {"kind": "makeup_workday"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "周一至周五只能是“工作日”或“节假日”" in html
    assert_valid_html(html)
    response = post(admin, "/admin/calendar/2026-11-24", {"kind": ""})
    assert response.status_code == 422 and "此项为必填项" in response.get_data(as_text=True)
    assert admin.get("/admin/calendar/2026-02-30").status_code == 404
    assert events(app, "calendar_day_set") == []


def test_an_unchanged_day_records_nothing(app, admin) -> None:  # type: ignore[no-untyped-def]
    response = post(admin, "/admin/calendar/2026-11-24", {"kind": "workday"})
    assert response.status_code == 302 and events(app, "calendar_day_set") == []


# --- policy --------------------------------------------------------------------------------------------------


def test_the_policy_page_lists_values_with_their_clauses(admin) -> None:  # type: ignore[no-untyped-def]
    html = admin.get("/admin/policy").get_data(as_text=True)
    assert "县级核对机构完成信息核对" in html and "10 工作日" in html and "BJ 第十六条（四）；PS-10" in html
    assert "受理核对委托：每月 1–10 日" in html and "政策配置默认值" in html


def test_an_override_appears_in_the_api_and_can_be_cleared(app, admin, client) -> None:  # type: ignore[no-untyped-def]
    headers = _token(client, "cy_intake")
    response = post(admin, "/admin/policy/county_check_days", {"value": "12"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/policy#p-county_check_days"
    policy = client.get("/api/v1/policy", headers=headers).json
    assert policy["values"]["county_check_days"] == 12 and "county_check_days" in policy["overridden"]
    html = admin.get("/admin/policy").get_data(as_text=True)
    assert "管理员覆盖（系统管理员，" in html and "配置默认值为 10 工作日" in html
    [recorded] = events(app, "policy_override_set")
    assert recorded.payload["key"] == "county_check_days" and recorded.payload["value"] == 12
    assert post(admin, "/admin/policy/county_check_days/clear", {}).status_code == 302
    policy = client.get("/api/v1/policy", headers=headers).json
    assert policy["values"]["county_check_days"] == 10 and policy["overridden"] == []
    assert len(events(app, "policy_override_cleared")) == 1


def test_monthly_windows_are_edited_per_window(admin, client) -> None:  # type: ignore[no-untyped-def]
    form = {"accept-from": "1", "accept-to": "12", "decision_feedback-from": "1", "decision_feedback-to": "10",
            "exchange-from": "13", "exchange-to": "20", "results-from": "", "results-to": ""}
    assert post(admin, "/admin/policy/monthly_windows", form).status_code == 302
    values = client.get("/api/v1/policy", headers=_token(client, "cy_intake")).json["values"]
    assert values["monthly_windows"] == {"accept": [1, 12], "decision_feedback": [1, 10], "exchange": [13, 20]}
    assert post(admin, "/admin/policy/monthly_windows", {}).status_code == 302  # all empty: no windows
    values = client.get("/api/v1/policy", headers=_token(client, "cy_intake")).json["values"]
    assert values["monthly_windows"] is None


@pytest.mark.parametrize(("key", "form", "message"), [
    ("county_check_days", {"value": "abc"}, "须为整数（工作日）"),
    ("county_check_days", {"value": "0"}, "须为 1–366 的整数（工作日）"),
    ("county_check_days", {"value": ""}, "此项不能为空"),
    ("monthly_windows", {"accept-from": "5", "accept-to": ""}, "「受理核对委托」的起始日和截止日须同时填写"),
    ("monthly_windows", {"accept-from": "20", "accept-to": "10"}, "1 ≤ 起始日 ≤ 截止日 ≤ 31"),
    ("decision_feedback_day", {"value": ""}, "decision_feedback_day 与 decision_feedback_days 不能同时为空"),
])
def test_invalid_values_are_refused_in_chinese(app, admin, key: str, form: dict[str, str],  # type: ignore[no-untyped-def]
                                               message: str) -> None:
    response = post(admin, f"/admin/policy/{key}", form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in html
    assert f'id="f-{key}-error"' in html
    assert_valid_html(html)
    assert events(app, "policy_override_set") == []


def test_the_tiering_is_chosen_from_its_own_list(admin, client) -> None:  # type: ignore[no-untyped-def]
    """PS-5: 上下分级核对 / 省级全联通 is a setting the administrator picks, not a diagram change."""
    html = admin.get("/admin/policy").get_data(as_text=True)
    assert "核对事项分级" in html and "省级全联通：全部事项由省级核对机构核对并出具报告" in html
    assert "JL 规程 三（上下分级核对，分级出具报告）" in html
    assert post(admin, "/admin/policy/verification_tiering", {"value": "tiered"}).status_code == 302
    values = client.get("/api/v1/policy", headers=_token(client, "cy_intake")).json["values"]
    assert values["verification_tiering"] == "tiered"
    response = post(admin, "/admin/policy/verification_tiering", {"value": "national_2021"})
    assert response.status_code == 422 and "请从列表中选择" in response.get_data(as_text=True)


def test_an_unknown_key_is_404(admin) -> None:  # type: ignore[no-untyped-def]
    assert post(admin, "/admin/policy/nonsense", {"value": "1"}).status_code == 404
