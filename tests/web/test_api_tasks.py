"""Tokens and the task API: 401 without a token, 404 outside the jurisdiction, 403 without the role or
against a separation-of-duties rule (recorded), 409 on a race, 422 on bad data."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.context import Actor
from engine.models import Event
from engine.services.demo import DEMO_PASSWORD
from engine.services.demo import seed_demo
from engine.services.deploy import deploy_files
from engine.services.instances import start_instance
from engine.services.org import get_unit_by_code
from tests.conftest import read_files

ADMIN = Actor("admin", "admin")


def _setup(ctx) -> int:  # type: ignore[no-untyped-def]
    """The demo region and one 朝阳区 case entrusted by 红旗街道, waiting at 受理初审."""
    seed_demo(ctx, actor=ADMIN)
    deploy_files(ctx, read_files("linear_review.bpmn"), actor=ADMIN)
    instance = start_instance(
        ctx, "linear_review", actor=ADMIN, business_key="HD-1",
        agency_unit_id=get_unit_by_code(ctx, "CY-HDZX").id, entrusting_unit_id=get_unit_by_code(ctx, "HQ-MZB").id,
        region_code="220104001")
    ctx.session.commit()
    return instance.id


def _token(client, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/tokens", json={"username": username, "password": password})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


@pytest.fixture
def api(app, client):  # type: ignore[no-untyped-def]
    _setup(app.extensions["hedui"].new_context())
    return client


def _inbox(api, user: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    response = api.get("/api/v1/tasks", headers=_token(api, user))
    assert response.status_code == 200
    return response.json["items"]  # type: ignore[no-any-return]


def test_token_with_wrong_password_or_unknown_user_is_401(api) -> None:  # type: ignore[no-untyped-def]
    for body in ({"username": "cy_intake", "password": "wrong-password"}, {"username": "ghost", "password": "x" * 9}):
        response = api.post("/api/v1/tokens", json=body)
        assert response.status_code == 401 and response.json["error"] == "invalid_credentials"


def test_token_request_validation_is_422_with_fields(api) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/api/v1/tokens", json={"username": "cy_intake"})
    assert response.status_code == 422 and response.json["details"]["fields"] == {"password": ["此项为必填项"]}
    response = api.post("/api/v1/tokens", data="not json", content_type="text/plain")
    assert response.status_code == 422 and response.json["error"] == "invalid_json"


def test_inbox_lists_tasks_of_my_roles_in_my_units_only(api) -> None:  # type: ignore[no-untyped-def]
    intake = _inbox(api, "cy_intake")
    assert [t["bpmn_id"] for t in intake] == ["intake_check"]
    assert intake[0]["role"] == "intake_officer" and intake[0]["form_key"] == "acknowledge"
    assert intake[0]["due_at"] == "2026-11-26T15:59:59.999999+00:00"  # 3 working days: end of 11-26, Beijing
    assert [t["bpmn_id"] for t in _inbox(api, "cy_all")] == ["intake_check"]
    assert _inbox(api, "ng_intake") == []  # 南关区: same role, other unit
    assert _inbox(api, "cy_reviewer") == []


def test_other_jurisdiction_gets_404(api) -> None:  # type: ignore[no-untyped-def]
    task_id = _inbox(api, "cy_intake")[0]["id"]
    ng = _token(api, "ng_intake")
    assert api.get(f"/api/v1/tasks/{task_id}", headers=ng).status_code == 404
    assert api.post(f"/api/v1/tasks/{task_id}/claim", headers=ng).status_code == 404
    assert api.post(f"/api/v1/tasks/{task_id}/complete", headers=ng, json={"data": {}}).status_code == 404
    detail = api.get(f"/api/v1/tasks/{task_id}", headers=_token(api, "cy_intake")).json
    assert detail["candidates"] == ["cy_all", "cy_intake"]


def test_claim_complete_and_conflict(api) -> None:  # type: ignore[no-untyped-def]
    intake, all_, reviewer = (_token(api, u) for u in ("cy_intake", "cy_all", "cy_reviewer"))
    task_id = _inbox(api, "cy_intake")[0]["id"]
    response = api.post(f"/api/v1/tasks/{task_id}/claim", headers=reviewer)
    assert response.status_code == 403 and response.json["error"] == "role_required"
    response = api.post(f"/api/v1/tasks/{task_id}/claim", headers=intake)
    assert response.status_code == 200 and response.json["assignee"] == "cy_intake"
    response = api.post(f"/api/v1/tasks/{task_id}/claim", headers=all_)
    assert response.status_code == 409 and response.json["error"] == "conflict"
    response = api.post(f"/api/v1/tasks/{task_id}/complete", headers=intake, json={"data": {"remark": 5}})
    assert response.status_code == 422 and response.json["details"]["fields"] == {"remark": ["应为文本"]}
    response = api.post(f"/api/v1/tasks/{task_id}/complete", headers=intake, json={"data": {"remark": "齐全"}})
    assert response.status_code == 200 and response.json["status"] == "completed"
    response = api.post(f"/api/v1/tasks/{task_id}/complete", headers=intake, json={"data": {}})
    assert response.status_code == 409 and response.json["error"] == "invalid_state"
    assert [t["bpmn_id"] for t in _inbox(api, "cy_reviewer")] == ["review"]


def test_cy_all_cannot_do_two_sd1_steps_of_one_case(api, app) -> None:  # type: ignore[no-untyped-def]
    """SD-1 through the API: the person who did 受理初审 may not claim or complete 审核复审."""
    all_ = _token(api, "cy_all")
    intake_id = _inbox(api, "cy_all")[0]["id"]
    assert api.post(f"/api/v1/tasks/{intake_id}/complete", headers=all_, json={"data": {}}).status_code == 200
    review = [t for t in _inbox(api, "cy_all") if t["bpmn_id"] == "review"]
    assert review, "cy_all holds review_officer, so the task is listed ..."
    for verb, body in (("claim", None), ("complete", {"data": {"decision": "accept"}})):
        response = api.post(f"/api/v1/tasks/{review[0]['id']}/{verb}", headers=all_, json=body)
        assert response.status_code == 403
        assert response.json["error"] == "separation_of_duties" and response.json["details"]["rule"] == "SD-1"
        assert "受理初审" in response.json["message"]
    detail = api.get(f"/api/v1/tasks/{review[0]['id']}", headers=_token(api, "cy_reviewer")).json
    assert detail["candidates"] == ["cy_reviewer"]  # ... but cy_all is not a candidate
    session = app.extensions["hedui"].new_context().session
    refusals = session.execute(select(Event).where(Event.kind == "refused")).scalars().all()
    assert [(e.actor, e.payload["action"], e.payload["rule"]) for e in refusals] == [
        ("cy_all", "claim", "SD-1"), ("cy_all", "complete", "SD-1")]
    response = api.post(f"/api/v1/tasks/{review[0]['id']}/complete", headers=_token(api, "cy_reviewer"),
                        json={"data": {"decision": "accept"}})
    assert response.status_code == 200


def test_revoked_and_expired_tokens_are_refused(api, clock) -> None:  # type: ignore[no-untyped-def]
    token = _token(api, "cy_intake")
    assert api.delete("/api/v1/tokens/current", headers=token).status_code == 204
    assert api.get("/api/v1/tasks", headers=token).status_code == 401
    token = _token(api, "cy_intake")
    clock.advance(timedelta(hours=8, seconds=1))
    assert api.get("/api/v1/tasks", headers=token).status_code == 401


def test_concurrent_completion_through_the_api(committing_url, clock) -> None:  # type: ignore[no-untyped-def]
    """Two staff submit the same task at once over HTTP: one 200, one 409 (both backends)."""
    from web import create_app

    app = create_app({"ENV": "testing", "DATABASE_URL": committing_url, "CLOCK": clock, "SECRET_KEY": "t"})
    state = app.extensions["hedui"]
    with state.unit_of_work() as ctx:
        _setup(ctx)
    client = app.test_client()
    first, second = _token(client, "cy_intake"), _token(client, "cy_all")
    task_id = client.get("/api/v1/tasks", headers=first).json["items"][0]["id"]
    barrier, statuses = threading.Barrier(2), []

    def submit(headers: dict[str, str]) -> None:
        c = app.test_client()
        barrier.wait()
        statuses.append(c.post(f"/api/v1/tasks/{task_id}/complete", headers=headers, json={"data": {}}).status_code)

    threads = [threading.Thread(target=submit, args=(h,)) for h in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [200, 409]
    state.db_engine.dispose()


def test_supervisor_reassigns_through_the_api(api) -> None:  # type: ignore[no-untyped-def]
    task_id = _inbox(api, "cy_intake")[0]["id"]
    response = api.post(f"/api/v1/tasks/{task_id}/reassign", headers=_token(api, "cy_intake"),
                        json={"username": "cy_all"})
    assert response.status_code == 403 and response.json["error"] == "supervisor_required"
    response = api.post(f"/api/v1/tasks/{task_id}/reassign", headers=_token(api, "cy_supervisor"),
                        json={"username": "cy_reviewer"})
    assert response.status_code == 403 and response.json["error"] == "role_required"
    response = api.post(f"/api/v1/tasks/{task_id}/reassign", headers=_token(api, "cy_supervisor"),
                        json={"username": "cy_all"})
    assert response.status_code == 200 and response.json["assignee"] == "cy_all"
    response = api.post(f"/api/v1/tasks/{task_id}/reassign", headers=_token(api, "ng_intake"),
                        json={"username": "cy_all"})
    assert response.status_code == 404


def test_jurisdiction_refusals_are_recorded_without_revealing_anything(api, app) -> None:  # type: ignore[no-untyped-def]
    task_id = _inbox(api, "cy_intake")[0]["id"]
    response = api.post(f"/api/v1/tasks/{task_id}/claim", headers=_token(api, "ng_intake"))
    assert response.status_code == 404 and response.json == {"error": "not_found", "message": "任务不存在"}
    session = app.extensions["hedui"].new_context().session
    [refusal] = session.execute(select(Event).where(Event.kind == "refused")).scalars().all()
    assert (refusal.actor, refusal.payload["rule"]) == ("ng_intake", "jurisdiction")
