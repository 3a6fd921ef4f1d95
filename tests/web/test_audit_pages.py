"""The auditors' pages (AU-1, PR-4, AR-4, SEC-12): case list with verification, timeline, replay, access log.

Every look is recorded on the system stream; the case's own stream (its replay log) is never
touched by reading. Personal data is masked unless the auditor states a purpose, which is recorded.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy import text

from engine.context import Actor
from engine.history import SYSTEM_STREAM
from engine.models import Event
from engine.models import User
from engine.models.case import Household
from engine.services.org import get_unit_by_code
from engine.services.org import grant_role
from forms.ids import mask_id
from tests.engine.package_factory import make_id
from tests.web.test_audit_api import _setup
from tests.web.test_cases_pages import make_case
from tests.web.test_intake import post
from tests.web.test_intake import setup_demo
from tests.web.test_login import assert_valid_html
from tests.web.test_login import login
from tests.web.test_login import logout
from web.audit.display import data_lines
from web.audit.display import masked

APPLICANT_ID = make_id(date(1970, 1, 5), 0, male=True)


def _events(app: Any, stream: str) -> list[Event]:
    with app.extensions["hedui"].session_factory() as session:
        rows = list(session.execute(select(Event).where(Event.stream == stream).order_by(Event.seq)).scalars())
        for row in rows:
            session.expunge(row)
        return rows


@pytest.fixture
def case_id(app: Any) -> int:
    """HD-1, a 朝阳区 linear_review case: 受理初审 done, 审核复审 returned it, waiting at 受理初审 again."""
    return _setup(app.extensions["hedui"].new_context())


@pytest.fixture
def auditor(client: Any, case_id: int) -> Any:
    assert login(client, "auditor").status_code == 302
    return client


def _html(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    html = response.get_data(as_text=True)
    assert_valid_html(html)
    return html


def test_only_auditors_reach_the_audit_pages_and_the_header_link(app: Any, client: Any, case_id: int) -> None:
    login(client, "cy_intake")
    assert "审计监督" not in client.get("/").get_data(as_text=True)
    for url in ("/audit/", f"/audit/cases/{case_id}", f"/audit/cases/{case_id}/replay", "/audit/access"):
        assert client.get(url).status_code == 403, url
    logout(client)
    login(client, "auditor")
    assert '<a href="/audit/">审计监督</a>' in client.get("/").get_data(as_text=True)


def test_the_case_list_shows_each_cases_verification(app: Any, auditor: Any, case_id: int) -> None:
    html = _html(auditor.get("/audit/"))
    assert f'href="/audit/cases/{case_id}">HD-1</a>' in html and "通过" in html and "共 1 个案件" in html
    session = app.extensions["hedui"].new_context().session
    session.execute(text("UPDATE workflow_instances SET state = replace(state, '\"return\"', '\"accept\"') "
                         "WHERE id = :i"), {"i": case_id})
    session.commit()
    html = _html(auditor.get("/audit/?q=HD-1"))
    assert "发现 1 处问题" in html and "与第 3 号事件（task_completed）记录的状态摘要不符" in html
    assert "共 0 个案件" in _html(auditor.get("/audit/?q=HD-9"))


def test_an_auditor_sees_only_its_jurisdiction(app: Any, client: Any, case_id: int) -> None:
    """An auditor of 南关区 neither lists nor opens a 朝阳区 case (404, as if it did not exist)."""
    ctx = app.extensions["hedui"].new_context()
    user = ctx.session.execute(select(User).where(User.username == "ng_intake")).scalar_one()
    grant_role(ctx, user, get_unit_by_code(ctx, "NG-HDZX"), "auditor", actor=Actor("admin", "admin"))
    ctx.session.commit()
    login(client, "ng_intake")
    assert "共 0 个案件" in _html(client.get("/audit/"))
    assert client.get(f"/audit/cases/{case_id}").status_code == 404
    assert client.get(f"/audit/cases/{case_id}/replay").status_code == 404
    assert client.get(f"/audit/cases/{case_id}/export.csv").status_code == 404


def test_the_timeline_lists_every_event_with_who_what_when_and_version(app: Any, auditor: Any, case_id: int) -> None:
    before = len(_events(app, SYSTEM_STREAM))
    html = _html(auditor.get(f"/audit/cases/{case_id}"))
    assert "核验结果：一致，未发现篡改" in html and "按事件日志重放（3 步）与存储状态比对：一致" in html
    for seq in (1, 2, 3):
        assert f'id="event-{seq}"' in html
    assert html.index('id="event-1"') < html.index('id="event-2"') < html.index('id="event-3"')
    assert "王磊（朝阳区核对中心）" in html and "朝阳区社会救助家庭经济状况核对中心 · 审核复审员" in html
    assert "第 1 版" in html and "<dt>审核结论</dt><dd>退回（return）</dd><dt>理由</dt><dd>缺签字</dd>" in html
    assert f'href="/audit/cases/{case_id}/export.csv"' in html and f'href="/audit/cases/{case_id}/replay"' in html
    only = _html(auditor.get(f"/audit/cases/{case_id}?kind=task_completed&actor=cy_reviewer"))
    assert 'id="event-3"' in only and 'id="event-1"' not in only and 'id="event-2"' not in only
    assert f"/audit/cases/{case_id}/export.csv?kind=task_completed&amp;actor=cy_reviewer" in only
    recorded = _events(app, SYSTEM_STREAM)[before:]
    assert [(e.kind, e.actor, e.payload["view"], e.payload["filters"]) for e in recorded] == [
        ("audit_viewed", "auditor", "timeline", {"kind": [], "actor": None}),
        ("audit_viewed", "auditor", "timeline", {"kind": ["task_completed"], "actor": "cy_reviewer"})]
    assert [e.kind for e in _events(app, f"instance:{case_id}")] == ["started", "task_completed", "task_completed"]


def test_exports_are_files_and_recorded(app: Any, auditor: Any, case_id: int) -> None:
    response = auditor.get(f"/audit/cases/{case_id}/export.csv?actor=cy_reviewer")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][0] == "序号" and [r[0] for r in rows[1:]] == ["3"]
    exported = auditor.get(f"/audit/cases/{case_id}/export.json").json
    assert [i["seq"] for i in exported["items"]] == [1, 2, 3]
    assert auditor.get(f"/audit/cases/{case_id}/export.xml").status_code == 404
    recorded = [(e.kind, e.payload["format"], e.payload["rows"]) for e in _events(app, SYSTEM_STREAM)
                if e.kind == "history_exported"]
    assert recorded == [("history_exported", "csv", 1), ("history_exported", "json", 3)]


def test_personal_data_is_masked_until_unmasked_for_a_recorded_purpose(app: Any, auditor: Any) -> None:
    setup_demo(app)
    case_no = make_case(app)
    with app.extensions["hedui"].session_factory() as session:
        instance_id = session.execute(select(Household.instance_id).where(Household.case_no == case_no)).scalar_one()
    html = _html(auditor.get(f"/audit/cases/{instance_id}"))
    assert mask_id(APPLICANT_ID) in html and APPLICANT_ID not in html
    refused = post(auditor, f"/audit/cases/{instance_id}/unmask", {"purpose": "other"})
    assert refused.status_code == 422 and "选择「其他」时请说明用途" in refused.get_data(as_text=True)
    assert APPLICANT_ID not in refused.get_data(as_text=True)
    shown = post(auditor, f"/audit/cases/{instance_id}/unmask", {"purpose": "complaint", "note": "信访件 12 号"})
    assert shown.status_code == 200 and APPLICANT_ID in shown.get_data(as_text=True)
    [unmasked] = [e for e in _events(app, SYSTEM_STREAM) if e.kind == "personal_data_unmasked"]
    assert (unmasked.actor, unmasked.payload["purpose"], unmasked.payload["note"]) == ("auditor", "complaint",
                                                                                       "信访件 12 号")
    assert len(unmasked.payload["person_ids"]) == 6 and APPLICANT_ID not in str(unmasked.payload)
    assert APPLICANT_ID not in auditor.get(f"/audit/cases/{instance_id}").get_data(as_text=True)  # masked again


def test_recorded_data_masks_id_and_account_numbers() -> None:
    data = {"subject": APPLICANT_ID, "note": f"申请人 {APPLICANT_ID} 的账户 6222020200112233445", "count": 2,
            "ok": True, "persons": [{"id": APPLICANT_ID}]}
    shown = masked(data)
    assert shown["subject"] == mask_id(APPLICANT_ID) and APPLICANT_ID not in str(shown)
    assert "6222020200112233445" not in shown["note"] and shown["count"] == 2
    lines = {line.name: line.value for line in data_lines(data)}
    assert lines["ok"] == "是" and APPLICANT_ID not in lines["persons"]
    assert {line.name: line.value for line in data_lines(data, unmasked=True)}["subject"] == APPLICANT_ID
    labelled = data_lines({"decision": "return", "reason": "缺签字"}, "review")
    assert [(line.label, line.value) for line in labelled] == [("审核结论", "退回（return）"), ("理由", "缺签字")]


def test_the_replay_steps_through_the_case_and_the_diagram_marks_change(app: Any, auditor: Any,
                                                                          case_id: int) -> None:
    html = _html(auditor.get(f"/audit/cases/{case_id}/replay"))
    assert "第 <strong>1</strong> 步，共 3 步" in html and 'rel="next"' in html and 'rel="prev"' not in html
    assert "核验结果：一致，未发现篡改" in html and "本步：启动案件" in html
    second = _html(auditor.get(f"/audit/cases/{case_id}/replay?step=2"))
    assert "第 <strong>2</strong> 步，共 3 步" in second and "本步：办结任务「受理初审」" in second
    assert "吴全（朝阳区核对中心）、王磊（朝阳区核对中心）" in second  # 审核复审's candidates then
    marks = [auditor.get(f"/audit/cases/{case_id}/replay/diagram?step={n}").json for n in (1, 2, 3)]
    assert [(m["completed"], m["active"], m["current"]) for m in marks] == [
        (["start"], ["intake_check"], None),
        (["start", "intake_check"], ["review"], "intake_check"),
        (["start", "intake_check", "review", "gw_review"], ["intake_check"], "review")]
    assert marks[0]["xml"].startswith("<?xml") and marks[0]["version"] == 1
    last = _html(auditor.get(f"/audit/cases/{case_id}/replay?step=99"))  # clamped to the last step
    assert "第 <strong>3</strong> 步，共 3 步" in last and 'rel="next"' not in last
    assert "<dt>退回理由</dt><dd>缺签字</dd>" not in last  # process data of linear_review holds no form data
    views = [(e.payload["view"], e.payload["step"]) for e in _events(app, SYSTEM_STREAM) if e.kind == "audit_viewed"]
    assert views == [("replay", 1), ("replay", 2), ("replay", 3)]


def test_the_replay_page_shows_the_first_divergence_of_a_tampered_case(app: Any, auditor: Any,
                                                                         case_id: int) -> None:
    session = app.extensions["hedui"].new_context().session
    session.execute(text("UPDATE workflow_instances SET state = replace(state, '\"return\"', '\"accept\"') "
                         "WHERE id = :i"), {"i": case_id})
    session.commit()
    html = _html(auditor.get(f"/audit/cases/{case_id}/replay"))
    assert "核验结果：发现问题" in html and "<strong>不一致</strong>" in html
    assert "首个分歧：</strong>第 3 号事件（task_completed review）之后" in html


def test_the_access_log_lists_who_looked_at_what_and_filters(app: Any, auditor: Any, case_id: int) -> None:
    login_as = app.test_client()
    login(login_as, "cy_intake")
    login_as.get(f"/api/v1/cases/{case_id}/history")  # no token: not recorded
    auditor.get(f"/audit/cases/{case_id}")
    auditor.get(f"/audit/cases/{case_id}/export.csv")
    html = _html(auditor.get("/audit/access"))
    assert html.count("<tr>") >= 3 and "审计查阅" in html and "导出办理记录" in html
    assert f'href="/audit/cases/{case_id}">HD-1</a>' in html and "查阅内容：时间线" in html
    only = _html(auditor.get("/audit/access?kind=history_exported"))
    assert "格式：csv" in only and "查阅内容：时间线" not in only
    assert "没有符合条件的记录" in _html(auditor.get("/audit/access?case=HD-404"))
    assert "没有符合条件的记录" in _html(auditor.get("/audit/access?actor=nobody"))
    assert "没有符合条件的记录" in _html(auditor.get("/audit/access?since=2030-01-01"))
    assert "格式：csv" in _html(auditor.get("/audit/access?case=HD-1&until=2026-11-23&since=2026-11-23"))
    looked = [e.payload["filters"] for e in _events(app, SYSTEM_STREAM) if e.kind == "access_log_viewed"]
    assert looked[0] == {} and looked[1] == {"kind": "history_exported"}


def test_the_sub_process_around_a_waiting_element_counts_as_running() -> None:
    from web.audit.display import containers

    xml = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="p">'
           '<bpmn:subProcess id="outer"><bpmn:subProcess id="inner"><bpmn:intermediateCatchEvent id="wait"/>'
           '</bpmn:subProcess></bpmn:subProcess><bpmn:userTask id="top"/></bpmn:process></bpmn:definitions>')
    assert containers(xml, ["wait", "top"]) == ["outer", "inner"]
    assert containers(xml, ["top"]) == [] and containers("<not xml", ["wait"]) == []
