"""Security headers on every response (web/headers.py): CSP without inline scripts, no framing, no
caching of anything but static assets, HSTS only in production."""

from __future__ import annotations

import re
from pathlib import Path

from web import create_app
from web.headers import CSP

TEMPLATES = Path(__file__).parents[2] / "web"


def test_pages_api_and_errors_carry_the_headers_and_are_not_cached(app, client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/login", "/healthz", "/api/v1/openapi.json", "/no-such-page"):
        response = client.get(path)
        assert response.headers["Content-Security-Policy"] == CSP, path
        assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "unsafe-eval" not in CSP
        assert (response.headers["X-Content-Type-Options"], response.headers["Referrer-Policy"],
                response.headers["X-Frame-Options"], response.headers["Cache-Control"]) == (
            "nosniff", "same-origin", "DENY", "no-store"), path
        assert "Strict-Transport-Security" not in response.headers  # development: plain HTTP


def test_static_assets_may_be_cached(client) -> None:  # type: ignore[no-untyped-def]
    with client.get("/static/app.css") as response:
        assert response.status_code == 200 and response.headers.get("Cache-Control") != "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_production_adds_hsts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app({"ENV": "production", "SECRET_KEY": "x" * 40, "DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_template_runs_inline_script() -> None:
    """What the CSP would block must not exist: <script> without src (other than JSON data) or on* handlers."""
    found = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                found.append((template.name, tag))
        found += [(template.name, m) for m in re.findall(r"\son[a-z]+=\"", text)]
        found += [(template.name, "javascript:") for _ in re.findall(r"javascript:", text)]
    assert found == []
