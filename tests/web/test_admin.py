"""Administration pages: admins only; every change goes through the services and leaves an event;
invalid forms come back with Chinese messages next to the fields and the values kept."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import Event
from engine.models import ExchangeRegistration
from engine.models import Membership
from engine.models import Unit
from engine.models import User
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import page_token
from tests.web.test_login import seed_region

PAGES = ["/admin/", "/admin/regions", "/admin/regions/new", "/admin/units", "/admin/units/new", "/admin/users",
         "/admin/users/new", "/admin/users/cy_all", "/admin/registrations", "/admin/registrations/new"]
#: the demo region, seeded once for the module
SEED_ONCE = seed_region


@pytest.fixture
def admin(app, client):  # type: ignore[no-untyped-def]
    assert login(client, "admin").status_code == 302
    return client


def _post(client, path: str, data: dict[str, Any]):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": page_token(client), **data})


def _events(app, kind: str) -> list[Event]:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        return list(session.execute(select(Event).where(Event.kind == kind).order_by(Event.seq)).scalars())


def _get(app, model: type, **where: object) -> Any:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        return session.execute(select(model).filter_by(**where)).scalars().all()


@pytest.mark.parametrize("path", PAGES)
def test_admin_pages_render_for_admins(admin, path: str) -> None:  # type: ignore[no-untyped-def]
    response = admin.get(path)
    assert response.status_code == 200
    assert_valid_html(response.get_data(as_text=True))


def test_staff_get_403_on_every_admin_page(app, client) -> None:  # type: ignore[no-untyped-def]
    login(client, "cy_intake")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 403 and "仅系统管理员可以访问管理页面" in response.get_data(as_text=True), path
    response = _post(client, "/admin/units/new", {"code": "X-1", "name": "越权", "kind": "supervisor",
                                                 "region_code": "220000"})
    assert response.status_code == 403 and _get(app, Unit, code="X-1") == []
    assert "系统管理" not in client.get("/").get_data(as_text=True)


def test_admin_home_links_to_the_admin_pages(admin) -> None:  # type: ignore[no-untyped-def]
    html = admin.get("/").get_data(as_text=True)
    assert 'href="/admin/"' in html and 'href="/admin/units"' in html and "吉林省民政厅 · 系统管理员" in html


def test_unit_list_shows_region_and_kind_in_chinese(admin) -> None:  # type: ignore[no-untyped-def]
    html = admin.get("/admin/units").get_data(as_text=True)
    assert "<td>长春示范商业银行</td>\n      <td>信息共享单位</td>\n      <td>长春市</td>" in html
    assert "<td>存款、贷款、理财产品</td>" in html  # the DX-8 categories by name, not code


def test_creating_a_unit_records_an_event(admin, app) -> None:  # type: ignore[no-untyped-def]
    response = _post(admin, "/admin/units/new", {"code": "CC-YB", "name": "长春市医疗保障局", "kind": "sharing_unit",
                                                 "region_code": "220100", "categories": "medical_insurance， pension"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/units"
    html = admin.get("/admin/units").get_data(as_text=True)
    assert "已新增单位「长春市医疗保障局」" in html and "CC-YB" in html
    [unit] = _get(app, Unit, code="CC-YB")
    assert unit.categories == "medical_insurance,pension"
    event = _events(app, "unit_created")[-1]
    assert event.actor == "admin" and event.actor_role == "admin"
    assert event.payload == {"code": "CC-YB", "name": "长春市医疗保障局", "kind": "sharing_unit",
                             "region_code": "220100"}


def test_an_agency_is_created_with_its_contact_phone(admin, app) -> None:  # type: ignore[no-untyped-def]
    """DO-5: the phone the upward 委托书 prints is the agency's, set here (or by ``hedui units set-phone``)."""
    response = _post(admin, "/admin/units/new", {"code": "LY-HDZX", "name": "绿园区核对中心",
                                                 "kind": "verification_agency", "region_code": "220104",
                                                 "contact_phone": "电话八八"})
    assert response.status_code == 422 and "联系电话格式不正确" in response.get_data(as_text=True)
    assert _get(app, Unit, code="LY-HDZX") == []
    response = _post(admin, "/admin/units/new", {"code": "LY-HDZX", "name": "绿园区核对中心",
                                                 "kind": "verification_agency", "region_code": "220104",
                                                 "contact_phone": "0431-87654321"})
    assert response.status_code == 302
    [unit] = _get(app, Unit, code="LY-HDZX")
    assert unit.contact_phone == "0431-87654321"
    assert _events(app, "unit_created")[-1].payload["contact_phone"] == "0431-87654321"


