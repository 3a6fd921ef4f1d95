"""Browser sign-in: the login page, throttling shared with the API, idle expiry, CSRF, safe redirects."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import ConfigurationError
from engine.models import LoginAttempt
from engine.models import User
from engine.services.demo import DEMO_PASSWORD
from engine.services.demo import seed_demo
from web import create_app

ADMIN = Actor("admin", "admin")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _HtmlChecker(HTMLParser):
    """Balanced tags, unique ids, and a ``<label for>`` for every visible form control."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.controls: list[str] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"] or "")
        if tag in ("select", "textarea") or (tag == "input" and a.get("type") not in ("hidden", "submit", "button")):
            self.controls.append(a.get("id") or f"<{tag} name={a.get('name')} without id>")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()


def assert_valid_html(html: str) -> None:
    assert html.lstrip().lower().startswith("<!doctype html>")
    checker = _HtmlChecker()
    checker.feed(html)
    checker.close()
    assert checker.lang == "zh-CN"
    assert checker.problems == [] and checker.stack == []
    assert len(checker.ids) == len(set(checker.ids)), "duplicate ids"
    assert [c for c in checker.controls if c not in checker.label_for] == [], "form controls without <label for>"
    assert checker.label_for <= set(checker.ids), "labels pointing nowhere"


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client, username: str, password: str = DEMO_PASSWORD, *,  # type: ignore[no-untyped-def]
          next: str | None = None, ip: str = "127.0.0.1"):
    environ = {"REMOTE_ADDR": ip}
    token = csrf_from(client.get("/login", environ_base=environ).get_data(as_text=True))
    data = {"csrf_token": token, "username": username, "password": password}
    if next is not None:
        data["next"] = next
    return client.post("/login", data=data, environ_base=environ)


def page_token(client, path: str = "/", ip: str = "127.0.0.1") -> str:  # type: ignore[no-untyped-def]
    return csrf_from(client.get(path, environ_base={"REMOTE_ADDR": ip}).get_data(as_text=True))


def logout(client, ip: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    environ = {"REMOTE_ADDR": ip}
    return client.post("/logout", data={"csrf_token": page_token(client, ip=ip)}, environ_base=environ)


def seed_region(ctx: EngineContext) -> None:
    """The demo region, its units, users and registrations; a module's ``SEED_ONCE`` as well."""
    seed_demo(ctx, actor=ADMIN)


def seed(app) -> None:  # type: ignore[no-untyped-def]
    ctx = app.extensions["hedui"].new_context()
    seed_region(ctx)
    ctx.session.commit()
    ctx.session.close()


#: the demo region, seeded once for the module
SEED_ONCE = seed_region


@pytest.fixture
def web(client):  # type: ignore[no-untyped-def]
    return client


def _attempts(app, **where: object) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["hedui"].session_factory() as session:
        return session.execute(select(func.count()).select_from(LoginAttempt).filter_by(**where)).scalar_one()


def test_unauthenticated_home_redirects_to_login(web) -> None:  # type: ignore[no-untyped-def]
    response = web.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    response = web.get("/admin/units?page=2")
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query) == {"next": ["/admin/units?page=2"]}
    page = web.get("/login").get_data(as_text=True)
    assert "请先登录" in page


def test_login_page_is_accessible_chinese_html(web) -> None:  # type: ignore[no-untyped-def]
    response = web.get("/login")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "登录核对系统" in html
    assert web.head("/login").status_code == 200  # a monitor's HEAD is a GET, not an empty sign-in
    assert_valid_html(html)
    assert 'autocomplete="current-password"' in html and "autofocus" in html


