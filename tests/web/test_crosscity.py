"""跨地市核对 pages and API (PS-7): each level sees where a request is; another city gets 404."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.models import Household
from engine.models.escalation import Escalation
from tests.engine.cross_city_factory import raise_request
from tests.engine.cross_city_factory import second_city
from tests.engine.cross_city_factory import staff
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare
from tests.web.test_api_tasks import _token
from tests.web.test_inbox import _html
from tests.web.test_inbox import _post as post
from tests.web.test_inbox import login
from tests.web.test_login import assert_valid_html


def seed(ctx: EngineContext) -> None:
    """Two requests of 朝阳区 waiting at 长春市, and a review officer of a second city (seeded once for the module)."""
    prepare(ctx)
    for household in enrol(ctx, 2):
        raise_request(ctx, household)
    city2, _ = second_city(ctx)
    staff(ctx, "jls_reviewer", city2.code)


SEED_ONCE = seed


def _setup(app: Any) -> dict[str, Any]:
    """What :func:`seed` made: the two requests' numbers and their cases' numbers, in the order raised."""
    session = app.extensions["hedui"].session_factory()
    try:
        rows = session.execute(select(Escalation.number, Household.case_no)
                               .join(Household, Household.id == Escalation.origin_household_id)
                               .order_by(Escalation.id)).all()
    finally:
        session.close()
    assert len(rows) == 2
    return {"requests": [r.number for r in rows], "cases": [r.case_no for r in rows]}


def _gather(app: Any) -> str:
    from engine.services.cross_city import gather_requests

    ctx = app.extensions["hedui"].new_context()
    [batch] = gather_requests(ctx, actor=Actor.system("job:cross_city_gather"))
    number = batch.number
    ctx.session.commit()
    return number


def test_the_city_gathers_now_and_follows_its_batch(app, client) -> None:  # type: ignore[no-untyped-def]
    data = _setup(app)
    login(client, "cc_reviewer")
    page = _html(client.get("/cross-city/"))
    assert "跨地市核对" in _html(client.get("/"))  # nav entry
    assert "待汇总的请求" in page and all(n in page for n in data["requests"]) and "立即汇总" in page
    assert "<td>吉林市不动产登记中心（JLS-BDC）</td>" in page
    response = post(client, "/cross-city/gather")
    assert response.status_code == 302
    page = _html(client.get("/cross-city/"))
    assert "KS-CC-HDZX-2026-000001" in page and "已汇总为批次 KS-CC-HDZX-2026-000001" in page
    batch = _html(client.get("/cross-city/batches/KS-CC-HDZX-2026-000001"))
    assert "市级审核" in batch and all(n in batch for n in data["requests"]) and "市级审核中" in batch
    assert "长春市社会救助家庭经济状况核对中心" in batch
    assert "吉林市不动产登记中心（JLS-BDC）" in batch  # the items by name
    # people by name, the gathering job as 系统 (no raw user names or job ids on the page)
    assert "冯涛（长春市核对中心）" in batch and "王磊（朝阳区核对中心）" in batch
    assert "cc_reviewer" not in batch and "cy_reviewer" not in batch


def test_the_county_sees_its_requests_and_their_batch(app, client) -> None:  # type: ignore[no-untyped-def]
    data = _setup(app)
    number = _gather(app)
    login(client, "cy_reviewer")
    page = _html(client.get("/cross-city/"))
    assert "本机构提出的请求" in page and number in page and "立即汇总" not in page
    assert "系统（定时汇总）" in _html(client.get(f"/cross-city/batches/{number}"))  # gathered by the job
    assert post(client, "/cross-city/gather").status_code == 403  # not a city officer
    assert client.get(f"/cross-city/batches/{number}").status_code == 200
    case = _html(client.get(f"/cases/{data['cases'][0]}"))
    assert "跨地市核对" in case and data["requests"][0] in case and number in case


def test_another_citys_officer_gets_404(app, client) -> None:  # type: ignore[no-untyped-def]
    _setup(app)
    number = _gather(app)
    login(client, "jls_reviewer")
    assert client.get(f"/cross-city/batches/{number}").status_code == 404
    assert number not in _html(client.get("/cross-city/"))
    response = client.get(f"/api/v1/cross-city/batches/{number}", headers=_token(client, "jls_reviewer"))
    assert response.status_code == 404 and response.json["error"] == "batch_not_found"
    # and gathering for a city that is not theirs finds nothing to gather
    response = client.post("/api/v1/cross-city/gather", headers=_token(client, "jls_reviewer"), json={})
    assert response.status_code == 200 and response.json == {"batches": []}


def test_api_gather_list_and_detail(app, client) -> None:  # type: ignore[no-untyped-def]
    data = _setup(app)
    county = _token(client, "cy_intake")
    response = client.post("/api/v1/cross-city/gather", headers=county, json={})
    assert response.status_code == 403 and response.json["error"] == "role_required"
    city = _token(client, "cc_reviewer")
    response = client.post("/api/v1/cross-city/gather", headers=city, json={"city_agency": 5})
    assert response.status_code == 422
    response = client.post("/api/v1/cross-city/gather", headers=city, json={"city_agency": "CC-HDZX"})
    assert response.status_code == 201, response.json
    [batch] = response.json["batches"]
    assert (batch["batch_no"], batch["requests"], batch["status"]) == ("KS-CC-HDZX-2026-000001", 2, "gathered")
    assert client.post("/api/v1/cross-city/gather", headers=city).json == {"batches": []}
    listed = client.get("/api/v1/cross-city/batches", headers=city).json["items"]
    assert [b["batch_no"] for b in listed] == ["KS-CC-HDZX-2026-000001"]
    province = client.get("/api/v1/cross-city/batches", headers=_token(client, "jl_reviewer")).json["items"]
    assert [b["batch_no"] for b in province] == ["KS-CC-HDZX-2026-000001"]
    detail = client.get("/api/v1/cross-city/batches/KS-CC-HDZX-2026-000001", headers=city).json
    assert [r["number"] for r in detail["requests"]] == data["requests"]
    assert [t["bpmn_id"] for t in detail["open_tasks"]] == ["city_review"]
    assert detail["requests"][0]["steps"][-1]["status"] == "gathered"
    assert detail["requests"][0]["steps"][-1]["unit"] == "CC-HDZX"


def test_the_openapi_document_lists_the_cross_city_paths(app, client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/cross-city/batches", "/cross-city/batches/{batch_no}", "/cross-city/gather"} <= set(paths)
    assert "403" in paths["/cross-city/gather"]["post"]["responses"]


def test_the_gathering_job_is_registered_scheduled_and_configurable(app) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    import pytest

    from engine.errors import ConfigurationError
    from engine.jobs import job_names
    from web.config import load_config
    from web.jobs import PERIODIC_JOBS
    from web.worker import celery_settings

    assert "cross_city.gather" in job_names()
    assert PERIODIC_JOBS["cross_city.gather"] == "CROSS_CITY_GATHER_INTERVAL"
    schedule = celery_settings({"TIMER_INTERVAL": 30, "BROKER_URL": "memory://",
                                "CROSS_CITY_GATHER_INTERVAL": 600})["beat_schedule"]["cross_city.gather"]
    assert schedule["schedule"] == timedelta(seconds=600) and schedule["args"] == ("cross_city.gather", {})
    with pytest.raises(ConfigurationError, match="CROSS_CITY_GATHER_INTERVAL"):
        load_config({"CROSS_CITY_GATHER_INTERVAL": 5})
    _setup(app)
    result = app.test_cli_runner().invoke(args=["jobs", "run", "cross_city.gather"])
    assert result.exit_code == 0, result.output
    assert '任务 cross_city.gather 已完成: ["KS-CC-HDZX-2026-000001"]' in result.output
    result = app.test_cli_runner().invoke(args=["jobs", "run", "cross_city.gather"])
    assert "已完成: []" in result.output


def _review_task_id(app: Any, number: str) -> str:
    from sqlalchemy import select

    from engine.models import HumanTask
    from engine.models.escalation import CrossCityBatch

    session = app.extensions["hedui"].session_factory()
    try:
        batch = session.execute(select(CrossCityBatch).where(CrossCityBatch.number == number)).scalar_one()
        return session.execute(select(HumanTask.id).where(HumanTask.instance_id == batch.instance_id,
                                                          HumanTask.bpmn_id == "city_review")).scalar_one()
    finally:
        session.close()


def test_the_review_task_page_lists_the_requests_and_refuses_one(app, client) -> None:  # type: ignore[no-untyped-def]
    """市级审核 in the browser: one request refused with its reason (back to the county at once)."""
    data = _setup(app)
    number = _gather(app)
    task_id = _review_task_id(app, number)
    login(client, "cc_reviewer")
    page = _html(client.get(f"/tasks/{task_id}"))
    assert "批次 " in page and number in page and all(n in page for n in data["requests"])
    response = post(client, f"/tasks/{task_id}/complete",
                    {"refused": f"{data['requests'][1]} 本市已可核对", "note": "同意一项"})
    assert response.status_code == 302, _html(response)
    detail = client.get(f"/api/v1/cross-city/batches/{number}", headers=_token(client, "cc_reviewer")).json
    assert [r["status"] for r in detail["requests"]] == ["entrusted", "cancelled"]
    assert "本市已可核对" in detail["requests"][1]["steps"][-1]["note"]


def _requester_signed_in_with_a_city_role(app: Any, client: Any) -> str:
    """A gathered batch; the county reviewer who raised its requests also holds the city's review role (SD-1)."""
    _setup(app)
    number = _gather(app)
    ctx = app.extensions["hedui"].new_context()
    staff(ctx, "cy_reviewer", "CC-HDZX")
    ctx.session.commit()
    login(client, "cy_reviewer")
    return number


