"""失信登记 pages and API (AU-3; JL 第十三条, 第二十条): propose from an ended case, approve, warn, look up.

The finding case is a real standard verification walked to its end; synthetic people only.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy import update

from engine.context import EngineContext
from engine.models import Event
from engine.models import Household
from engine.models import HumanTask
from engine.models import HumanTaskStatus
from engine.models import WorkflowInstance
from engine.models.credit import CreditRecord
from engine.reports.service import current_report
from tests.engine.credit_factory import ended_case
from tests.engine.credit_factory import propose
from tests.engine.credit_factory import registered
from tests.engine.recheck_factory import prepare
from tests.engine.report_factory import southern_case
from tests.web.test_api_tasks import _token
from tests.web.test_inbox import _post as post
from tests.web.test_inbox import login


def seed(ctx: EngineContext) -> None:
    """The demo region and diagrams, the department head, one ended case: the module's ``SEED_ONCE``."""
    prepare(ctx)
    ended_case(ctx)


SEED_ONCE = seed

def _ended(ctx: EngineContext) -> Household:
    """The seed's ended case."""
    return ctx.session.execute(select(Household)).scalar_one()


def _setup(app: Any, *, record: bool = False) -> dict[str, str]:
    """The seed's ended case (and a registered record)."""
    ctx = app.extensions["hedui"].new_context()
    household = _ended(ctx)
    out = {"case_no": household.case_no, "id_number": household.applicant.id_number}
    if record:
        out["number"] = registered(ctx, household).number
    ctx.session.commit()
    return out


def _southern(app: Any) -> str:
    """A new case in 南关区 (another county) listing the same applicant."""
    ctx = app.extensions["hedui"].new_context()
    case_no = southern_case(ctx, 0).case_no
    ctx.session.commit()
    return case_no


def _open_task(app: Any, case_no: str) -> str:
    ctx = app.extensions["hedui"].new_context()
    return ctx.session.execute(select(HumanTask.id).join(WorkflowInstance, WorkflowInstance.id == HumanTask.instance_id)
                               .where(WorkflowInstance.business_key == case_no,
                                      HumanTask.status == HumanTaskStatus.OPEN)).scalar_one()


def _records(app: Any) -> list[CreditRecord]:
    return list(app.extensions["hedui"].new_context().session.execute(select(CreditRecord)).scalars())


def _html(response: Any) -> str:
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


def test_propose_approve_and_warn_on_a_new_case_in_another_county(app, client) -> None:  # type: ignore[no-untyped-def]
    case = _setup(app)
    login(client, "cy_assistance")
    assert "提出失信登记" in _html(client.get(f"/cases/{case['case_no']}"))
    page = _html(client.get(f"/credit/new/{case['case_no']}"))
    report = current_report(app.extensions["hedui"].new_context(), case["case_no"])
    assert report is not None and f'value="{report.report.number}"' in page  # pre-filled evidence
    assert case["id_number"] not in page  # subjects are listed masked
    person = re.search(r'<option value="(\d+)"[^>]*>[^<]*演示户主', page)
    assert person is not None
    form = {"unit": re.search(r'name="unit".*?<option value="(\d+)"', page, re.S).group(1),  # type: ignore[union-attr]
            "person_id": person.group(1), "reason": "hid_property", "reason_detail": "",
            "valid_from": "2026-11-23", "valid_to": "2027-11-22"}
    refused = post(client, f"/credit/new/{case['case_no']}", form)
    assert refused.status_code == 422 and "请填写查实情况" in _html(refused)
    assert 'value="2027-11-22"' in _html(refused) and _records(app) == []  # the form is kept, nothing written

    created = post(client, f"/credit/new/{case['case_no']}", {**form, "reason_detail": "隐瞒名下车辆一辆"})
    assert created.status_code == 302, _html(created)
    number = created.headers["Location"].rsplit("/", 1)[1]
    detail = _html(client.get(f"/credit/{number}"))
    assert case["id_number"] in detail and "该登记由您提出" in detail
    own = post(client, f"/credit/{number}/decide", {"decision": "approve"})
    assert own.status_code == 403 and "SD-CR" in _html(own)

    login(client, "cy_mzj_head")
    assert post(client, f"/credit/{number}/decide", {"decision": "reject"}).status_code == 422  # no reason
    assert post(client, f"/credit/{number}/decide", {"decision": "approve"}).status_code == 302
    assert "已登记" in _html(client.get(f"/credit/{number}"))

    southern = _southern(app)
    login(client, "ng_intake")
    page = _html(client.get(f"/cases/{southern}"))
    assert 'id="credit-warning"' in page and number in page and "核对照常进行" in page
    assert case["id_number"] not in page
    task = _open_task(app, southern)  # the agency's 受理初审 task page warns too
    assert 'id="credit-warning"' in _html(client.get(f"/tasks/{task}"))
    [warning] = client.get(f"/api/v1/cases/{southern}", headers=_token(client, "ng_intake")).json["credit_warnings"]
    assert warning["credit_record"] == number and "*" in warning["id_number"]
    session = app.extensions["hedui"].new_context().session
    kinds = session.execute(select(Event.kind).where(Event.stream == f"credit:{_records(app)[0].id}")
                            .order_by(Event.seq)).scalars().all()
    assert kinds == ["credit_proposed", "credit_refused", "credit_approved"]
    viewed = session.execute(select(Event.payload).where(Event.kind == "personal_data_viewed")).scalars().all()
    assert any(p.get("page") == "credit_record" and p.get("credit_record") == number for p in viewed)


