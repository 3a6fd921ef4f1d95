"""Re-verification through the API and the pages (PS-8, PS-9, PS-13, DO-8): start, refuse late, decide, batch."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC
from datetime import date
from datetime import datetime
from typing import Any
from typing import TypeVar

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Event
from engine.models import Household
from engine.models import Recheck
from engine.models import RecheckBatch
from engine.models import RecheckStatus
from engine.models import RecheckTrigger
from engine.models import Unit
from tests.web.test_api_cases import _body
from tests.web.test_api_cases import _setup
from tests.web.test_api_cases import _verify
from tests.web.test_api_tasks import _token
from tests.web.test_cases_pages import RecordingQueue
from tests.web.test_inbox import _post as post
from tests.web.test_inbox import login
from tests.web.test_intake import seed_deployed
from web.jobs import execute

T = TypeVar("T")


#: the demo organisation and every diagram deployed (what ``_setup`` makes), seeded once for the module
SEED_ONCE = seed_deployed


def _case(app: Any, client: Any, verified: bool = True) -> str:
    """A case entrusted through the API, on a fresh ``_setup`` (for modules without this module's seed)."""
    _setup(app)
    return _new_case(app, client, verified)


def _new_case(app: Any, client: Any, verified: bool = True) -> str:
    """A case entrusted through the API (and verified unless told otherwise), on the seed."""
    case_no = client.post("/api/v1/entrustments", headers=_token(client, "hq_street_clerk"),
                          json=_body(1)).json["cases"][0]["case_no"]
    if verified:
        _verify(app, case_no)
    return case_no


def _read(app: Any, read: Callable[[Session], T]) -> T:
    """``read`` in a session of its own, closed at once (an open one would outlive the test's savepoint)."""
    with app.extensions["hedui"].session_factory() as session:
        return read(session)


def _recheck(case_no: str, **extra: Any) -> dict[str, Any]:
    return {"case_no": case_no, "initiating_unit": "HQ-MZB", "trigger": "objection", "requester_name": "张演示",
            "requested_on": "2026-11-23", "reason": "对存款数额有异议", **extra}


def test_post_rechecks_starts_one_and_the_department_decides(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _new_case(app, client)
    clerk = _token(client, "hq_street_clerk")
    decision = {"assistance_decision": "approved", "decided_on": "2026-11-23", "notified_on": "2026-11-23"}
    assert client.post(f"/api/v1/cases/{case_no}/decision", headers=clerk, json=decision).status_code == 200
    assert client.post("/api/v1/rechecks", headers=_token(client, "cy_intake"),
                       json=_recheck(case_no)).status_code == 403
    response = client.post("/api/v1/rechecks", headers=clerk, json=_recheck(case_no))
    assert response.status_code == 201, response.json
    created = response.json
    assert (created["status"], created["deciding_unit"], created["objection_deadline"]) == (
        "filed", "CY-MZJ", "2026-12-23")
    assistance = _token(client, "cy_assistance")
    done = client.post(f"/api/v1/tasks/{created['open_task_id']}/complete", headers=assistance,
                       json={"data": {"decision": "recheck", "agency_level": "county"}})
    assert done.status_code == 200, done.json
    detail = client.get(f"/api/v1/rechecks/{created['recheck_no']}", headers=assistance).json
    assert detail["status"] == "entrusted" and detail["entrustment"].startswith("FHWT-CY-MZJ-")
    assert detail["verification_case_no"].startswith("HD-CY-HDZX-")
    listed = client.get(f"/api/v1/rechecks?case_no={case_no}", headers=assistance).json["items"]
    assert [r["recheck_no"] for r in listed] == [created["recheck_no"]]
    other = _token(client, "ng_intake")
    assert client.get(f"/api/v1/rechecks/{created['recheck_no']}", headers=other).status_code == 404
    assert client.get("/api/v1/rechecks", headers=_token(client, "ng_intake")).json["items"] == []
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/rechecks", "/rechecks/{recheck_no}", "/recheck-batches"} <= set(paths)


def test_a_late_objection_is_refused_with_its_code_and_recorded(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _new_case(app, client)
    clerk = _token(client, "hq_street_clerk")
    decision = {"assistance_decision": "approved", "decided_on": "2026-10-20", "notified_on": "2026-10-20"}
    client.post(f"/api/v1/cases/{case_no}/decision", headers=clerk, json=decision)
    response = client.post("/api/v1/rechecks", headers=clerk, json=_recheck(case_no))
    assert response.status_code == 422 and response.json["error"] == "objection_late"
    assert "2026-11-19" in response.json["message"]
    with app.extensions["hedui"].session_factory() as session:
        [refused] = session.execute(select(Recheck)).scalars().all()
        assert refused.status.value == "refused" and refused.refusal_code == "objection_late"
        assert session.execute(select(Event).where(Event.kind == "recheck_refused")).first() is not None


def test_the_case_page_form_files_a_complaint(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _new_case(app, client, verified=False)
    login(client, "cy_assistance")
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "发起个案复核" in page and "本户尚无复核记录" in page
    form = client.get(f"/rechecks/new/{case_no}").get_data(as_text=True)
    assert "复核表" in form and 'name="trigger"' in form
    bad = post(client, f"/rechecks/new/{case_no}", {"initiating_unit": "", "trigger": "complaint"})
    assert bad.status_code == 422
    unit = _read(app, lambda session: session.execute(select(Unit.id).where(Unit.code == "CY-MZJ")).scalar_one())
    missing = post(client, f"/rechecks/new/{case_no}", {"initiating_unit": str(unit), "trigger": "complaint"})
    assert missing.status_code == 422 and "此项为必填项" in missing.get_data(as_text=True)
    response = post(client, f"/rechecks/new/{case_no}", {
        "initiating_unit": str(unit), "trigger": "complaint", "requester_name": "匿名", "requested_on": "2026-11-23",
        "reason": "举报该户经营网店未申报收入"})
    assert response.status_code == 302
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "群众投诉、举报" in detail and "决定是否复核" in detail
    page = client.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "待决定是否复核" in page


def test_batch_page_upload_progress_pause_and_resume(app, client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    case_no = _new_case(app, client, verified=False)
    queue = RecordingQueue(app.extensions["hedui"])
    monkeypatch.setattr(app.extensions["hedui"], "jobs", queue)
    login(client, "cy_assistance")
    page = client.get("/rechecks/batches").get_data(as_text=True)
    assert "新建批次" in page
    assert 'value="WT-CY-HDZX-2026-000001"' in client.get(
        "/rechecks/batches?entrustment_number=WT-CY-HDZX-2026-000001").get_data(as_text=True)
    units = _read(app, lambda session: dict(session.execute(select(Unit.code, Unit.id)).all()))
    upload = io.BytesIO(f"核对业务编号\n{case_no}\nHD-NOPE-1\n".encode())
    response = post(client, "/rechecks/batches", {
        "title": "2026 年度复核", "entrusting_unit": str(units["CY-MZJ"]), "agency_unit": str(units["CY-HDZX"]),
        "file": (upload, "名单.csv")}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert [name for name, _ in queue.jobs] == ["rechecks.run_batch"]
    batch_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "等待启动" in batch_page and "核对业务编号不存在" in batch_page
    batch_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    assert post(client, f"/rechecks/batches/{batch_id}/pause").status_code == 302
    assert client.get(f"/rechecks/batches/{batch_id}/status").json["status"] == "paused"
    queue.jobs.clear()
    assert post(client, f"/rechecks/batches/{batch_id}/resume").status_code == 302
    assert queue.run_all() == ["completed"]
    status = client.get(f"/rechecks/batches/{batch_id}/status").json
    assert (status["status"], status["started"], status["failed"], status["progress"]) == ("completed", 1, 1, 100)
    assert "受理初审" in client.get(f"/rechecks/batches/{batch_id}").get_data(as_text=True)
    number = _read(app, lambda session: session.get(RecheckBatch, batch_id).number)
    api = client.get(f"/api/v1/recheck-batches/{number}", headers=_token(client, "cy_assistance")).json
    assert api["stages"] == {"受理初审": 1} and api["failed_rows"][0]["reason"] == "核对业务编号不存在"


def test_the_department_decides_in_its_inbox(app, client) -> None:  # type: ignore[no-untyped-def]
    case_no = _new_case(app, client, verified=False)
    created = client.post("/api/v1/rechecks", headers=_token(client, "hq_street_clerk"),
                          json=_recheck(case_no, trigger="home_visit", reason="入户发现新购车辆")).json
    task_id = created["open_task_id"]
    login(client, "cy_assistance")
    assert post(client, f"/tasks/{task_id}/claim").status_code == 302
    page = client.get(f"/tasks/{task_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "决定是否复核" in html and "受托核对机构" in html
    assert "测试" in html and "personal_data_viewed" in _kinds(app)  # the original household, masked, view recorded
    assert client.get(f"/tasks/{task_id}/diagram").status_code == 200
    response = post(client, f"/tasks/{task_id}/complete", {"decision": "recheck", "agency_level": "city"})
    assert response.status_code == 302, response.get_data(as_text=True)
    detail = client.get(f"/rechecks/{created['recheck_no']}").get_data(as_text=True)
    assert "复核核对中" in detail and "长春市社会救助家庭经济状况核对中心" in detail


def _kinds(app: Any) -> set[str]:
    return _read(app, lambda session: set(session.execute(select(Event.kind)).scalars()))


def _rechecks_in_two_counties(app: Any, client: Any, chaoyang: int, nanguan: int) -> None:
    """``chaoyang`` rechecks on a 朝阳区 case, then ``nanguan`` newer ones on a case moved to 南关区."""
    cases = client.post("/api/v1/entrustments", headers=_token(client, "hq_street_clerk"), json=_body(2)).json["cases"]
    ctx = app.extensions["hedui"].new_context()
    units = {u.code: u.id for u in ctx.session.execute(select(Unit)).scalars()}
    households = [ctx.session.execute(select(Household).where(Household.case_no == c["case_no"])).scalar_one()
                  for c in cases]
    moved = households[1].instance
    moved.agency_unit_id, moved.entrusting_unit_id, moved.region_code = units["NG-HDZX"], units["NG-MZJ"], "220102001"
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    rows = [(households[0], "CY-MZJ")] * chaoyang + [(households[1], "NG-MZJ")] * nanguan
    ctx.session.execute(insert(Recheck), [
        {"number": f"FH-T-{n:04d}", "trigger": RecheckTrigger.COMPLAINT, "status": RecheckStatus.FILED,
         "original_household_id": household.id, "initiating_unit_id": units[unit], "deciding_unit_id": units[unit],
         "requester_name": "张演示", "requested_on": date(2026, 11, 23), "reason": "举报", "created_at": now,
         "created_by": "test"} for n, (household, unit) in enumerate(rows)])
    ctx.session.commit()


def _pages(client: Any, headers: dict[str, str], limit: int) -> list[list[str]]:
    pages, cursor = [], ""
    while True:
        body = client.get(f"/api/v1/rechecks?limit={limit}&cursor={cursor}", headers=headers).json
        pages.append([r["recheck_no"] for r in body["items"]])
        if body["next_cursor"] is None:
            return pages
        cursor = body["next_cursor"]


def test_recheck_list_filters_jurisdiction_before_the_limit_and_pages(  # type: ignore[no-untyped-def]
        app, client) -> None:
    """OR-3: 120 newer 南关区 rechecks do not hide 朝阳区's 5 older ones; both counties page through all of theirs."""
    _rechecks_in_two_counties(app, client, chaoyang=5, nanguan=120)
    chaoyang = client.get("/api/v1/rechecks", headers=_token(client, "cy_intake")).json
    assert [r["recheck_no"] for r in chaoyang["items"]] == [f"FH-T-{n:04d}" for n in range(4, -1, -1)]
    assert chaoyang["next_cursor"] is None
    pages = _pages(client, _token(client, "ng_intake"), limit=50)
    assert [len(p) for p in pages] == [50, 50, 20]
    assert sum(pages, []) == [f"FH-T-{n:04d}" for n in range(124, 4, -1)]
    assert client.get("/api/v1/rechecks?cursor=x", headers=_token(client, "ng_intake")).status_code == 422
    assert client.get("/api/v1/rechecks?limit=0", headers=_token(client, "ng_intake")).status_code == 422


def test_a_stalled_batch_shows_as_interrupted_with_resume_and_the_periodic_job_resumes_it(
        app, client, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """PS-8: no progress for HEDUI_RECHECK_BATCH_STALE_MINUTES (15) → 已中断 on the page and in the API, resumable."""
    case_no = _new_case(app, client, verified=False)
    state = app.extensions["hedui"]
    queue = RecordingQueue(state)
    monkeypatch.setattr(state, "jobs", queue)
    login(client, "cy_assistance")
    units = _read(app, lambda session: dict(session.execute(select(Unit.code, Unit.id)).all()))
    response = post(client, "/rechecks/batches", {
        "title": "2026 年度复核", "entrusting_unit": str(units["CY-MZJ"]), "agency_unit": str(units["CY-HDZX"]),
        "file": (io.BytesIO(f"{case_no}\n".encode()), "名单.csv")}, content_type="multipart/form-data")
    page_url = response.headers["Location"]
    batch_id = int(page_url.rstrip("/").split("/")[-1])
    number = _read(app, lambda session: session.get(RecheckBatch, batch_id).number)
    assert "已中断" not in client.get(page_url).get_data(as_text=True)  # the job was lost: nobody ran it
    clock.advance(minutes=16)
    page = client.get(page_url).get_data(as_text=True)
    assert "进度：已中断" in page and f"/rechecks/batches/{batch_id}/resume" in page
    headers = _token(client, "cy_assistance")
    assert client.get(f"/api/v1/recheck-batches/{number}", headers=headers).json["interrupted"] is True
    queue.jobs.clear()
    assert execute(state, "rechecks.resume_interrupted", {}) == [number]
    assert [name for name, _ in queue.jobs] == ["rechecks.run_batch"]
    assert client.get(f"/api/v1/recheck-batches/{number}", headers=headers).json["interrupted"] is False
    assert queue.run_all() == ["completed"]
    assert "已全部处理" in client.get(page_url).get_data(as_text=True)