def test_the_county_requester_cannot_open_the_review_task(app, client) -> None:  # type: ignore[no-untyped-def]
    number = _requester_signed_in_with_a_city_role(app, client)
    response = client.get(f"/tasks/{_review_task_id(app, number)}")
    assert response.status_code == 403 and "提出了本批次中的跨地市核对请求" in _html(response)
    # nor does the inbox offer it to them (SD-1 decided in the inbox's SQL too), while the city's reviewer has it
    assert number not in _html(client.get("/inbox?tab=claimable"))
    login(client, "cc_reviewer")
    assert number in _html(client.get("/inbox?tab=claimable"))


def test_the_province_sees_the_batch_and_where_its_case_came_from(app, client) -> None:  # type: ignore[no-untyped-def]
    from engine.models import Household
    from engine.models.escalation import Escalation
    from engine.services.instances import complete_task
    from tests.engine.recheck_factory import as_user

    data = _setup(app)
    number = _gather(app)
    ctx = app.extensions["hedui"].new_context()
    complete_task(ctx, _review_task_id(app, number), {}, actor=as_user(ctx, "cc_reviewer", "review_officer"))
    ctx.session.commit()
    session = app.extensions["hedui"].session_factory()
    try:
        upper_ids = [e.upper_household_id for e in session.query(Escalation).order_by(Escalation.id)]
        province_case = session.get(Household, upper_ids[0]).case_no
    finally:
        session.close()
    login(client, "jl_reviewer")
    assert number in _html(client.get("/cross-city/"))
    page = _html(client.get(f"/cases/{province_case}"))
    assert_valid_html(page)
    # the origin is shown once (上级核对), with the county, its case, the city that relayed it and the batch
    assert page.count('id="upper-of"') == 1 and 'id="crosscity-title"' not in page
    origin = page.split('id="upper-of"')[1].split("</p>")[0]
    assert "朝阳区" in origin and data["requests"][0] in origin and data["cases"][0] in origin
    assert "经长春市社会救助家庭经济状况核对中心汇总委托" in origin and f"/cross-city/batches/{number}" in origin
    assert "经长春市社会救助家庭经济状况核对中心转送原核对机构" in origin
    assert page.count(data["requests"][0]) == 1 and page.count(f">{data['cases'][0]}</a>") == 1
    batch = _html(client.get(f"/cross-city/batches/{number}"))
    assert province_case in batch and "上级核对中" in batch