def test_api_decides_and_revokes_like_the_page(app, client) -> None:  # type: ignore[no-untyped-def]
    """AU-3 through the API: SD-CR refuses the proposer (recorded), a head approves, then revokes; 404/409/422."""
    ctx = app.extensions["hedui"].new_context()
    number = propose(ctx, _ended(ctx)).number
    ctx.session.commit()
    url = f"/api/v1/credit-records/{number}"
    own = client.post(f"{url}/decision", headers=_token(client, "cy_assistance"), json={"decision": "approve"})
    assert (own.status_code, own.json["error"]) == (403, "separation_of_duties")
    assert client.post(f"{url}/decision", headers=_token(client, "ng_intake"),
                       json={"decision": "approve"}).status_code == 404
    head = _token(client, "cy_mzj_head")
    bad = client.post(f"{url}/decision", headers=head, json={"decision": "yes", "extra": 1})
    assert bad.status_code == 422 and set(bad.json["details"]["fields"]) == {"extra"}
    bad = client.post(f"{url}/decision", headers=head, json={"decision": "maybe"})
    assert bad.status_code == 422 and set(bad.json["details"]["fields"]) == {"decision"}
    assert client.post(f"{url}/decision", headers=head, json={"decision": "reject"}).status_code == 422  # no note
    approved = client.post(f"{url}/decision", headers=head, json={"decision": "approve"})
    assert approved.status_code == 200 and approved.json["state"] == "registered"
    assert client.post(f"{url}/decision", headers=head, json={"decision": "reject", "note": "x"}).status_code == 409
    assert client.post(f"{url}/revoke", headers=head, json={"reason": "  "}).status_code == 422
    revoked = client.post(f"{url}/revoke", headers=head, json={"reason": "申诉成立"})
    assert revoked.status_code == 200 and revoked.json["state"] == "revoked"
    session = app.extensions["hedui"].new_context().session
    kinds = session.execute(select(Event.kind).where(Event.stream == f"credit:{_records(app)[0].id}")
                            .order_by(Event.seq)).scalars().all()
    assert kinds == ["credit_proposed", "credit_refused", "credit_approved", "credit_revoked"]
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/credit-records/{number}/decision", "/credit-records/{number}/revoke"} <= set(paths)


def test_the_list_masks_numbers_filters_and_follows_jurisdiction(app, client) -> None:  # type: ignore[no-untyped-def]
    case = _setup(app, record=True)
    login(client, "cy_assistance")
    listed = _html(client.get("/credit/?state=registered"))
    assert case["number"] in listed and case["id_number"] not in listed and case["id_number"][-4:] in listed
    assert case["number"] not in _html(client.get("/credit/?state=revoked"))
    assert case["number"] not in _html(client.get("/credit/?period_from=2028-01-01"))
    assert "应为日期" in _html(client.get("/credit/?period_to=not-a-date"))
    login(client, "ng_intake")
    assert case["number"] not in _html(client.get("/credit/"))
    assert client.get(f"/credit/{case['number']}").status_code == 404
    # a role in the region is not enough (engine.services.register_scope): a bank's officer of 长春市 and the
    # province's administrator read no record, and are not offered the register
    for username in ("cc_bank_officer", "admin"):
        login(client, username)
        assert case["number"] not in _html(client.get("/credit/")), username
        assert client.get(f"/credit/{case['number']}").status_code == 404, username
        assert 'href="/credit/"' not in _html(client.get("/")), username


