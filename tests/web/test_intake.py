"""The new-entrustment wizard: street clerks only, drafts kept server-side on every step (and while typing),
ID numbers checked again on the server, scans typed by content, the 委托书 previewed, then submitted."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.models import Document
from engine.models import Entrustment
from engine.models import IntakeDraft
from engine.models import IntakeDraftFile
from engine.services.demo import seed_demo
from engine.services.deploy import deploy_files
from tests.engine.package_factory import PDF
from tests.engine.package_factory import PNG
from tests.engine.package_factory import synthetic_household
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import logout
from tests.web.test_login import page_token

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
ADMIN = Actor("admin", "admin")
BAD_CHECK_DIGIT = "110101199001011233"


def seed_deployed(ctx: EngineContext) -> None:
    """The demo organisation and every diagram deployed (cases can start); a module's ``SEED_ONCE`` as well."""
    seed_demo(ctx, actor=ADMIN)
    deploy_files(ctx, {p.name: p.read_bytes() for p in BPMN.glob("*.bpmn")}, actor=ADMIN)


def setup_demo(app) -> None:  # type: ignore[no-untyped-def]
    """The demo organisation and the deployed diagrams (cases can start)."""
    ctx = app.extensions["hedui"].new_context()
    seed_deployed(ctx)
    ctx.session.commit()
    ctx.session.close()


#: the demo organisation and the diagrams, seeded once for the module
SEED_ONCE = seed_deployed


@pytest.fixture
def clerk(client):  # type: ignore[no-untyped-def]
    """The street clerk signed in (a module using it seeds once: ``SEED_ONCE = seed_deployed``)."""
    assert login(client, "hq_street_clerk").status_code == 302
    return client


def post(client, path: str, data: dict[str, Any] | list[tuple[str, Any]], **kwargs: Any):  # type: ignore[no-untyped-def]
    from werkzeug.datastructures import MultiDict

    items = list(data.items()) if isinstance(data, dict) else list(data)
    return client.post(path, data=MultiDict([("csrf_token", page_token(client)), *items]), **kwargs)


