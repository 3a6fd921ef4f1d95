"""Administration pages: regions, units, users and their roles, exchange-officer registrations.

Every change goes through ``engine.services`` (which appends the event); a form that does
not validate is shown again with each message next to its field and the values kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from datetime import timedelta
from typing import Any

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine.clock import local_date
from engine.context import Actor
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.models import ExchangeRegistration
from engine.models import Unit
from engine.models import UnitKind
from engine.services import org
from engine.services import users
from web.admin import queries
from web.admin.blueprint import bp
from web.admin.schemas import RegionCreateSchema
from web.admin.schemas import RegistrationCreateSchema
from web.admin.schemas import RegistrationEndSchema
from web.admin.schemas import RoleGrantSchema
from web.admin.schemas import RoleRevokeSchema
from web.admin.schemas import UnitCreateSchema
from web.admin.schemas import UnitPhoneSchema
from web.admin.schemas import UserCreateSchema
from web.db import get_ctx
from web.db import state
from web.home.schemas import HtmlFormSchema
from web.home.schemas import field_errors
from web.home.schemas import load_form
from web.inbox.views import local_time

Page = ResponseReturnValue
#: a form's action: validated values in, (flash message, where to go next) out
Action = Callable[[dict[str, Any]], tuple[str, str]]


def _actor() -> Actor:
    return Actor(current_user.username, "admin", current_user.id)


def _today() -> date:
    return local_date(state().clock.now())


def _form_page(schema: HtmlFormSchema, template: str, action: Action, **context: Any) -> Page:
    """GET shows the empty form; POST validates and acts, or shows the form again with the errors."""
    if request.method in ("GET", "HEAD"):
        return render_template(template, form={}, errors={}, message=None, **context)
    form = request.form.to_dict()
    try:
        message, location = action(load_form(schema, form))
    except ValidationError as exc:
        return render_template(template, form=form, errors=field_errors(exc), message=exc.message, **context), 422
    flash(message, "success")
    return redirect(location)


def _field_error(name: str, message: str) -> ValidationError:
    return ValidationError(message, fields={name: [message]})


@bp.get("/")
def index() -> str:
    return render_template("admin/index.html")


# -- regions ---------------------------------------------------------------------------------------


@bp.get("/regions")
def regions() -> str:
    return render_template("admin/regions.html", tree=queries.region_tree(get_ctx().session))


@bp.route("/regions/new", methods=["GET", "POST"])
def new_region() -> Page:
    def create(data: dict[str, Any]) -> tuple[str, str]:
        region = org.create_region(get_ctx(), data["code"], data["name"], data["level"], data["parent_code"],
                                   actor=_actor())
        return f"已新增区划「{region.name}」", url_for("admin.regions")

    session = get_ctx().session
    return _form_page(RegionCreateSchema(), "admin/region_form.html", create,
                      levels=queries.level_choices(), parents=queries.region_choices(session))


# -- units -----------------------------------------------------------------------------------------


@bp.get("/units")
def units() -> str:
    return render_template("admin/units.html", units=queries.list_units(get_ctx().session),
                           kind_name=queries.kind_name, category_names=queries.category_names)


@bp.route("/units/new", methods=["GET", "POST"])
def new_unit() -> Page:
    def create(data: dict[str, Any]) -> tuple[str, str]:
        unit = org.create_unit(get_ctx(), data["code"], data["name"], data["kind"], data["region_code"],
                               categories=data["categories"], contact_phone=data.get("contact_phone"),
                               actor=_actor())
        return f"已新增单位「{unit.name}」", url_for("admin.units")

    session = get_ctx().session
    return _form_page(UnitCreateSchema(), "admin/unit_form.html", create,
                      kinds=queries.kind_choices(), regions=queries.region_choices(session))


@bp.route("/units/<code>/phone", methods=["GET", "POST"])
def unit_phone(code: str) -> Page:
    ctx = get_ctx()
    try:
        unit = org.get_unit_by_code(ctx, code)
    except NotFoundError:
        abort(404)
    assert unit is not None

    def change(data: dict[str, Any]) -> tuple[str, str]:
        org.set_unit_phone(ctx, unit, data.get("contact_phone"), actor=_actor())
        phone = unit.contact_phone
        return (f"已将「{unit.name}」的联系电话改为 {phone}" if phone else f"已清除「{unit.name}」的联系电话",
                url_for("admin.units"))

    if request.method in ("GET", "HEAD"):  # the form opens with the current phone
        return render_template("admin/unit_phone.html", unit=unit, form={"contact_phone": unit.contact_phone or ""},
                               errors={}, message=None)
    return _form_page(UnitPhoneSchema(), "admin/unit_phone.html", change, unit=unit)


# -- users and roles -------------------------------------------------------------------------------


@bp.get("/users", endpoint="users")
def list_users() -> str:
    session = get_ctx().session
    return render_template("admin/users.html", rows=queries.list_users(session),
                           role_names=queries.role_names(session))


@bp.route("/users/new", methods=["GET", "POST"])
def new_user() -> Page:
    def create(data: dict[str, Any]) -> tuple[str, str]:
        user = users.create_user(get_ctx(), data["username"], data["display_name"], data["password"],
                                 actor=_actor())
        return f"已新增用户「{user.display_name}」，请为其授予角色", url_for("admin.user", username=user.username)

    return _form_page(UserCreateSchema(), "admin/user_form.html", create)


@bp.get("/users/<username>")
def user(username: str) -> str:
    return _user_page(username, {}, {}, None)


def _user_page(username: str, form: dict[str, Any], errors: dict[str, list[str]], message: str | None) -> str:
    ctx = get_ctx()
    shown = users.get_user(ctx, username)
    return render_template(
        "admin/user.html", user=shown, memberships=org.memberships_of(ctx, shown.id),
        role_names=queries.role_names(ctx.session), units=queries.unit_choices(ctx.session),
        form=form, errors=errors, message=message, local_time=local_time)


@bp.post("/users/<username>/roles")
def grant_role(username: str) -> Page:
    ctx = get_ctx()
    target = users.get_user(ctx, username)
    form = request.form.to_dict()
    try:
        data = load_form(RoleGrantSchema(), form)
        unit, role_code = _grant_target(data)
        org.grant_role(ctx, target, unit, role_code, actor=_actor())
    except ValidationError as exc:
        return _user_page(username, form, field_errors(exc), exc.message), 422
    flash(f"已授予「{target.display_name}」在「{unit.name}」的{queries.role_names(ctx.session)[role_code]}角色",
          "success")
    return redirect(url_for("admin.user", username=username))


def _grant_target(data: dict[str, Any]) -> tuple[Unit, str]:
    ctx = get_ctx()
    unit = ctx.session.get(Unit, data["unit_id"])
    if unit is None or not unit.is_active:
        raise _field_error("unit_id", "单位不存在或已停用")
    if data["role_code"] not in queries.role_names(ctx.session):
        raise _field_error("role_code", "角色不存在")
    return unit, data["role_code"]


@bp.post("/users/<username>/roles/revoke")
def revoke_role(username: str) -> ResponseReturnValue:
    ctx = get_ctx()
    target = users.get_user(ctx, username)
    try:
        data = load_form(RoleRevokeSchema(), request.form)
    except ValidationError:
        abort(400)
    unit = ctx.session.get(Unit, data["unit_id"])
    if unit is None:
        raise NotFoundError("单位不存在")
    try:
        org.revoke_role(ctx, target, unit, data["role_code"], actor=_actor())
    except PermissionDeniedError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.user", username=username))
    role_name = queries.role_names(ctx.session).get(data["role_code"], data["role_code"])
    flash(f"已撤销「{target.display_name}」在「{unit.name}」的{role_name}角色", "success")
    return redirect(url_for("admin.user", username=username))


# -- exchange-officer registrations ----------------------------------------------------------------


@bp.get("/registrations")
def registrations() -> str:
    return _registrations_page({}, {})


def _registrations_page(end_forms: dict[int, dict[str, Any]], end_errors: dict[int, list[str]]) -> str:
    today = _today()
    return render_template("admin/registrations.html", groups=queries.registration_groups(get_ctx().session, today),
                           today=today, end_forms=end_forms, end_errors=end_errors)


@bp.route("/registrations/new", methods=["GET", "POST"])
def new_registration() -> Page:
    def register(data: dict[str, Any]) -> tuple[str, str]:
        ctx = get_ctx()
        officer = _lookup(lambda: users.get_user(ctx, data["user"]), "user", "用户不存在")
        sharing_unit = _lookup(lambda: org.get_unit_by_code(ctx, data["sharing_unit"]), "sharing_unit", "单位不存在")
        unit = _lookup(lambda: org.get_unit_by_code(ctx, data["unit"]), "unit", "单位不存在")
        org.register_exchange_officer(ctx, officer, sharing_unit, unit, valid_from=data["valid_from"],
                                      valid_to=data["valid_to"], actor=_actor())
        return f"已为「{sharing_unit.name}」备案交换人员「{officer.display_name}」", url_for("admin.registrations")

    session = get_ctx().session
    return _form_page(
        RegistrationCreateSchema(), "admin/registration_form.html", register,
        sharing_units=queries.unit_choices(session, UnitKind.SHARING_UNIT, value="code"),
        units=queries.unit_choices(session, UnitKind.VERIFICATION_AGENCY, UnitKind.SHARING_UNIT, value="code"),
        today=_today())


def _lookup(find: Callable[[], Any], name: str, message: str) -> Any:
    try:
        return find()
    except NotFoundError:
        raise _field_error(name, message) from None


@bp.post("/registrations/<int:registration_id>/end")
def end_registration(registration_id: int) -> Page:
    ctx = get_ctx()
    registration = ctx.session.get(ExchangeRegistration, registration_id)
    if registration is None:
        raise NotFoundError("备案记录不存在")
    form = request.form.to_dict()
    try:
        last_day = load_form(RegistrationEndSchema(), form)["last_day"]
        if last_day < registration.valid_from - timedelta(days=1):
            raise _field_error("last_day", "最后有效日不能早于起始日的前一天")
    except ValidationError as exc:
        messages = [m for msgs in field_errors(exc).values() for m in msgs] or [exc.message]
        return _registrations_page({registration_id: form}, {registration_id: messages}), 422
    before = registration.valid_to
    org.end_registration(ctx, registration, last_day=last_day, actor=_actor())
    if registration.valid_to == before:
        flash("该备案在此日期前已经终止，未作更改", "info")
    else:
        flash(f"备案已终止，最后有效日为 {last_day.isoformat()}", "success")
    return redirect(url_for("admin.registrations"))