def test_the_review_page_decides_each_request(app, client) -> None:  # type: ignore[no-untyped-def]
    data = _setup(app)
    number = _gather(app)
    login(client, "jls_reviewer")
    assert client.get(f"/cross-city/batches/{number}/review").status_code == 404  # another city
    login(client, "cc_reviewer")
    page = _html(client.get(f"/cross-city/batches/{number}/review"))
    assert all(n in page for n in data["requests"]) and "不同意的理由" in page
    ids = _escalation_ids(app)
    form = {f"decision-{ids[0]}": "accept", f"decision-{ids[1]}": "refuse"}
    response = post(client, f"/cross-city/batches/{number}/review", form)
    assert response.status_code == 422 and "不同意须说明理由" in _html(response)
    response = post(client, f"/cross-city/batches/{number}/review",
                    {**form, f"reason-{ids[1]}": "该项目本市可协查", "note": "逐项审核"})
    assert response.status_code == 302
    detail = client.get(f"/api/v1/cross-city/batches/{number}", headers=_token(client, "cc_reviewer")).json
    assert [r["status"] for r in detail["requests"]] == ["entrusted", "cancelled"]
    assert detail["review_note"] == "逐项审核" and detail["entrustment"] is not None
    assert client.get(f"/cross-city/batches/{number}/review").status_code == 404  # reviewed
    # the completed 市级审核 still opens for its reviewer, without a link to the review page (now 404)
    page = _html(client.get(f"/tasks/{_task_id(app, 'city_review')}"))
    assert number in page and f"/cross-city/batches/{number}/review" not in page


