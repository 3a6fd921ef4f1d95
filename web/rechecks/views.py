"""个案复核 pages: the 复核表 form started from the case page, the recheck page, the case page's list.

The form posts to ``engine.services.rechecks.file_recheck``; a late objection is refused
with its reason on the form (422) and the refusal itself is committed (it is the record).
Deciding and recording the result are ordinary inbox tasks.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from engine.context import Actor
from engine.documents.printing import RECHECK_DOCUMENTS
from engine.documents.printing import print_counts
from engine.documents.printing import recheck_document_key
from engine.errors import NotFoundError
from engine.errors import ValidationError
from engine.models import Household
from engine.models import Membership
from engine.models import Unit
from engine.models import UnitKind
from engine.models.recheck import RECHECK_STATUS_NAMES
from engine.models.recheck import TRIGGER_NAMES
from engine.reports.levels import reports_with_levels
from engine.services import rechecks
from forms.recheck_form import TRIGGERS
from web.cases import access
from web.cases import queries
from web.db import get_ctx
from web.home.schemas import field_errors
from web.inbox.views import local_time
from web.rechecks.access import has_recheck_duty
from web.rechecks.access import visible_recheck
from web.rechecks.blueprint import bp

FORM_FIELDS = ("trigger", "requester_name", "requested_on", "reason", "notified_on")


def initiating_units(user_id: int) -> list[Unit]:
    """The entrusting units where the user may file a 复核表 (assistance officer or street clerk)."""
    return list(get_ctx().session.execute(
        select(Unit).join(Membership, Membership.unit_id == Unit.id)
        .where(Membership.user_id == user_id, Membership.role_code.in_(rechecks.INITIATOR_ROLES),
               Unit.kind == UnitKind.ENTRUSTING_DEPARTMENT).distinct().order_by(Unit.code)).scalars())


def case_rechecks(household: Household) -> list[dict[str, Any]]:
    """The rows of the case page's 复核 section: rechecks of this household, newest first."""
    ctx = get_ctx()
    return [{"number": r.number, "trigger": TRIGGER_NAMES[r.trigger.value],
             "status": RECHECK_STATUS_NAMES[r.status.value], "requested_on": r.requested_on.isoformat(),
             "case_no": r.verification_household.case_no if r.verification_household else None,
             "overdue": rechecks.is_overdue(ctx, r)}
            for r in rechecks.list_rechecks(ctx, user_id=None, original_household_id=household.id)[0]]


@bp.get("/new/<case_no>")
def new(case_no: str) -> str:
    household = queries.visible_case(get_ctx(), current_user.id, case_no)
    units = initiating_units(current_user.id)
    form = {"requested_on": get_ctx().today().isoformat(),
            "initiating_unit": str(units[0].id) if len(units) == 1 else ""}
    return _page(household, units, form, {}, None)


@bp.post("/new/<case_no>")
def create(case_no: str) -> ResponseReturnValue:
    ctx = get_ctx()
    household = queries.visible_case(ctx, current_user.id, case_no)
    units = initiating_units(current_user.id)
    form = request.form.to_dict()
    unit = next((u for u in units if str(u.id) == form.get("initiating_unit")), None)
    if unit is None:
        return _page(household, units, form, {"initiating_unit": ["请选择发起部门"]}, None), 422
    data = {k: form[k].strip() for k in FORM_FIELDS if form.get(k, "").strip()}
    role = ctx.session.execute(select(Membership.role_code).where(
        Membership.user_id == current_user.id, Membership.unit_id == unit.id,
        Membership.role_code.in_(rechecks.INITIATOR_ROLES))).scalars().first()
    try:
        recheck = rechecks.file_recheck(ctx, case_no=case_no, form=data, initiating_unit=unit,
                                        actor=Actor(current_user.username, role, current_user.id))
    except ValidationError as exc:
        if exc.commit:
            g.hedui_commit_on_error = True  # the refusal of a late objection is itself the record
        return _page(household, units, form, field_errors(exc), exc.message), 422
    return redirect(url_for("rechecks.detail", number=recheck.number))


def _page(household: Household, units: list[Unit], form: dict[str, Any], errors: dict[str, list[str]],
          message: str | None) -> str:
    return render_template("rechecks/new.html", household=household, units=units, form=form, errors=errors,
                           message=message, triggers=list(TRIGGERS.items()))


@bp.get("/<number>")
def detail(number: str) -> str:
    ctx = get_ctx()
    try:
        recheck = visible_recheck(ctx, current_user.id, number)
    except NotFoundError:
        abort(404)
    if recheck.original_household.instance is not None:
        # the page names the household's members: a view of personal data, recorded like the case page's
        access.record_viewed(ctx, recheck.original_household.instance,
                             Actor(current_user.username, None, current_user.id), page="recheck")
    tasks = queries.open_tasks(ctx.session, recheck.number) if recheck.instance else []
    verification = recheck.verification_household
    # the linked case's 复核报告 and, where it was tiered (PS-5), those its upper agencies issued for it
    reports = reports_with_levels(ctx, verification) if verification is not None else []
    documents = [(which, name, recheck_document_key(recheck, which)) for which, name in RECHECK_DOCUMENTS.items()
                 if which != "recheck_entrustment" or recheck.entrustment is not None]
    return render_template("rechecks/detail.html", recheck=recheck, trigger=TRIGGER_NAMES[recheck.trigger.value],
                           status=RECHECK_STATUS_NAMES[recheck.status.value], tasks=tasks,
                           overdue=rechecks.is_overdue(ctx, recheck), local_time=local_time,
                           household=recheck.original_household, reports=reports, documents=documents,
                           printed=print_counts(ctx.session, [key for _, _, key in documents]),
                           can_print=has_recheck_duty(ctx.session, current_user.id, recheck),
                           source=_source_complaint(ctx, recheck))


def _source_complaint(ctx: Any, recheck: Any) -> dict[str, Any] | None:
    """The complaint the recheck came from (AU-2): its number, linked when the viewer may open it."""
    from engine.services import complaint_queries

    complaint = complaint_queries.complaint_of_recheck(ctx, recheck)
    if complaint is None:
        return None
    return {"number": complaint.number, "link": complaint_queries.is_visible(ctx, current_user.id, complaint)}
