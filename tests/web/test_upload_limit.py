"""The app-wide request size limit (HEDUI_MAX_UPLOAD_MB): a Chinese page for people, a stable JSON code for the
API, and nothing written when a body is refused."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.errors import ConfigurationError
from engine.models.draft import IntakeDraftFile
from tests.engine.package_factory import PDF
from tests.web.test_intake import clerk  # noqa: F401  (fixture)
from tests.web.test_intake import post
from tests.web.test_intake import seed_deployed
from tests.web.test_intake import start_draft
from tests.web.test_login import page_token
from web import create_app

#: the demo organisation and the diagrams, seeded once for the module
SEED_ONCE = seed_deployed

MB = 1024 * 1024


def test_the_limit_is_configured_in_megabytes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert create_app({"ENV": "testing", "DATABASE_URL": "sqlite://"}).config["MAX_CONTENT_LENGTH"] == 512 * MB
    monkeypatch.setenv("HEDUI_MAX_UPLOAD_MB", "20")
    assert create_app({"ENV": "testing", "DATABASE_URL": "sqlite://"}).config["MAX_CONTENT_LENGTH"] == 20 * MB
    for bad in ("0", "5000", "lots"):
        monkeypatch.setenv("HEDUI_MAX_UPLOAD_MB", bad)
        with pytest.raises(ConfigurationError, match="HEDUI_MAX_UPLOAD_MB"):
            create_app({"ENV": "testing", "DATABASE_URL": "sqlite://"})


BOUNDARY = "hedui-test-boundary"


def _multipart(token: str, content: bytes) -> bytes:
    """The form as raw bytes (the test client would spool a large file to a temp file it never closes on 413)."""
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in (("csrf_token", token), ("kind", "authorisation"), ("person_uid", ""),
                                 ("action", "upload"))]
    parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
                 "Content-Type: application/pdf\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _files(app) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        return int(session.execute(select(func.count()).select_from(IntakeDraftFile)).scalar_one())


def test_an_oversized_upload_gets_a_chinese_page_and_writes_nothing(app, clerk) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    app.config["MAX_CONTENT_LENGTH"] = 1 * MB
    draft = start_draft(clerk)
    big = PDF + b"0" * (MB + 10)  # a valid PDF under the 10 MB scan limit, over the request limit
    response = clerk.post(f"/intake/drafts/{draft}/documents", data=_multipart(page_token(clerk), big),
                          content_type=f"multipart/form-data; boundary={BOUNDARY}", headers={"Accept": "text/html"})
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "上传内容过大：每次提交不能超过 1 MB" in response.get_data(as_text=True)
    assert _files(app) == 0
    # the same upload under the limit is taken
    small = post(clerk, f"/intake/drafts/{draft}/documents",
                 {"kind": "authorisation", "person_uid": "", "action": "upload", "file": (io.BytesIO(PDF), "小.pdf")},
                 content_type="multipart/form-data")
    assert small.status_code in (200, 302) and _files(app) == 1


def test_the_api_answers_413_with_a_stable_code(app, client) -> None:  # type: ignore[no-untyped-def]
    app.config["MAX_CONTENT_LENGTH"] = 1 * MB
    response = client.post("/api/v1/tokens", data=b'{"username": "' + b"x" * (MB + 1) + b'"}',
                           content_type="application/json")
    assert response.status_code == 413
    assert response.json == {"error": "request_too_large", "limit_mb": 1,
                             "message": "上传内容过大：每次提交不能超过 1 MB，请压缩或分批上传后重试"}
    assert client.post("/api/v1/tokens", json={"username": "nobody", "password": "x"}).status_code == 401