def start_draft(client) -> int:  # type: ignore[no-untyped-def]
    response = post(client, "/intake/new", {})
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.match(r"^/intake/drafts/(\d+)/business$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def business_form(**overrides: Any) -> list[tuple[str, Any]]:
    household = synthetic_household(0)
    auth = household["authorisation"]
    fields = {"contact_name": "周敏", "contact_phone": "0431-88886666", "number": "", "business_type": "dibao",
              "business_other": "", "rule_set": "baoji_2020", "region_code": household["region_code"],
              "address": household["address"], "applicant_phone": household["applicant_phone"], "note": "",
              "auth_business_other": "", "signed_on": auth["signed_on"], "valid_until": "",
              "handler_name": auth["handler_name"], "statement_copied": "yes", **overrides}
    return [*fields.items(), *[("auth_business_types", t) for t in auth["business_types"]]]


def persons_form(household: dict[str, Any] | None = None) -> dict[str, Any]:
    """The synthetic household's persons as the members step posts them."""
    household = household or synthetic_household(0)
    form: dict[str, Any] = {}
    for table in ("members", "obligors"):
        for index, person in enumerate(household[table]):
            for name, value in person.items():
                if name == "included":
                    continue  # the wizard derives it from the rule
                if name == "member_informed":
                    value = "yes" if value else ""
                form[f"{table}-{index}-{name}"] = value or ""
    return form


def fill_all(client) -> int:  # type: ignore[no-untyped-def]
    """A complete draft: every step filled and saved, one 授权书 scan uploaded."""
    draft = start_draft(client)
    assert post(client, f"/intake/drafts/{draft}/business", [*business_form(), ("action", "next")]).status_code == 302
    response = post(client, f"/intake/drafts/{draft}/members", {**persons_form(), "action": "next"})
    assert response.status_code == 302, response.get_data(as_text=True)
    upload(client, draft, PDF, "授权书.pdf", action="next")
    return draft


def upload(client, draft: int, content: bytes, name: str, *, kind: str = "authorisation",  # type: ignore[no-untyped-def]
           action: str = "upload", person_uid: str = ""):
    import io

    return post(client, f"/intake/drafts/{draft}/documents",
                {"kind": kind, "person_uid": person_uid, "action": action, "file": (io.BytesIO(content), name)},
                content_type="multipart/form-data")


def draft_row(app, draft_id: int) -> IntakeDraft | None:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        row = session.get(IntakeDraft, draft_id)
        if row is not None:
            session.expunge(row)
        return row


# --- access -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["cy_intake", "admin", "cy_assistance"])
def test_only_street_clerks_reach_the_wizard(app, client, username: str) -> None:  # type: ignore[no-untyped-def]
    login(client, username)
    response = client.get("/intake/new")
    assert response.status_code == 403 and "街道（乡镇）经办人" in response.get_data(as_text=True)
    assert "新建委托" not in client.get("/").get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_login(app, client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/intake/new")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_draft_belongs_to_its_clerk(app, clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    ctx = app.extensions["hedui"].new_context()
    from engine.services.org import get_unit_by_code
    from engine.services.org import grant_role
    from engine.services.users import create_user

    other = create_user(ctx, "hq_clerk_2", "另一名经办人", "hedui-demo", actor=ADMIN)
    grant_role(ctx, other, get_unit_by_code(ctx, "HQ-MZB"), "street_clerk", actor=ADMIN)
    ctx.session.commit()
    logout(clerk)
    login(clerk, "hq_clerk_2")
    assert clerk.get(f"/intake/drafts/{draft}/business").status_code == 404
    assert post(clerk, f"/intake/drafts/{draft}/delete", {}).status_code == 404
    assert draft_row(app, draft) is not None


# --- pages --------------------------------------------------------------------------------------------------


def test_every_step_is_valid_accessible_html(clerk) -> None:  # type: ignore[no-untyped-def]
    html = clerk.get("/intake/new").get_data(as_text=True)
    assert_valid_html(html)
    assert "新建委托" in clerk.get("/").get_data(as_text=True)
    draft = start_draft(clerk)
    for step in ("business", "members", "documents", "letter"):
        response = clerk.get(f"/intake/drafts/{draft}/{step}")
        assert response.status_code == 200, step
        assert_valid_html(response.get_data(as_text=True))
    assert clerk.get(f"/intake/drafts/{draft}/nonsense").status_code == 404


def test_a_new_draft_starts_with_the_applicant_row_and_the_policy_rule_set(clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    html = clerk.get(f"/intake/drafts/{draft}/members").get_data(as_text=True)
    assert 'name="members-0-relation"' in html and '<option value="self" selected>' in html
    # the jilin profile uses the national list of co-resident members
    assert '<option value="N7-APPLICANT" selected>' in html and "BJ9-IN-1" not in html
    assert 'data-id-check' in html and "/static/intake.js" in html


# --- drafts survive ------------------------------------------------------------------------------------------


def test_every_step_is_saved_and_a_reload_shows_it(app, clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    response = post(clerk, f"/intake/drafts/{draft}/business",
                    [*business_form(address="幸福小区9栋"), ("action", "save")])
    assert response.status_code == 302 and response.headers["Location"] == f"/intake/drafts/{draft}/business"
    html = clerk.get(f"/intake/drafts/{draft}/business").get_data(as_text=True)
    assert 'value="幸福小区9栋"' in html and 'value="0431-88886666"' in html
    assert 'id="f-auth_business_types-medical" name="auth_business_types" value="medical" checked' in html
    # signing out and in again: the draft is on the server, listed on the start page
    logout(clerk)
    login(clerk, "hq_street_clerk")
    start = clerk.get("/intake/new").get_data(as_text=True)
    assert f"/intake/drafts/{draft}" in start and "业务类别" in start
    assert clerk.get(f"/intake/drafts/{draft}").headers["Location"] == f"/intake/drafts/{draft}/business"
    assert 'value="幸福小区9栋"' in clerk.get(f"/intake/drafts/{draft}/business").get_data(as_text=True)


def test_autosave_keeps_what_is_typed_without_validating(app, clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    form = persons_form()
    form["members-0-id_number"] = "2201041970"  # half typed
    response = post(clerk, f"/intake/drafts/{draft}/members/autosave", form, headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.json["saved"] is True
    saved = draft_row(app, draft)
    assert saved is not None and saved.step == "members"
    assert saved.data["household"]["members"][0]["id_number"] == "2201041970"
    assert len(saved.data["household"]["members"]) == 5 and len(saved.data["household"]["obligors"]) == 1
    assert 'value="2201041970"' in clerk.get(f"/intake/drafts/{draft}/members").get_data(as_text=True)
    assert post(clerk, f"/intake/drafts/{draft}/letter/autosave", {}).status_code == 404


def test_rows_are_added_and_removed_without_losing_the_others(app, clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    form = persons_form()
    response = post(clerk, f"/intake/drafts/{draft}/members", {**form, "action": "add:obligors"})
    assert response.status_code == 302
    obligors = draft_row(app, draft).data["household"]["obligors"]  # type: ignore[union-attr]
    assert len(obligors) == 2 and obligors[1]["name"] == ""
    form = persons_form()
    response = post(clerk, f"/intake/drafts/{draft}/members", {**form, "action": "remove:members:2"})
    members = draft_row(app, draft).data["household"]["members"]  # type: ignore[union-attr]
    assert [m["name"] for m in members] == ["张三丰测试", "李秀兰测试0", "张小雨测试", "张大军测试"]
    html = clerk.get(f"/intake/drafts/{draft}/members").get_data(as_text=True)
    assert html.count('class="person"') == 5 and "张小宝测试" not in html


# --- validation on the server ---------------------------------------------------------------------------------


def test_a_wrong_check_digit_is_refused_by_the_server_and_kept(app, clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    post(clerk, f"/intake/drafts/{draft}/business", [*business_form(), ("action", "next")])
    form = persons_form()
    form["members-1-id_number"] = BAD_CHECK_DIGIT
    form["obligors-0-name"] = ""
    response = post(clerk, f"/intake/drafts/{draft}/members", {**form, "action": "next"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert_valid_html(html)
    assert re.search(r'id="f-members-1-id_number-error">[^<]*身份证号码校验位不正确', html)
    assert re.search(r'id="f-obligors-0-name-error">此项为必填项', html)
    assert f'value="{BAD_CHECK_DIGIT}"' in html and 'aria-invalid="true"' in html
    assert draft_row(app, draft).data["household"]["members"][1]["id_number"] == BAD_CHECK_DIGIT  # type: ignore[union-attr]


def test_business_step_errors_are_chinese_and_per_field(clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    form = [(k, v) for k, v in business_form(contact_phone="abc", signed_on="2099-01-01", business_type="housing")
            if k != "statement_copied"]
    response = post(clerk, f"/intake/drafts/{draft}/business", [*form, ("action", "next")])
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="f-contact_phone-error">联系电话格式不正确' in html
    assert 'id="f-signed_on-error">授权书签署日期不能晚于今天' in html
    assert 'id="f-business_type-error">授权书未勾选本次核对的业务类别' in html
    assert 'id="f-statement_copied-error">第一申请人须抄写并确认授权声明' in html
    assert 'value="abc"' in html


def test_person_rules_are_checked_against_relation_and_sex(clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    post(clerk, f"/intake/drafts/{draft}/business", [*business_form(), ("action", "next")])
    form = persons_form()
    form["members-1-relation"] = "son"  # a woman's ID number
    form["members-4-evidence"] = ""  # a conscript needs evidence
    html = post(clerk, f"/intake/drafts/{draft}/members", {**form, "action": "next"}).get_data(as_text=True)
    assert "身份证号码显示为女性，与成员关系「儿子」不符" in html
    assert re.search(r'id="f-members-4-evidence-error">「义务兵」须注明证明材料', html)


# --- scans ----------------------------------------------------------------------------------------------------


def test_scans_are_typed_by_content_not_by_name(app, clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    response = upload(clerk, draft, b"MZ\x90\x00 not a scan", "授权书.pdf")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "仅接受 PDF、JPEG、PNG 格式的扫描件（按文件内容识别）" in html
    assert_valid_html(html)
    assert upload(clerk, draft, b"", "empty.pdf").status_code == 422
    response = post(clerk, f"/intake/drafts/{draft}/documents", {"kind": "authorisation", "action": "upload"})
    assert response.status_code == 422 and "请选择要上传的文件" in response.get_data(as_text=True)
    response = upload(clerk, draft, PNG, "photo.txt")
    assert response.status_code == 302
    with app.extensions["hedui"].session_factory() as session:
        files = session.execute(select(IntakeDraftFile).where(IntakeDraftFile.draft_id == draft)).scalars().all()
        assert [(f.filename, f.content_type) for f in files] == [("photo.txt", "image/png")]
    page = clerk.get(f"/intake/drafts/{draft}/documents").get_data(as_text=True)
    assert "photo.txt" in page and ">PNG<" in page


def test_oversized_scans_are_refused(app, clerk, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import engine.services.packages as packages
    import web.intake.views as views

    monkeypatch.setattr(packages, "MAX_DOCUMENT_BYTES", 64)
    monkeypatch.setattr(views, "MAX_DOCUMENT_BYTES", 64)
    draft = start_draft(clerk)
    response = upload(clerk, draft, PDF + b"x" * 100, "big.pdf")
    assert response.status_code == 422 and "文件超过" in response.get_data(as_text=True)


def test_the_documents_step_needs_an_authorisation_scan(clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    upload(clerk, draft, PNG, "id.png", kind="id_card")
    response = post(clerk, f"/intake/drafts/{draft}/documents", {"action": "next"})
    assert response.status_code == 422 and "请上传授权书扫描件" in response.get_data(as_text=True)
    response = upload(clerk, draft, PDF, "scan.pdf", action="next")
    assert response.status_code == 302 and response.headers["Location"] == f"/intake/drafts/{draft}/letter"


def test_a_scan_can_be_deleted(app, clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    upload(clerk, draft, PDF, "scan.pdf")
    with app.extensions["hedui"].session_factory() as session:
        file_id = session.execute(select(IntakeDraftFile.id)).scalar_one()
    assert post(clerk, f"/intake/drafts/{draft}/files/{file_id}/delete", {}).status_code == 302
    with app.extensions["hedui"].session_factory() as session:
        assert session.execute(select(IntakeDraftFile.id)).first() is None


# --- letter and submit ----------------------------------------------------------------------------------------


def test_the_letter_preview_names_the_applicant_households_and_persons(clerk) -> None:  # type: ignore[no-untyped-def]
    draft = fill_all(clerk)
    response = clerk.get(f"/intake/drafts/{draft}/letter")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_valid_html(html)
    # the conscript son is excluded (not verified); the daughter working away is a support-duty person
    assert "现委托你单位对张三丰测试等1户5人开展经济状况核对。" in html
    assert "朝阳区社会救助家庭经济状况核对中心：" in html and "红旗街道民政办（盖章）" in html
    assert "2026年11月23日" in html and "提交前请修改" not in html
    assert "220104197001050001" not in html and "2201**********" in html


def test_problems_are_listed_on_the_letter_page_with_their_step(clerk) -> None:  # type: ignore[no-untyped-def]
    draft = start_draft(clerk)
    html = clerk.get(f"/intake/drafts/{draft}/letter").get_data(as_text=True)
    assert "提交前请修改以下内容" in html
    assert f'href="/intake/drafts/{draft}/business">第 1 步「业务类别」</a>' in html
    assert "经办人：" in html and "请上传授权书扫描件" in html
    response = post(clerk, f"/intake/drafts/{draft}/letter", {"action": "submit"})
    assert response.status_code == 422 and "委托材料有误" in response.get_data(as_text=True)


def test_submitting_registers_the_entrustment_and_removes_the_draft(app, clerk) -> None:  # type: ignore[no-untyped-def]
    draft = fill_all(clerk)
    response = post(clerk, f"/intake/drafts/{draft}/letter", {"action": "submit"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/cases/HD-CY-HDZX-2026-000001"
    page = clerk.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "已登记委托书" in html and "张三丰测试" in html
    assert draft_row(app, draft) is None
    with app.extensions["hedui"].session_factory() as session:
        entrustment = session.execute(select(Entrustment)).scalar_one()
        assert (entrustment.source.value, entrustment.household_count, entrustment.person_count) == ("paper", 1, 5)
        assert entrustment.contact_name == "周敏" and entrustment.created_by == "hq_street_clerk"
        docs = session.execute(select(Document)).scalars().all()
        assert [(d.kind.value, d.content_type) for d in docs] == [("authorisation", "application/pdf")]
        assert session.execute(select(IntakeDraftFile)).first() is None


def test_a_duplicate_entrustment_number_comes_back_to_the_letter(app, clerk) -> None:  # type: ignore[no-untyped-def]
    first = fill_all(clerk)
    post(clerk, f"/intake/drafts/{first}/business", [*business_form(number="红民救委〔2026〕1号"), ("action", "save")])
    assert post(clerk, f"/intake/drafts/{first}/letter", {"action": "submit"}).status_code == 302
    second = fill_all(clerk)
    post(clerk, f"/intake/drafts/{second}/business", [*business_form(number="红民救委〔2026〕1号"), ("action", "save")])
    response = post(clerk, f"/intake/drafts/{second}/letter", {"action": "submit"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "该委托书编号已登记" in html
    assert draft_row(app, second) is not None
