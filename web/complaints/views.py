"""举报投诉 pages (AU-2; JL 第二十一条): the register by jurisdiction, registering one, triage on its page.

Triage (转复核, 不予受理, 已办结) is offered on the complaint's page to the receiving unit's staff;
a refusal keeps the form with the message at the field, and nothing is written (the request's
transaction rolls back). Lists show only the start of the content, with anything shaped like an
ID number masked: the full text is on the complaint's page.
"""

from __future__ import annotations

import re
from typing import Any

from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine.calendar import WorkingCalendar
from engine.clock import LOCAL_TZ
from engine.clock import local_date
from engine.context import Actor
from engine.errors import InvalidStateError
from engine.errors import ValidationError
from engine.models.complaint import CHANNEL_NAMES
from engine.models.complaint import STATUS_NAMES
from engine.models.complaint import Complaint
from engine.services import complaint_queries
from engine.services import complaints
from engine.services.rechecks import recheck_visible_to
from forms.base import whole_number
from forms.ids import mask_id
from web.complaints.blueprint import bp
from web.db import get_ctx
from web.home.schemas import field_errors
from web.home.schemas import optional_date
from web.inbox.views import local_time

FORM_FIELDS = ("channel", "channel_detail", "received_at", "complainant_name", "complainant_contact", "case_no",
               "subject_text", "content")
EXCERPT = 30
ID_LIKE = re.compile(r"\d{17}[\dXx]|\d{15}")


def _actor() -> Actor:
    return Actor(current_user.username, None, current_user.id)


def excerpt(text: str | None, length: int = EXCERPT) -> str:
    """The start of a free text for lists, anything shaped like an ID number masked."""
    if not text:
        return "—"
    masked = ID_LIKE.sub(lambda m: mask_id(m.group(0)), text)
    return masked if len(masked) <= length else masked[:length] + "…"


def _age_text(complaint: Complaint, calendar: WorkingCalendar) -> str:
    days = complaints.age_in_working_days(get_ctx(), complaint, calendar)
    if days is None:
        return "（缺少工作日历）"
    return f"{days} 个工作日"


# --- list ------------------------------------------------------------------------------------------------------


def case_complaints(household_id: int) -> list[dict[str, Any]] | None:
    """The rows of the case page's 举报投诉 section (AU-2): complaints about this household the user reads;
    None for users who read no register (the section is not shown)."""
    found = complaint_queries.household_complaints(get_ctx(), current_user.id, household_id)
    if found is None:
        return None
    return [{"number": c.number, "channel": CHANNEL_NAMES[c.channel.value], "status": STATUS_NAMES[c.status.value],
             "received_on": local_date(c.received_at).isoformat()} for c in found]


@bp.get("/")
def index() -> str:
    ctx = get_ctx()
    status, channel = request.args.get("status", ""), request.args.get("channel", "")
    errors: dict[str, list[str]] = {}
    period = {name: optional_date(request.args.get(name, ""), name, errors)
              for name in ("received_from", "received_to")}
    cursor = request.args.get("before", "")
    rows, more = complaint_queries.list_complaints(
        ctx, user_id=current_user.id, status=status if status in STATUS_NAMES else None,
        channel=channel if channel in CHANNEL_NAMES else None, received_from=period["received_from"],
        received_to=period["received_to"], before_id=whole_number(cursor))
    calendar = WorkingCalendar(ctx.session)
    items = [{"c": c, "age": _age_text(c, calendar)} for c in rows]
    return render_template("complaints/index.html", items=items, more=more, args=request.args, errors=errors,
                           statuses=STATUS_NAMES, channels=CHANNEL_NAMES, local_time=local_time, excerpt=excerpt,
                           can_register=bool(complaints.receiving_units(ctx, current_user.id)))



# --- register ----------------------------------------------------------------------------------------------------