def test_revoking_keeps_the_form_on_a_missing_reason(app, client) -> None:  # type: ignore[no-untyped-def]
    case = _setup(app, record=True)
    login(client, "cy_mzj_head")
    refused = post(client, f"/credit/{case['number']}/revoke", {"reason": " "})
    assert refused.status_code == 422 and "请填写撤销理由" in _html(refused)
    assert post(client, f"/credit/{case['number']}/revoke", {"reason": "申诉成立"}).status_code == 302
    assert "已撤销" in _html(client.get(f"/credit/{case['number']}"))
    assert "credit-warning" not in _html(client.get(f"/cases/{case['case_no']}"))


def test_api_lookup_by_id_number_list_and_detail(app, client) -> None:  # type: ignore[no-untyped-def]
    case = _setup(app, record=True)
    ng = _token(client, "ng_intake")
    lookup = "/api/v1/credit-records/lookup"
    found = client.post(lookup, headers=ng, json={"id_number": case["id_number"]})
    assert found.status_code == 200, found.json
    [item] = found.json["items"]
    assert (item["number"], item["in_force"], item["state"]) == (case["number"], True, "registered")
    assert "id_number" not in item and "*" in item["id_number_masked"]
    session = app.extensions["hedui"].new_context().session
    [searched] = session.execute(select(Event.payload).where(Event.kind == "personal_data_searched")).scalars().all()
    assert searched["id_hash"].startswith("hmac-sha256:") and case["id_number"] not in repr(searched)
    refused = client.post(lookup, headers=_token(client, "auditor"), json={"id_number": case["id_number"]})
    assert refused.status_code == 403 and refused.json["error"] == "role_required"
    wrong = case["id_number"][:-1] + ("0" if case["id_number"][-1] != "0" else "1")
    assert client.post(lookup, headers=ng, json={"id_number": wrong}).json["error"] == "invalid_id_number"
    assert client.post(lookup, headers=ng, json={}).json["error"] == "invalid_id_number"
    # never in a URL (request lines end up in access logs): refused, and nothing searched
    in_query = client.get(f"/api/v1/credit-records?id_number={case['id_number']}", headers=ng)
    assert in_query.status_code == 422 and in_query.json["error"] == "id_number_in_query"
    assert client.get("/api/v1/credit-records", headers=ng).json["items"] == []  # jurisdiction without a number
    assert client.get(f"/api/v1/credit-records/{case['number']}", headers=ng).status_code == 404
    officer = _token(client, "cy_assistance")
    [listed] = client.get("/api/v1/credit-records?state=registered", headers=officer).json["items"]
    assert "id_number" not in listed
    assert client.get("/api/v1/credit-records?state=nonsense", headers=officer).status_code == 422
    detail = client.get(f"/api/v1/credit-records/{case['number']}", headers=officer).json
    assert detail["id_number"] == case["id_number"]
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/credit-records", "/credit-records/lookup", "/credit-records/{number}"} <= set(paths)
    assert "post" in paths["/credit-records/lookup"]


def test_intake_of_a_subject_with_a_record_in_force_says_so(app, client) -> None:  # type: ignore[no-untyped-def]
    """The clerk registering a new case is told (flash and banner); the case is registered all the same."""
    from tests.engine.package_factory import synthetic_household
    from tests.web.test_intake import fill_all
    from tests.web.test_intake import post as intake_post

    case = _setup(app, record=True)
    applicant = synthetic_household(0)["members"][0]
    ctx = app.extensions["hedui"].new_context()
    # the wizard's synthetic applicant stands in for a person registered elsewhere: same record, their number
    ctx.session.execute(update(CreditRecord).where(CreditRecord.number == case["number"])
                        .values(id_number=applicant["id_number"]))
    ctx.session.commit()
    login(client, "hq_street_clerk")
    draft = fill_all(client)
    response = intake_post(client, f"/intake/drafts/{draft}/letter", {"action": "submit"})
    assert response.status_code == 302, _html(response)
    page = _html(client.get(response.headers["Location"]))
    assert "存在有效的失信登记" in page and 'id="credit-warning"' in page and case["number"] in page
