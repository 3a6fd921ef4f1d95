"""Tokens and the task API: 401 without a token, 403 without the role, 409 on a race, 422 on bad data."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from engine.context import Actor
from engine.services.deploy import deploy_files
from engine.services.instances import start_instance
from engine.services.users import create_user
from engine.services.users import grant_role
from tests.conftest import read_files

ADMIN = Actor("admin", "admin")
PASSWORD = "correct horse battery"


def _setup(ctx) -> str:  # type: ignore[no-untyped-def]
    for name, role in (("li_intake", "intake_officer"), ("zhang_intake", "intake_officer"), ("wang_review", "review_officer")):
        grant_role(ctx, create_user(ctx, name, name, PASSWORD, actor=ADMIN), role, actor=ADMIN)
    deploy_files(ctx, read_files("linear_review.bpmn"), actor=ADMIN)
    start_instance(ctx, "linear_review", actor=ADMIN, business_key="HD-1")
    ctx.session.commit()
    return "ok"


def _token(client, username: str, password: str = PASSWORD) -> dict[str, str]:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/tokens", json={"username": username, "password": password})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


@pytest.fixture
def api(app, client):  # type: ignore[no-untyped-def]
    state = app.extensions["hedui"]
    ctx = state.new_context()
    _setup(ctx)
    return client


def test_token_with_wrong_password_or_unknown_user_is_401(api) -> None:  # type: ignore[no-untyped-def]
    for body in ({"username": "li_intake", "password": "wrong-password"}, {"username": "ghost", "password": "x" * 9}):
        response = api.post("/api/v1/tokens", json=body)
        assert response.status_code == 401
        assert response.json["error"] == "invalid_credentials"


def test_token_request_validation_is_422_with_fields(api) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/api/v1/tokens", json={"username": "li_intake"})
    assert response.status_code == 422 and response.json["details"]["fields"] == {"password": ["此项为必填项"]}
    response = api.post("/api/v1/tokens", data="not json", content_type="text/plain")
    assert response.status_code == 422 and response.json["error"] == "invalid_json"


def test_inbox_lists_only_tasks_of_my_roles(api) -> None:  # type: ignore[no-untyped-def]
    intake = api.get("/api/v1/tasks", headers=_token(api, "li_intake")).json["items"]
    review = api.get("/api/v1/tasks", headers=_token(api, "wang_review")).json["items"]
    assert [t["bpmn_id"] for t in intake] == ["intake_check"] and review == []
    assert intake[0]["role"] == "intake_officer" and intake[0]["form_key"] == "acknowledge"


def test_claim_complete_and_conflict(api) -> None:  # type: ignore[no-untyped-def]
    li, zhang, wang = (_token(api, u) for u in ("li_intake", "zhang_intake", "wang_review"))
    task_id = api.get("/api/v1/tasks", headers=li).json["items"][0]["id"]
    assert api.post(f"/api/v1/tasks/{task_id}/claim", headers=wang).status_code == 403
    response = api.post(f"/api/v1/tasks/{task_id}/claim", headers=li)
    assert response.status_code == 200 and response.json["assignee"] == "li_intake"
    response = api.post(f"/api/v1/tasks/{task_id}/claim", headers=zhang)
    assert response.status_code == 409 and response.json["error"] == "conflict"
    response = api.post(f"/api/v1/tasks/{task_id}/complete", headers=li, json={"data": {"remark": 5}})
    assert response.status_code == 422 and response.json["details"]["fields"] == {"remark": ["应为文本"]}
    response = api.post(f"/api/v1/tasks/{task_id}/complete", headers=li, json={"data": {"remark": "齐全"}})
    assert response.status_code == 200 and response.json["status"] == "completed"
    response = api.post(f"/api/v1/tasks/{task_id}/complete", headers=li, json={"data": {}})
    assert response.status_code == 409 and response.json["error"] == "invalid_state"
    review = api.get("/api/v1/tasks", headers=wang).json["items"]
    assert [t["bpmn_id"] for t in review] == ["review"]


def test_revoked_and_expired_tokens_are_refused(api, clock) -> None:  # type: ignore[no-untyped-def]
    li = _token(api, "li_intake")
    assert api.delete("/api/v1/tokens/current", headers=li).status_code == 204
    assert api.get("/api/v1/tasks", headers=li).status_code == 401
    li = _token(api, "li_intake")
    clock.advance(timedelta(hours=8, seconds=1))
    assert api.get("/api/v1/tasks", headers=li).status_code == 401


def test_concurrent_completion_through_the_api(committing_url, clock) -> None:  # type: ignore[no-untyped-def]
    """Two staff submit the same task at once over HTTP: one 200, one 409 (both backends)."""
    from web import create_app

    app = create_app({"ENV": "testing", "DATABASE_URL": committing_url, "CLOCK": clock, "SECRET_KEY": "t"})
    state = app.extensions["hedui"]
    with state.unit_of_work() as ctx:
        _setup(ctx)
    client = app.test_client()
    li, zhang = _token(client, "li_intake"), _token(client, "zhang_intake")
    task_id = client.get("/api/v1/tasks", headers=li).json["items"][0]["id"]
    barrier, statuses = threading.Barrier(2), []

    def submit(headers: dict[str, str]) -> None:
        c = app.test_client()
        barrier.wait()
        statuses.append(c.post(f"/api/v1/tasks/{task_id}/complete", headers=headers, json={"data": {}}).status_code)

    threads = [threading.Thread(target=submit, args=(h,)) for h in (li, zhang)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [200, 409]
    state.db_engine.dispose()
