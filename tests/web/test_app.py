"""The application skeleton: configuration, health, OpenAPI, JSON errors."""

from __future__ import annotations

import pytest

from engine.errors import ConfigurationError
from web import create_app


def test_production_without_secret_key_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEDUI_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="HEDUI_SECRET_KEY"):
        create_app({"ENV": "production", "DATABASE_URL": "sqlite://"})


def test_environment_variables_are_read_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDUI_TIMER_INTERVAL", "soon")
    with pytest.raises(ConfigurationError, match="HEDUI_TIMER_INTERVAL"):
        create_app({"ENV": "testing", "DATABASE_URL": "sqlite://"})
    monkeypatch.setenv("HEDUI_TIMER_INTERVAL", "7")
    monkeypatch.setenv("HEDUI_JOBS", "carrier-pigeon")
    with pytest.raises(ConfigurationError, match="HEDUI_JOBS"):
        create_app({"ENV": "testing", "DATABASE_URL": "sqlite://"})
    monkeypatch.delenv("HEDUI_JOBS")
    assert create_app({"ENV": "testing", "DATABASE_URL": "sqlite://"}).config["TIMER_INTERVAL"] == 7


def test_production_with_a_real_secret_starts() -> None:
    app = create_app({"ENV": "production", "DATABASE_URL": "sqlite://", "SECRET_KEY": "x" * 40})
    assert app.config["SECRET_KEY"] == "x" * 40 and not app.testing


def test_healthz_checks_the_database(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_openapi_document_lists_the_operations(client) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    assert {"/tokens", "/tasks", "/tasks/{task_id}/complete"} <= set(doc["paths"])
    assert doc["components"]["schemas"]["Error"]["required"] == ["error", "message"]
    assert "409" in doc["paths"]["/tasks/{task_id}/complete"]["post"]["responses"]


def test_api_errors_are_json_with_a_stable_code(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json == {"error": "not_found", "message": "页面或对象不存在"}
    response = client.get("/api/v1/tasks")
    assert response.status_code == 401 and response.json["error"] == "not_authenticated"


def test_browser_errors_are_html_in_chinese(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404 and "页面或对象不存在" in response.get_data(as_text=True)
    assert 'class="site-header"' in response.get_data(as_text=True)  # a 4xx keeps the site's layout


def test_a_server_error_page_needs_nothing_from_the_database(app, client) -> None:  # type: ignore[no-untyped-def]
    """A 5xx may come from the database: its page is the plain one (no navigation, no role lookups)."""

    def _boom() -> str:
        raise RuntimeError("boom")

    _boom.is_public = True  # type: ignore[attr-defined]  # no sign-in needed to reach it
    app.add_url_rule("/_boom", "boom", _boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the handler answers, the test client does not raise

    response = client.get("/_boom", headers={"Accept": "text/html"})
    html = response.get_data(as_text=True)
    assert response.status_code == 500 and "出错了（500）" in html
    assert 'class="site-header"' not in html and "boom" not in html