def test_login_success_shows_the_user_their_units_and_roles(web, app) -> None:  # type: ignore[no-untyped-def]
    response = login(web, "cy_all")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    html = web.get("/").get_data(as_text=True)
    assert_valid_html(html)
    assert "吴全（朝阳区核对中心）" in html
    # header: one entry per unit, its roles joined (one line at 1366 px)
    [held] = re.findall(r'<li title="朝阳区社会救助家庭经济状况核对中心 · ([^"]+)">', html)
    assert sorted(held.split("、")) == sorted(["受理初审员", "审核复审员", "报告出具员"])
    for role in ("受理初审员", "审核复审员", "报告出具员"):
        assert f"<td>朝阳区社会救助家庭经济状况核对中心</td><td>朝阳区</td><td>{role}</td>" in html  # home page
    assert "系统管理" not in html  # no admin link for staff
    assert _attempts(app, username="cy_all", succeeded=True) == 1


def test_login_failure_is_explained_in_chinese_and_keeps_the_username(web, app) -> None:  # type: ignore[no-untyped-def]
    response = login(web, "cy_intake", "wrong-password")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "用户名或密码错误" in html
    assert 'value="cy_intake"' in html and "wrong-password" not in html
    assert_valid_html(html)
    assert web.get("/").status_code == 302  # still signed out
    assert _attempts(app, username="cy_intake", succeeded=False) == 1  # committed despite the refusal