def test_the_review_page_refuses_the_county_requester(app, client) -> None:  # type: ignore[no-untyped-def]
    number = _requester_signed_in_with_a_city_role(app, client)
    response = client.get(f"/cross-city/batches/{number}/review")
    # the reason, not a bare 403: the rule (SD-1) and why, as on the task page
    assert response.status_code == 403 and "提出了本批次中的跨地市核对请求" in response.get_data(as_text=True)
    assert "SD-1" in response.get_data(as_text=True)
    assert f"（批次编号 {number}）" in response.get_data(as_text=True)  # a batch, not a case
    ids = _escalation_ids(app)
    response = post(client, f"/cross-city/batches/{number}/review", {f"decision-{i}": "accept" for i in ids})
    assert response.status_code == 403


def _task_id(app: Any, bpmn_id: str) -> str:
    from sqlalchemy import select

    from engine.models import HumanTask

    session = app.extensions["hedui"].session_factory()
    try:
        return session.execute(select(HumanTask.id).where(HumanTask.bpmn_id == bpmn_id)).scalar_one()
    finally:
        session.close()


def _escalation_ids(app: Any) -> list[int]:
    from sqlalchemy import select

    from engine.models.escalation import Escalation

    session = app.extensions["hedui"].session_factory()
    try:
        return list(session.execute(select(Escalation.id).order_by(Escalation.id)).scalars())
    finally:
        session.close()


def test_a_city_supervisor_gathers_in_their_own_role(app, client) -> None:  # type: ignore[no-untyped-def]
    """The events of 「立即汇总」 name the role the person holds (科室负责人), not always 审核复审员."""
    from sqlalchemy import select

    from engine.models import Event

    _setup(app)
    ctx = app.extensions["hedui"].new_context()
    staff(ctx, "cc_supervisor", "CC-HDZX", role="supervisor")
    ctx.session.commit()
    login(client, "cc_supervisor")
    assert post(client, "/cross-city/gather").status_code == 302
    session = app.extensions["hedui"].session_factory()
    try:
        roles = set(session.execute(select(Event.actor_role).where(
            Event.kind.in_(("cross_city_gathered", "escalation_step")), Event.actor == "cc_supervisor")).scalars())
    finally:
        session.close()
    assert roles == {"supervisor"}


def test_a_requesting_county_sees_only_its_own_requests_in_a_batch(app, client) -> None:  # type: ignore[no-untyped-def]
    """PS-7 with OR-3: a batch mixes the counties of a city; each county reads its own requests only (no other
    county's case numbers or reasons), the city reads them all — on the page and in the API."""
    data = _setup(app)
    ctx = app.extensions["hedui"].new_context()
    [household] = enrol(ctx, 1)
    other = raise_request(ctx, household, origin="NG-HDZX", raised_by="ng_reviewer", reason="南关区的请求理由").number
    ctx.session.commit()
    number = _gather(app)
    login(client, "cy_reviewer")
    page = _html(client.get(f"/cross-city/batches/{number}"))
    assert all(n in page for n in data["requests"]) and other not in page and "南关区的请求理由" not in page
    assert "本单位 2 项，共 3 项" in page
    detail = client.get(f"/api/v1/cross-city/batches/{number}", headers=_token(client, "cy_reviewer")).get_json()
    assert sorted(r["number"] for r in detail["requests"]) == sorted(data["requests"])
    login(client, "cc_reviewer")
    page = _html(client.get(f"/cross-city/batches/{number}"))
    assert all(n in page for n in [*data["requests"], other]) and "共 3 项" in page and "本单位" not in page
