"""Home, sign-in and sign-out pages."""

from __future__ import annotations

from typing import Any

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine.calendar_provisional import calendar_gaps
from engine.errors import ValidationError
from engine.services.security import FailedLoginError
from engine.services.security import LoginThrottledError
from engine.services.security import sign_in
from web.db import get_ctx
from web.home.blueprint import bp
from web.home.schemas import LoginFormSchema
from web.home.schemas import field_errors
from web.home.schemas import load_form
from web.inbox.views import inbox_counts
from web.login import end_session
from web.login import has_role
from web.login import held_roles
from web.login import public
from web.login import safe_next
from web.login import start_session
from web.login import throttled_response


@bp.get("/")
def index() -> str:
    gaps = []
    if has_role("admin"):
        gaps = calendar_gaps(get_ctx().session, get_ctx().today())
    return render_template("home/index.html", roles=held_roles(), inbox_counts=inbox_counts(), calendar_gaps=gaps)


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    target = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(target)
    if request.method in ("GET", "HEAD"):  # HEAD (monitors, link checkers) is a GET without a body
        return _login_page(target, {}, {})
    form = request.form.to_dict()
    try:
        data = load_form(LoginFormSchema(), form)
    except ValidationError as exc:
        errors = field_errors(exc)
        message = "请填写用户名和密码" if set(errors) <= {"username", "password"} else exc.message
        return _login_page(target, form, errors, message), 422
    try:
        user = sign_in(get_ctx(), data["username"], data["password"], ip=request.remote_addr)
    except LoginThrottledError as exc:
        return throttled_response(exc, _login_page(target, form, {}, exc.message))
    except FailedLoginError as exc:
        # the page is an answer, not an error: 200 also commits the failed attempt's row
        return _login_page(target, form, {}, exc.message)
    start_session(user)
    return redirect(target)


def _login_page(target: str, form: dict[str, Any], errors: dict[str, list[str]], message: str | None = None) -> str:
    form = {k: v for k, v in form.items() if k != "password"}  # never echo a password back
    return render_template("home/login.html", next=target, form=form, errors=errors, message=message)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    end_session()
    flash("您已安全退出", "success")
    return redirect(url_for("home.login"))