@bp.get("/new")
def new() -> str:
    ctx = get_ctx()
    units = complaints.receiving_units(ctx, current_user.id)
    form = {"received_at": ctx.now().astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M"), "channel": "phone"}
    if len(units) == 1:
        form["unit"] = str(units[0].id)
    return _new_page(units, form, {}, None)


@bp.post("/new")
def create() -> ResponseReturnValue:
    ctx = get_ctx()
    units = complaints.receiving_units(ctx, current_user.id)
    form = request.form.to_dict()
    if not units:
        return _new_page(units, form, {}, "您不是民政部门（社会救助部门、镇街民政办）的经办人员，不能登记举报投诉"), 403
    unit = next((u for u in units if str(u.id) == form.get("unit")), None)
    if unit is None:
        return _new_page(units, form, {"unit": ["请选择受理单位"]}, None), 422
    data = {k: form[k].strip() for k in FORM_FIELDS if form.get(k, "").strip()}
    try:
        complaint = complaints.register_complaint(ctx, unit=unit, form=data, actor=_actor())
    except ValidationError as exc:
        return _new_page(units, form, field_errors(exc), exc.message), 422
    return redirect(url_for("complaints.detail", complaint_no=complaint.number))


def _new_page(units: list[Any], form: dict[str, Any], errors: dict[str, list[str]], message: str | None) -> str:
    return render_template("complaints/new.html", units=units, form=form, errors=errors, message=message,
                           channels=list(CHANNEL_NAMES.items()))


# --- one complaint and its triage -----------------------------------------------------------------------------------


@bp.get("/<complaint_no>")
def detail(complaint_no: str) -> str:
    ctx = get_ctx()
    complaint = complaint_queries.visible_complaint(ctx, current_user.id, complaint_no)
    complaint_queries.record_viewed(ctx, complaint, Actor(current_user.username, None, current_user.id), via="web")
    return _detail(complaint)


def _detail(complaint: Complaint, *, form: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
            message: str | None = None, action: str | None = None) -> str:
    ctx = get_ctx()
    officers = {u.id for u in complaints.receiving_units(ctx, current_user.id)}
    referrers = {u.id for u in complaints.receiving_units(ctx, current_user.id, complaints.REFER_ROLES)}
    status = complaint.status.value
    # outside the viewer's jurisdiction the recheck's number is shown without a link (the crawl rule: no 404 links)
    recheck_link = complaint.recheck is not None and recheck_visible_to(ctx, current_user.id, complaint.recheck)
    defaults = {"case_no": complaint.case_no or "", "reason": complaint.content}
    return render_template(
        "complaints/detail.html", complaint=complaint, status_name=STATUS_NAMES[status],
        channel_name=CHANNEL_NAMES[complaint.channel.value], local_time=local_time,
        age=_age_text(complaint, WorkingCalendar(ctx.session)), recheck_link=recheck_link,
        can_refer=complaint.unit_id in referrers and status == "received",
        can_dismiss=complaint.unit_id in officers and status == "received",
        can_close=complaint.unit_id in officers and status in ("received", "recheck_filed"),
        form={**defaults, **(form or {})}, errors=errors or {}, message=message, action=action)


def _triage(complaint_no: str, action: str, run: Any) -> ResponseReturnValue:
    ctx = get_ctx()
    complaint = complaint_queries.visible_complaint(ctx, current_user.id, complaint_no)
    form = request.form.to_dict()
    try:
        run(ctx, form)
    except (ValidationError, InvalidStateError) as exc:
        status = 422 if isinstance(exc, ValidationError) else 409
        ctx.session.rollback()  # nothing half-written: the page is rendered from the stored complaint
        complaint = complaint_queries.visible_complaint(ctx, current_user.id, complaint_no)
        return _detail(complaint, form=form, errors=field_errors(exc) if isinstance(exc, ValidationError) else {},
                       message=exc.message, action=action), status
    return redirect(url_for("complaints.detail", complaint_no=complaint.number))


@bp.post("/<complaint_no>/refer")
def refer(complaint_no: str) -> ResponseReturnValue:
    return _triage(complaint_no, "refer", lambda ctx, form: complaints.refer_complaint(
        ctx, complaint_no, actor=_actor(), case_no=form.get("case_no"), reason=form.get("reason")))


@bp.post("/<complaint_no>/dismiss")
def dismiss(complaint_no: str) -> ResponseReturnValue:
    return _triage(complaint_no, "dismiss", lambda ctx, form: complaints.dismiss_complaint(
        ctx, complaint_no, reason=form.get("reason", ""), actor=_actor()))


@bp.post("/<complaint_no>/close")
def close(complaint_no: str) -> ResponseReturnValue:
    return _triage(complaint_no, "close", lambda ctx, form: complaints.close_complaint(
        ctx, complaint_no, reply=form.get("reply", ""), actor=_actor()))