def test_missing_fields_are_marked_next_to_the_inputs(web) -> None:  # type: ignore[no-untyped-def]
    response = web.post("/login", data={"csrf_token": page_token(web, "/login"), "username": "  ", "password": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and html.count("此项为必填项") == 2
    assert 'id="f-username-error"' in html and 'aria-invalid="true"' in html


def test_five_failures_throttle_the_username_until_the_window_ends(web, clock) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        assert login(web, "cy_intake", "wrong-password").status_code == 200
        clock.advance(minutes=1)
    response = login(web, "cy_intake")  # even the right password is refused now
    assert response.status_code == 429 and "登录失败次数过多，请 10 分钟后再试" in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == str(10 * 60)  # the first failure (minute 0) leaves at minute 15
    api = web.post("/api/v1/tokens", json={"username": "cy_intake", "password": DEMO_PASSWORD})
    assert api.status_code == 429 and api.json["error"] == "login_throttled" and api.headers["Retry-After"] == "600"
    assert login(web, "cy_reviewer").status_code == 302  # another user from the same address is fine
    assert logout(web).status_code == 302
    clock.advance(minutes=9)  # minute 14: all five failures are still inside the window
    assert "请 1 分钟后再试" in login(web, "cy_intake").get_data(as_text=True)
    clock.advance(minutes=1)
    assert login(web, "cy_intake").status_code == 302


def test_api_failures_count_towards_the_browser_throttle(web) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        response = web.post("/api/v1/tokens", json={"username": "cy_intake", "password": "wrong-password"})
        assert response.status_code == 401 and response.json["error"] == "invalid_credentials"
    response = login(web, "cy_intake")
    assert response.status_code == 429


def test_a_success_resets_the_username_count(web) -> None:  # type: ignore[no-untyped-def]
    for _ in range(4):
        login(web, "cy_intake", "wrong-password")
    assert login(web, "cy_intake").status_code == 302
    assert logout(web).status_code == 302
    for _ in range(4):
        login(web, "cy_intake", "wrong-password")
    assert login(web, "cy_intake").status_code == 302


def test_twenty_failures_from_one_address_throttle_that_address(web, clock) -> None:  # type: ignore[no-untyped-def]
    for i in range(20):
        assert login(web, f"ghost{i % 4}", "wrong-password", ip="10.0.0.9").status_code == 200
    assert login(web, "cy_reviewer", ip="10.0.0.9").status_code == 429
    assert login(web, "cy_reviewer", ip="10.0.0.10").status_code == 302
    assert logout(web, ip="10.0.0.10").status_code == 302
    clock.advance(minutes=15)
    assert login(web, "cy_reviewer", ip="10.0.0.9").status_code == 302


def test_idle_sessions_expire_on_the_engine_clock(web, clock) -> None:  # type: ignore[no-untyped-def]
    login(web, "cy_intake")
    for _ in range(3):  # activity keeps the session alive
        clock.advance(minutes=29)
        assert web.get("/").status_code == 200
    clock.advance(minutes=30)
    response = web.get("/admin/units")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    assert "由于长时间未操作，您已自动退出" in web.get("/login").get_data(as_text=True)
    assert web.get("/").status_code == 302


def test_idle_limit_comes_from_configuration(web, app, clock) -> None:  # type: ignore[no-untyped-def]
    app.config["SESSION_IDLE_MINUTES"] = 5
    login(web, "cy_intake")
    clock.advance(minutes=5)
    assert web.get("/").status_code == 302


def test_idle_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    assert create_app({"ENV": "testing", "DATABASE_URL": "sqlite://"}).config["SESSION_IDLE_MINUTES"] == 30
    monkeypatch.setenv("HEDUI_SESSION_IDLE_MINUTES", "0")
    with pytest.raises(ConfigurationError, match="HEDUI_SESSION_IDLE_MINUTES"):
        create_app({"ENV": "testing", "DATABASE_URL": "sqlite://"})


def test_forms_without_the_csrf_token_are_refused(web) -> None:  # type: ignore[no-untyped-def]
    response = web.post("/login", data={"username": "cy_intake", "password": DEMO_PASSWORD})
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    login(web, "admin")
    for data in ({}, {"csrf_token": "forged"}):
        response = web.post("/logout", data=data)
        assert response.status_code == 400
    response = web.post("/admin/units/new", data={"code": "X-1", "name": "伪造", "kind": "supervisor",
                                                  "region_code": "220000", "csrf_token": "forged"})
    assert response.status_code == 400
    assert web.get("/").status_code == 200  # still signed in


def test_the_api_needs_no_csrf_token(web) -> None:  # type: ignore[no-untyped-def]
    response = web.post("/api/v1/tokens", json={"username": "cy_intake", "password": DEMO_PASSWORD})
    assert response.status_code == 201
    headers = {"Authorization": f"Bearer {response.json['token']}"}
    assert web.delete("/api/v1/tokens/current", headers=headers).status_code == 204
    assert web.get("/api/v1/tasks").status_code == 401  # the API answers JSON, it never redirects


@pytest.mark.parametrize(("target", "expected"), [
    ("/admin/units?x=1", "/admin/units?x=1"),
    ("https://evil.example/", "/"),
    ("//evil.example/x", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("/ok\r\nSet-Cookie: x=1", "/"),
])
def test_next_redirects_only_within_the_site(web, target: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    response = login(web, "admin", next=target)
    assert response.status_code == 302 and response.headers["Location"] == expected


def test_signed_in_users_visiting_login_go_home(web) -> None:  # type: ignore[no-untyped-def]
    login(web, "cy_intake")
    assert web.get("/login").headers["Location"] == "/"


def test_logout_ends_the_session(web) -> None:  # type: ignore[no-untyped-def]
    login(web, "cy_intake")
    response = logout(web)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "您已安全退出" in web.get("/login").get_data(as_text=True)
    assert web.get("/").status_code == 302
    assert web.get("/logout").status_code == 405


def test_login_rotates_the_csrf_token(web) -> None:  # type: ignore[no-untyped-def]
    before = page_token(web, "/login")
    login(web, "cy_intake")
    assert page_token(web) != before


def test_deactivated_users_lose_their_session_and_cannot_sign_in(web, app) -> None:  # type: ignore[no-untyped-def]
    login(web, "cy_intake")
    with app.extensions["hedui"].session_factory() as session:
        session.execute(select(User).where(User.username == "cy_intake")).scalar_one().is_active = False
        session.commit()
    assert web.get("/").status_code == 302
    assert "用户名或密码错误" in login(web, "cy_intake").get_data(as_text=True)


def test_session_cookie_flags(web, app) -> None:  # type: ignore[no-untyped-def]
    response = login(web, "cy_intake")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    production = create_app({"ENV": "production", "DATABASE_URL": "sqlite://", "SECRET_KEY": "s" * 40})
    assert production.config["SESSION_COOKIE_SECURE"] is True


def test_no_credentials_in_the_logs(web, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    login(web, "cy_intake", "s3cret-wrong")
    token = web.post("/api/v1/tokens", json={"username": "cy_reviewer", "password": DEMO_PASSWORD}).json["token"]
    login(web, "cy_reviewer")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cret-wrong" not in text and DEMO_PASSWORD not in text and token not in text
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in failures] == [(logging.INFO, "sign-in failed for user cy_intake")]


def test_throttle_counts_use_the_window(app, clock) -> None:  # type: ignore[no-untyped-def]
    """The service on its own: failures older than the window do not count."""
    from engine.services.security import LoginThrottledError
    from engine.services.security import check_throttle
    from engine.services.security import purge_attempts
    from engine.services.security import record_attempt

    ctx = app.extensions["hedui"].new_context()
    for _ in range(5):
        record_attempt(ctx, "someone", "10.1.1.1", succeeded=False)
    with pytest.raises(LoginThrottledError) as refused:
        check_throttle(ctx, "someone", "10.1.1.2")
    assert refused.value.code == "login_throttled" and refused.value.details["retry_after"] == 15 * 60
    clock.advance(timedelta(minutes=15))
    check_throttle(ctx, "someone", "10.1.1.2")
    clock.advance(timedelta(days=30))
    assert purge_attempts(ctx) == 5
    ctx.session.close()


def test_behind_a_trusted_proxy_the_throttle_counts_the_forwarded_client(  # type: ignore[no-untyped-def]
        app, db_engine, session_factory, clock) -> None:
    proxied = create_app({"ENV": "testing", "DATABASE_URL": str(db_engine.url.render_as_string(hide_password=False)),
                          "DB_ENGINE": db_engine, "CLOCK": clock, "SECRET_KEY": "test-secret", "TRUSTED_PROXIES": 1})
    proxied.extensions["hedui"].session_factory = session_factory

    def via_proxy(client, username: str, password: str, client_ip: str):  # type: ignore[no-untyped-def]
        environ = {"REMOTE_ADDR": "10.9.9.9", "HTTP_X_FORWARDED_FOR": client_ip}
        token = csrf_from(client.get("/login", environ_base=environ).get_data(as_text=True))
        return client.post("/login", data={"csrf_token": token, "username": username, "password": password},
                           environ_base=environ)

    web = proxied.test_client()
    for i in range(20):
        assert via_proxy(web, f"ghost{i % 4}", "wrong-password", "172.16.0.5").status_code == 200
    assert via_proxy(web, "cy_reviewer", DEMO_PASSWORD, "172.16.0.5").status_code == 429
    assert via_proxy(proxied.test_client(), "cy_reviewer", DEMO_PASSWORD, "172.16.0.6").status_code == 302
    assert _attempts(proxied, ip="172.16.0.5") == 20 and _attempts(proxied, ip="10.9.9.9") == 0

    # without a trusted proxy the header is the client's word and is ignored
    direct = app.test_client()
    forged = {"REMOTE_ADDR": "10.0.0.7", "HTTP_X_FORWARDED_FOR": "172.16.0.99"}
    token = csrf_from(direct.get("/login", environ_base=forged).get_data(as_text=True))
    direct.post("/login", data={"csrf_token": token, "username": "ghost", "password": "x"}, environ_base=forged)
    assert _attempts(app, ip="10.0.0.7") == 1 and _attempts(app, ip="172.16.0.99") == 0


def test_trusted_proxies_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEDUI_TRUSTED_PROXIES", "9")
    with pytest.raises(ConfigurationError, match="HEDUI_TRUSTED_PROXIES"):
        create_app({"ENV": "testing", "DATABASE_URL": "sqlite://"})
