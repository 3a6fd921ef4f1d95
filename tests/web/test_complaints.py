"""Complaint channels lead to re-verification (AU-2; JL 第二十一条): register, triage, link, read by jurisdiction.

Real services throughout: the demo region and every diagram, an enrolled household of 红旗街道 (synthetic
people), the real ``individual_recheck`` process started by 转复核.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.history import verify_chain
from engine.models import Event
from engine.models import Household
from engine.models import Recheck
from engine.models import RecheckTrigger
from engine.models.complaint import Complaint
from engine.services.complaints import complaint_stream
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare
from tests.web.test_api_tasks import _token
from tests.web.test_inbox import _post as post
from tests.web.test_inbox import login

CONTENT = "群众举报：该户家庭成员在外经营网店，收入未申报"


def seed(ctx: EngineContext) -> None:
    """The demo region and diagrams, one household of 红旗街道 entrusted to 朝阳区核对中心 (the module's seed)."""
    prepare(ctx)
    enrol(ctx)


SEED_ONCE = seed

def _setup(app: Any) -> str:
    """What :func:`seed` made: the household's case number."""
    with app.extensions["hedui"].session_factory() as session:
        return str(session.execute(select(Household.case_no)).scalar_one())


def _session(app: Any) -> Session:
    return app.extensions["hedui"].new_context().session


def _count(app: Any, model: Any) -> int:
    return int(_session(app).execute(select(func.count()).select_from(model)).scalar_one())


def _html(response: Any) -> str:
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


def _register_on_web(client: Any, case_no: str | None = None, **extra: str) -> Any:
    page = _html(client.get("/complaints/new"))
    unit = re.search(r'name="unit".*?<option value="(\d+)" selected', page, re.S)
    assert unit is not None, "the clerk's one unit is pre-selected"
    form = {"unit": unit.group(1), "channel": "phone", "received_at": "2026-11-23T08:30", "content": CONTENT,
            **({"case_no": case_no} if case_no else {}), **extra}
    return post(client, "/complaints/new", form)


def _api_body(**extra: Any) -> dict[str, Any]:
    return {"receiving_unit": "HQ-MZB", "received_at": "2026-11-23T08:00:00+08:00", "content": CONTENT,
            "subject_text": "红旗街道和平小区1栋 张姓住户", **extra}


def test_web_complaint_is_referred_to_a_recheck(app, client) -> None:  # type: ignore[no-untyped-def]
    """A phone complaint, registered on the web and referred: the recheck links both ways (AU-2, PS-9)."""
    case_no = _setup(app)
    login(client, "hq_street_clerk")
    listing = _html(client.get("/complaints/"))
    assert "登记举报投诉" in listing and "没有符合条件的举报投诉" in listing
    refused = _register_on_web(client, case_no, content="", complainant_name="王演示")
    assert refused.status_code == 422 and "请填写举报内容" in _html(refused) and 'value="王演示"' in _html(refused)
    refused = _register_on_web(client, case_no, received_at="2026-11-24T08:00")
    assert refused.status_code == 422 and "收到时间不能晚于现在" in _html(refused)
    refused = _register_on_web(client, "CY-HDZX-2026-999999")
    assert refused.status_code == 422 and "本单位辖区内没有该业务编号的案件" in _html(refused)
    assert _count(app, Complaint) == 0  # nothing half-written
    done = _register_on_web(client, case_no)
    assert done.status_code == 302
    number = done.headers["Location"].rsplit("/", 1)[1]
    assert re.fullmatch(r"JB-HQ-MZB-2026-000001", number)
    page = _html(client.get(f"/complaints/{number}"))
    assert "待处理" in page and "匿名" in page and "转复核" in page and "0 个工作日" in page
    refused = post(client, f"/complaints/{number}/refer", {"case_no": case_no, "reason": "  "})
    assert refused.status_code == 422 and "请填写复核原因" in _html(refused)
    assert _count(app, Recheck) == 0
    assert post(client, f"/complaints/{number}/refer", {"case_no": case_no, "reason": CONTENT}).status_code == 302
    session = _session(app)
    complaint = session.execute(select(Complaint).where(Complaint.number == number)).scalar_one()
    recheck = complaint.recheck
    assert complaint.status.value == "recheck_filed" and recheck is not None
    assert (recheck.trigger, recheck.requester_name, recheck.reason, recheck.initiating_unit.code) == (
        RecheckTrigger.COMPLAINT, "匿名", CONTENT, "HQ-MZB")
    assert recheck.requested_on.isoformat() == "2026-11-23"
    assert f'id="complaint-recheck">{recheck.number}</a>' in _html(client.get(f"/complaints/{number}"))
    recheck_page = _html(client.get(f"/rechecks/{recheck.number}"))
    assert "来源举报" in recheck_page and f'id="source-complaint">{number}</a>' in recheck_page
    api = client.get(f"/api/v1/rechecks/{recheck.number}", headers=_token(client, "hq_street_clerk")).json
    assert api["complaint_no"] == number and api["trigger"] == "complaint"
    events = session.execute(select(Event).where(Event.stream == complaint_stream(complaint.id))
                             .order_by(Event.seq)).scalars().all()
    assert [(e.kind, e.actor) for e in events] == [("complaint_registered", "hq_street_clerk"),
                                                   ("complaint_referred", "hq_street_clerk")]
    assert events[1].payload["recheck_no"] == recheck.number
    assert all("匿名" not in str(e.payload) and CONTENT not in str(e.payload) for e in events)  # no personal data
    assert verify_chain(session) == []
    # referred once: a second referral is a conflict, and the county department decides as for any recheck
    again = post(client, f"/complaints/{number}/refer", {"case_no": case_no, "reason": CONTENT})
    assert again.status_code == 409 and _count(app, Recheck) == 1


def test_dismiss_and_close_need_their_text_and_follow_the_status(app, client) -> None:  # type: ignore[no-untyped-def]
    _setup(app)
    login(client, "hq_street_clerk")
    first = _register_on_web(client, subject_text="和平小区 张姓住户").headers["Location"].rsplit("/", 1)[1]
    second = _register_on_web(client, subject_text="和平小区 李姓住户").headers["Location"].rsplit("/", 1)[1]
    refused = post(client, f"/complaints/{first}/dismiss", {"reason": ""})
    assert refused.status_code == 422 and "请填写不予受理的理由" in _html(refused)
    refused = post(client, f"/complaints/{first}/refer", {"case_no": "", "reason": CONTENT})
    assert refused.status_code == 422 and "请填写被举报家庭的核对业务编号" in _html(refused)
    assert post(client, f"/complaints/{first}/dismiss", {"reason": "举报对象不明确，无法核实"}).status_code == 302
    assert post(client, f"/complaints/{first}/close", {"reply": "已答复"}).status_code == 409
    refused = post(client, f"/complaints/{second}/close", {"reply": " "})
    assert refused.status_code == 422 and "请填写答复内容" in _html(refused)
    assert post(client, f"/complaints/{second}/close", {"reply": "经走访，该户情况属实已按规定处理"}).status_code == 302
    session = _session(app)
    rows = {c.number: c for c in session.execute(select(Complaint)).scalars()}
    assert (rows[first].status.value, rows[first].dismiss_reason, rows[first].triaged_by) == (
        "dismissed", "举报对象不明确，无法核实", "hq_street_clerk")
    assert (rows[second].status.value, rows[second].closed_by) == ("closed", "hq_street_clerk")
    kinds = sorted(e.kind for e in session.execute(select(Event).where(Event.stream.like("complaint:%"))).scalars())
    assert kinds == ["complaint_closed", "complaint_dismissed", "complaint_registered", "complaint_registered"]
    listing = _html(client.get("/complaints/?status=dismissed"))
    assert first in listing and second not in listing
    assert second in _html(client.get("/complaints/?channel=phone&received_from=2026-11-23&received_to=2026-11-23"))
    assert "没有符合条件" in _html(client.get("/complaints/?received_from=2026-11-24"))


def test_api_registers_online_complaints_idempotently(app, client, caplog) -> None:  # type: ignore[no-untyped-def]
    """The online channel's door: roles, 422 writing nothing, Idempotency-Key, cursor paging, OpenAPI."""
    case_no = _setup(app)
    agency = _token(client, "cy_intake")
    refused = client.post("/api/v1/complaints", headers=agency, json=_api_body())
    assert (refused.status_code, refused.json["error"]) == (403, "role_required")
    clerk = _token(client, "hq_street_clerk")
    invalid = client.post("/api/v1/complaints", headers=clerk, json=_api_body(content="", subject_text=None,
                                                                                channel="fax"))
    assert invalid.status_code == 422 and "channel" in invalid.json["details"]["fields"]
    invalid = client.post("/api/v1/complaints", headers=clerk, json=_api_body(case_no="CY-HDZX-2026-999999"))
    assert invalid.status_code == 422 and invalid.json["details"]["fields"] == {
        "case_no": ["本单位辖区内没有该业务编号的案件"]}
    assert _count(app, Complaint) == 0 and _count(app, Event) > 0  # nothing written by the refusals
    keyed = {**clerk, "Idempotency-Key": "wechat-msg-0001"}
    caplog.set_level(logging.DEBUG)
    created = client.post("/api/v1/complaints", headers=keyed, json=_api_body(
        case_no=case_no, complainant_name="钱演示", complainant_contact="0431-86660000"))
    assert created.status_code == 201, created.json
    assert created.json["number"] in caplog.text  # registered, and logged without personal data
    assert "钱演示" not in caplog.text and "0431-86660000" not in caplog.text and CONTENT not in caplog.text
    assert (created.json["channel"], created.json["registered_via"], created.json["status"]) == (
        "online", "api", "received")
    replay = client.post("/api/v1/complaints", headers=keyed, json=_api_body(case_no=case_no))
    assert replay.status_code == 200 and replay.json["number"] == created.json["number"]
    other = client.post("/api/v1/complaints", headers=clerk, json=_api_body(channel="email"))
    assert other.status_code == 201 and _count(app, Complaint) == 2
    page = client.get("/api/v1/complaints?limit=1", headers=clerk).json
    assert [c["number"] for c in page["items"]] == [other.json["number"]] and "content" not in page["items"][0]
    rest = client.get(f"/api/v1/complaints?limit=1&cursor={page['next_cursor']}", headers=clerk).json
    assert [c["number"] for c in rest["items"]] == [created.json["number"]] and rest["next_cursor"] is None
    assert client.get("/api/v1/complaints?channel=fax", headers=clerk).status_code == 422
    one = client.get(f"/api/v1/complaints/{created.json['number']}", headers=clerk).json
    assert one["content"] == CONTENT and one["case_no"] == case_no
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/complaints", "/complaints/{complaint_no}"} <= set(paths) and "post" in paths["/complaints"]


def test_jurisdiction_roles_and_the_auditor(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _setup(app)
    created = client.post("/api/v1/complaints", headers=_token(client, "hq_street_clerk"),
                          json=_api_body(case_no=case_no)).json["number"]
    # another county: the complaint does not exist for it
    assert client.get(f"/api/v1/complaints/{created}", headers=_token(client, "ng_intake")).status_code == 404
    login(client, "ng_intake")
    assert created not in _html(client.get("/complaints/"))
    assert client.get(f"/complaints/{created}").status_code == 404
    # the county agency sees its region's complaints, but triage is the receiving department's
    login(client, "cy_intake")
    page = _html(client.get(f"/complaints/{created}"))
    assert "待处理" in page and "不予受理</h2>" not in page
    # the page names the complainant: the view is recorded, without the content or the contact
    [viewed] = [e.payload for e in _session(app).execute(select(Event).where(
        Event.kind == "personal_data_viewed", Event.actor == "cy_intake")).scalars()
        if e.payload.get("page") == "complaint"]
    assert viewed["complaint_no"] == created and CONTENT not in repr(viewed)
    # a role in the region is not enough: a bank's officer of 长春市 and the province's administrator read nothing
    for username in ("cc_bank_officer", "admin"):
        assert client.get(f"/api/v1/complaints/{created}", headers=_token(client, username)).status_code == 404
    login(client, "cy_intake")
    assert post(client, f"/complaints/{created}/dismiss", {"reason": "无关"}).status_code == 403
    # the province's auditor reads everything and acts on nothing
    login(client, "auditor")
    assert created in _html(client.get("/complaints/")) and client.get(f"/complaints/{created}").status_code == 200
    for action, form in (("refer", {"case_no": case_no, "reason": CONTENT}), ("dismiss", {"reason": "无关"}),
                         ("close", {"reply": "已答复"})):
        assert post(client, f"/complaints/{created}/{action}", form).status_code == 403, action
    assert post(client, "/complaints/new", {"unit": "1", "channel": "phone", "content": CONTENT}).status_code == 403
    assert client.post("/api/v1/complaints", headers=_token(client, "auditor"),
                       json=_api_body()).status_code == 403
    complaint = _session(app).execute(select(Complaint)).scalar_one()
    assert complaint.status.value == "received" and _count(app, Complaint) == 1


def test_api_triage_refers_dismisses_and_closes_like_the_page(app, client) -> None:  # type: ignore[no-untyped-def]
    """AU-2 through the API: the receiving unit's officer triages; others 403/404; wrong state 409; bad body 422."""
    case_no = _setup(app)
    clerk = _token(client, "hq_street_clerk")
    first = client.post("/api/v1/complaints", headers=clerk, json=_api_body(case_no=case_no)).json["number"]
    second = client.post("/api/v1/complaints", headers=clerk, json=_api_body()).json["number"]
    assert client.post(f"/api/v1/complaints/{first}/dismiss", headers=_token(client, "cy_intake"),
                       json={"reason": "无关"}).status_code == 403  # the agency reads, the department triages
    assert client.post(f"/api/v1/complaints/{first}/dismiss", headers=_token(client, "ng_intake"),
                       json={"reason": "无关"}).status_code == 404
    bad = client.post(f"/api/v1/complaints/{first}/dismiss", headers=clerk, json={"reason": "", "note": "x"})
    assert bad.status_code == 422 and bad.json["details"]["fields"] == {"note": ["不允许的字段"]}
    bad = client.post(f"/api/v1/complaints/{first}/dismiss", headers=clerk, json={"reason": 5})
    assert bad.status_code == 422 and bad.json["details"]["fields"] == {"reason": ["应为文本"]}
    assert client.post(f"/api/v1/complaints/{first}/dismiss", headers=clerk, json={}).status_code == 422
    referred = client.post(f"/api/v1/complaints/{first}/refer", headers=clerk, json={})
    assert referred.status_code == 200 and referred.json["status"] == "recheck_filed" and referred.json["recheck_no"]
    assert client.post(f"/api/v1/complaints/{first}/dismiss", headers=clerk,
                       json={"reason": "无关"}).status_code == 409  # already referred
    closed = client.post(f"/api/v1/complaints/{first}/close", headers=clerk, json={"reply": "已转复核并答复"})
    assert closed.status_code == 200 and closed.json["status"] == "closed"
    dismissed = client.post(f"/api/v1/complaints/{second}/dismiss", headers=clerk, json={"reason": "举报对象不明确"})
    assert dismissed.status_code == 200 and dismissed.json["status"] == "dismissed"
    kinds = _session(app).execute(select(Event.kind).where(Event.stream.like("complaint:%"))).scalars().all()
    assert sorted(kinds).count("complaint_registered") == 2 and verify_chain(_session(app)) == []
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {f"/complaints/{{complaint_no}}/{action}" for action in ("refer", "dismiss", "close")} <= set(paths)


def test_the_case_page_lists_the_households_complaints_for_readers_only(app, client) -> None:  # type: ignore[no-untyped-def]
    """AU-2: the case page lists the complaints about its household (number linked, channel, status, received
    date) to readers of the register (REGISTER_READERS, by jurisdiction); an exchange officer of the same
    agency sees the case but no complaint section; a complaint about no case is not listed."""
    from engine.models.complaint import CHANNEL_NAMES

    case_no = _setup(app)
    login(client, "cy_intake")  # nothing about the household yet: the section says so
    assert "本户尚无举报投诉记录。" in _html(client.get(f"/cases/{case_no}"))
    headers = _token(client, "hq_street_clerk")
    about = client.post("/api/v1/complaints", headers=headers, json=_api_body(case_no=case_no)).json["number"]
    other = client.post("/api/v1/complaints", headers=headers, json=_api_body()).json["number"]
    channel = _session(app).execute(select(Complaint.channel).where(Complaint.number == about)).scalar_one()
    for username in ("cy_intake", "hq_street_clerk", "auditor"):
        login(client, username)
        page = _html(client.get(f"/cases/{case_no}"))
        assert 'id="complaints-title">举报投诉</h2>' in page, username
        row = re.search(rf'<tr data-complaint-no="{about}">(.*?)</tr>', page, re.S)
        assert row is not None, username
        assert f'<a href="/complaints/{about}">{about}</a>' in row.group(1)
        assert f"<td>{CHANNEL_NAMES[channel.value]}</td><td>待处理</td><td>2026-11-23</td>" in row.group(1)
        assert other not in page
    login(client, "cy_exchange_1")  # sees the case (the agency's staff), reads no register
    response = client.get(f"/cases/{case_no}")
    page = _html(response)
    assert response.status_code == 200 and case_no in page
    assert 'id="complaints-title"' not in page and about not in page