def test_an_existing_units_phone_is_changed_and_cleared(admin, app) -> None:  # type: ignore[no-untyped-def]
    """DO-5: the list shows each unit's phone with a link to change it; bad input keeps what was typed."""
    html = admin.get("/admin/units").get_data(as_text=True)
    assert 'href="/admin/units/CY-HDZX/phone"' in html
    page = admin.get("/admin/units/CY-HDZX/phone")
    assert page.status_code == 200
    assert_valid_html(page.get_data(as_text=True))
    before = _get(app, Unit, code="CY-HDZX")[0].contact_phone
    response = _post(admin, "/admin/units/CY-HDZX/phone", {"contact_phone": "八八八"})
    assert response.status_code == 422
    assert "联系电话格式不正确" in response.get_data(as_text=True)
    assert 'value="八八八"' in response.get_data(as_text=True)
    assert _get(app, Unit, code="CY-HDZX")[0].contact_phone == before
    response = _post(admin, "/admin/units/CY-HDZX/phone", {"contact_phone": "0431-85550000"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/units"
    assert _get(app, Unit, code="CY-HDZX")[0].contact_phone == "0431-85550000"
    assert "0431-85550000" in admin.get("/admin/units").get_data(as_text=True)
    assert _events(app, "unit_phone_set")[-1].payload == {"code": "CY-HDZX", "contact_phone": "0431-85550000"}
    assert _post(admin, "/admin/units/CY-HDZX/phone", {"contact_phone": ""}).status_code == 302
    assert _get(app, Unit, code="CY-HDZX")[0].contact_phone is None
    assert admin.get("/admin/units/NO-SUCH/phone").status_code == 404


def test_unit_service_errors_show_by_the_field_with_values_kept(admin, app) -> None:  # type: ignore[no-untyped-def]
    count = len(_events(app, "unit_created"))
    response = _post(admin, "/admin/units/new", {"code": "JL-CUN", "name": "某村委会", "kind": "village_committee",
                                                 "region_code": "220000"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert '<p class="field__error" id="f-kind-error">该类单位不能设在此级区划</p>' in html
    assert 'value="JL-CUN"' in html and 'value="某村委会"' in html
    assert '<option value="village_committee" selected>' in html and '<option value="220000" selected>' in html
    assert_valid_html(html)
    response = _post(admin, "/admin/units/new", {"code": "CY-HDZX", "name": "重复", "kind": "verification_agency",
                                                 "region_code": "220104"})
    assert response.status_code == 422 and "单位代码已存在" in response.get_data(as_text=True)
    assert len(_events(app, "unit_created")) == count


def test_unit_form_errors_are_in_chinese(admin) -> None:  # type: ignore[no-untyped-def]
    response = _post(admin, "/admin/units/new", {"code": "坏 代码", "name": "", "kind": "bank", "region_code": "220000",
                                                 "categories": "tax"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="f-code-error">单位代码为字母或数字开头' in html
    assert 'id="f-name-error">此项为必填项' in html
    assert 'id="f-kind-error">请从列表中选择单位类型' in html
    assert 'value="坏 代码"' in html


def test_categories_only_for_sharing_units(admin) -> None:  # type: ignore[no-untyped-def]
    response = _post(admin, "/admin/units/new", {"code": "CY-JD", "name": "朝阳区监督科", "kind": "supervisor",
                                                 "region_code": "220104", "categories": "tax"})
    assert response.status_code == 422
    assert "只有信息共享单位需要填写提供的数据类别" in response.get_data(as_text=True)


def test_regions_are_listed_as_a_tree_and_can_be_created(admin, app) -> None:  # type: ignore[no-untyped-def]
    html = admin.get("/admin/regions").get_data(as_text=True)
    assert html.index("吉林省") < html.index("长春市") < html.index("朝阳区") < html.index("红旗街道")
    assert html.count('<ul>') >= 3  # nested levels
    response = _post(admin, "/admin/regions/new", {"code": "220103", "name": "宽城区", "level": "county",
                                                   "parent_code": "220100"})
    assert response.status_code == 302
    assert "宽城区" in admin.get("/admin/regions").get_data(as_text=True)
    assert _events(app, "region_created")[-1].payload == {"code": "220103", "name": "宽城区", "level": "county",
                                                          "parent_code": "220100"}


def test_region_errors_keep_the_values(admin) -> None:  # type: ignore[no-untyped-def]
    response = _post(admin, "/admin/regions/new", {"code": "2201", "name": "错误区", "level": "county",
                                                   "parent_code": "220100"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="f-code-error">区划代码格式不正确' in html
    assert 'value="2201"' in html and 'value="错误区"' in html and '<option value="220100" selected>' in html
    response = _post(admin, "/admin/regions/new", {"code": "220199", "name": "错误区", "level": "county",
                                                   "parent_code": "220000"})
    assert 'id="f-parent_code-error">上级区划不存在或层级不符' in response.get_data(as_text=True)


def test_creating_a_user_then_granting_and_revoking_a_role(admin, app, client) -> None:  # type: ignore[no-untyped-def]
    response = _post(admin, "/admin/users/new", {"username": "cy_intake_2", "display_name": "新同事（朝阳区核对中心）",
                                                 "password": "a-good-password", "password_confirm": "a-good-password"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users/cy_intake_2"
    assert _events(app, "user_created")[-1].payload == {"user": "cy_intake_2",
                                                        "display_name": "新同事（朝阳区核对中心）"}
    [unit] = _get(app, Unit, code="CY-HDZX")
    response = _post(admin, "/admin/users/cy_intake_2/roles", {"unit_id": str(unit.id), "role_code": "intake_officer"})
    assert response.status_code == 302
    html = admin.get("/admin/users/cy_intake_2").get_data(as_text=True)
    assert "已授予「新同事（朝阳区核对中心）」在「朝阳区社会救助家庭经济状况核对中心」的受理初审员角色" in html
    assert "<td>受理初审员</td>" in html
    assert _events(app, "role_granted")[-1].payload == {"user": "cy_intake_2", "unit": "CY-HDZX",
                                                        "role": "intake_officer"}
    response = _post(admin, "/admin/users/cy_intake_2/roles/revoke",
                     {"unit_id": str(unit.id), "role_code": "intake_officer"})
    assert response.status_code == 302
    assert _events(app, "role_revoked")[-1].payload == {"user": "cy_intake_2", "unit": "CY-HDZX",
                                                        "role": "intake_officer"}
    [user] = _get(app, User, username="cy_intake_2")
    assert _get(app, Membership, user_id=user.id) == []


def test_an_admin_cannot_revoke_their_own_admin_role(admin, app) -> None:  # type: ignore[no-untyped-def]
    """One click on 撤销 must not lock the only administrator out of the admin pages (found by the demo crawl)."""
    [unit] = _get(app, Unit, code="JL-MZT")
    html = admin.get("/admin/users/admin").get_data(as_text=True)
    assert "本人的管理员角色须由另一名管理员撤销" in html and "/admin/users/admin/roles/revoke" not in html
    response = _post(admin, "/admin/users/admin/roles/revoke", {"unit_id": str(unit.id), "role_code": "admin"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users/admin"
    assert "不能撤销自己的系统管理员角色" in admin.get("/admin/users/admin").get_data(as_text=True)
    [user] = _get(app, User, username="admin")
    assert [m.role_code for m in _get(app, Membership, user_id=user.id)] == ["admin"]
    assert admin.get("/admin/").status_code == 200 and _events(app, "role_revoked") == []


def test_a_created_user_can_sign_in(admin, app) -> None:  # type: ignore[no-untyped-def]
    _post(admin, "/admin/users/new", {"username": "newbie", "display_name": "新人", "password": "a-good-password",
                                      "password_confirm": "a-good-password"})
    other = app.test_client()
    assert login(other, "newbie", "a-good-password").status_code == 302
    assert "您尚未被授予任何单位的角色" in other.get("/").get_data(as_text=True)


def test_user_form_errors_never_echo_passwords(admin, app) -> None:  # type: ignore[no-untyped-def]
    response = _post(admin, "/admin/users/new", {"username": "Bad Name", "display_name": "某人",
                                                 "password": "short", "password_confirm": "different"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="f-username-error">用户名为小写字母开头' in html
    assert 'id="f-password-error">密码须为 8–256 位' in html
    assert 'id="f-password_confirm-error">两次输入的密码不一致' in html
    assert 'value="Bad Name"' in html and 'value="某人"' in html
    assert "short" not in html and "different" not in html
    response = _post(admin, "/admin/users/new", {"username": "cy_intake", "display_name": "重名",
                                                 "password": "a-good-password", "password_confirm": "a-good-password"})
    assert response.status_code == 422 and 'id="f-username-error">用户名已存在' in response.get_data(as_text=True)


def test_grant_errors_are_shown_on_the_user_page(admin, app) -> None:  # type: ignore[no-untyped-def]
    response = _post(admin, "/admin/users/cy_intake/roles", {"unit_id": "", "role_code": "no_such_role"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="f-unit_id-error">此项为必填项' in html
    [unit] = _get(app, Unit, code="CY-HDZX")
    response = _post(admin, "/admin/users/cy_intake/roles", {"unit_id": str(unit.id), "role_code": "no_such_role"})
    assert response.status_code == 422 and 'id="f-role_code-error">角色不存在' in response.get_data(as_text=True)
    assert admin.get("/admin/users/ghost").status_code == 404


def test_registering_and_ending_an_exchange_officer(admin, app) -> None:  # type: ignore[no-untyped-def]
    response = _post(admin, "/admin/registrations/new", {"user": "cy_all", "sharing_unit": "CC-BANK",
                                                         "unit": "CY-HDZX", "valid_from": "2026-11-01",
                                                         "valid_to": ""})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/registrations"
    event = _events(app, "exchange_officer_registered")[-1]
    assert event.payload == {"user": "cy_all", "sharing_unit": "CC-BANK", "unit": "CY-HDZX", "side": "agency",
                             "valid_from": "2026-11-01", "valid_to": None}
    [user] = _get(app, User, username="cy_all")
    [registration] = _get(app, ExchangeRegistration, user_id=user.id)
    html = admin.get("/admin/registrations").get_data(as_text=True)
    assert "吴全（朝阳区核对中心）" in html and "2026-11-01 至 长期" in html
    response = _post(admin, f"/admin/registrations/{registration.id}/end", {"last_day": "2026-11-23"})
    assert response.status_code == 302
    assert _events(app, "exchange_officer_registration_ended")[-1].payload == {
        "registration_id": registration.id, "last_day": "2026-11-23"}
    [registration] = _get(app, ExchangeRegistration, id=registration.id)
    assert registration.valid_to == date(2026, 11, 23) and registration.ended_by == "admin"


def test_registration_errors_are_shown_with_values_kept(admin) -> None:  # type: ignore[no-untyped-def]
    response = _post(admin, "/admin/registrations/new", {"user": "ghost", "sharing_unit": "CC-BANK",
                                                         "unit": "CY-HDZX", "valid_from": "2026-11-01"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="f-user-error">用户不存在' in html and 'value="ghost"' in html
    response = _post(admin, "/admin/registrations/new", {"user": "cy_all", "sharing_unit": "CC-BANK",
                                                         "unit": "CY-HDZX", "valid_from": "2026-11-01",
                                                         "valid_to": "2026-10-01"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="f-valid_to-error">不能早于起始日' in html
    assert 'value="2026-10-01"' in html
    response = _post(admin, "/admin/registrations/new", {"user": "cy_all", "sharing_unit": "CC-BANK",
                                                         "unit": "CY-HDZX", "valid_from": "11/01/2026"})
    assert 'id="f-valid_from-error">应为日期（YYYY-MM-DD）' in response.get_data(as_text=True)


def test_ending_a_registration_with_a_bad_date_is_explained(admin, app) -> None:  # type: ignore[no-untyped-def]
    [user] = _get(app, User, username="cy_exchange_1")
    registration = _get(app, ExchangeRegistration, user_id=user.id)[0]
    response = _post(admin, f"/admin/registrations/{registration.id}/end", {"last_day": "2020-01-01"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "最后有效日不能早于起始日的前一天" in html
    assert 'value="2020-01-01"' in html
    assert_valid_html(html)
    assert admin.post("/admin/registrations/999999/end", data={"csrf_token": page_token(admin),
                                                                "last_day": "2026-11-23"}).status_code == 404
