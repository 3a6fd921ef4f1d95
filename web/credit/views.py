"""失信登记 pages (AU-3; JL 第十三条, 第二十条): list, record, propose from an ended case, decide, revoke.

The list masks ID numbers; a record's page shows the full number and its view is recorded in
the access log like a case view (SEC-12). Refusals keep the form with the message at the field;
a separation-of-duties refusal is 403 with the rule's name (``web/errors.py``) and is recorded.
The case page's warning banner and the proposal button come from :func:`case_credit`.
"""

from __future__ import annotations

from typing import Any

from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from engine.audit import record_access
from engine.context import Actor
from engine.errors import InvalidStateError
from engine.errors import ValidationError
from engine.models import Household
from engine.models.credit import CREDIT_REASON_NAMES
from engine.models.credit import CREDIT_STATE_NAMES
from engine.models.credit import CreditRecord
from engine.services import credit
from engine.services import credit_queries
from forms.base import whole_number
from forms.member_rules import RELATIONS
from web.cases import queries
from web.credit.blueprint import bp
from web.db import get_ctx
from web.home.schemas import field_errors
from web.home.schemas import optional_date
from web.inbox.views import local_time

FORM_FIELDS = ("person_id", "reason", "reason_detail", "legal_basis", "valid_from", "valid_to", "report_no",
               "recheck_no")


def _actor() -> Actor:
    return Actor(current_user.username, None, current_user.id)


def case_credit(household: Household) -> dict[str, Any]:
    """The case page's part: subjects with a record in force anywhere (the banner), and who may propose one."""
    ctx = get_ctx()
    warnings = [{"person": p.name, "masked_id": p.masked_id, "number": r.number, "unit": r.unit.name,
                 "reason": CREDIT_REASON_NAMES[r.reason.value], "valid_from": r.valid_from.isoformat(),
                 "valid_to": r.valid_to.isoformat(), "own": r.household_id == household.id}
                for p, r in credit_queries.case_warnings(ctx, household)]
    units = credit.registering_units(ctx, current_user.id)
    return {"credit_warnings": warnings, "can_propose_credit": bool(units) and credit.is_ended(household)}


def warn_new_cases(households: list[Household]) -> None:
    """After an intake: say (flash) that subjects of the new cases have a record in force; nothing is blocked."""
    ctx = get_ctx()
    found = sum(len(credit_queries.case_warnings(ctx, h)) for h in households)
    if found:
        flash(f"提示：新登记案件中有 {found} 名核对对象存在有效的失信登记，详见案件页面；核对照常进行。", "warning")


# --- list ------------------------------------------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    ctx = get_ctx()
    state = request.args.get("state", "")
    errors: dict[str, list[str]] = {}
    period = {name: optional_date(request.args.get(name, ""), name, errors) for name in ("period_from", "period_to")}
    cursor = request.args.get("before", "")
    records, more = credit_queries.list_records(
        ctx, user_id=current_user.id, state=state if state in CREDIT_STATE_NAMES else None,
        period_from=period["period_from"], period_to=period["period_to"],
        before_id=whole_number(cursor))
    return render_template("credit/index.html", records=records, more=more, state=state, states=CREDIT_STATE_NAMES,
                           args=request.args, errors=errors, today=ctx.today(), reasons=CREDIT_REASON_NAMES)



# --- one record ------------------------------------------------------------------------------------------------


@bp.get("/<number>")
def detail(number: str) -> str:
    return _detail(credit_queries.visible_record(get_ctx(), current_user.id, number))


def _detail(record: CreditRecord, *, form: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
            message: str | None = None, action: str | None = None) -> str:
    ctx = get_ctx()
    if record.household.instance is not None:
        # the page shows the full ID number: a view of personal data, recorded like the case page's
        record_access(ctx, "personal_data_viewed", record.household.instance, actor=_actor(), via="web",
                      page="credit_record", credit_record=record.number)
    deciders = {u.id for u in credit.registering_units(ctx, current_user.id, credit.APPROVER_ROLES)}
    state = record.state_on(ctx.today())
    return render_template(
        "credit/detail.html", record=record, state=state, state_name=CREDIT_STATE_NAMES[state],
        reason=CREDIT_REASON_NAMES[record.reason.value], local_time=local_time,
        can_decide=record.unit_id in deciders and state == "proposed",
        is_proposer=record.proposed_by == current_user.username,
        can_revoke=record.unit_id in deciders and state in ("registered", "expired"),
        form=form or {}, errors=errors or {}, message=message, action=action)


@bp.post("/<number>/decide")
def decide(number: str) -> ResponseReturnValue:
    ctx = get_ctx()
    record = credit_queries.visible_record(ctx, current_user.id, number)
    form = request.form.to_dict()
    choice = form.get("decision")
    if choice not in ("approve", "reject"):
        return _detail(record, form=form, errors={"decision": ["请选择予以登记或不予登记"]}, action="decide"), 422
    try:
        credit.decide_record(ctx, number, approve=choice == "approve", note=form.get("note"), actor=_actor())
    except ValidationError as exc:
        return _detail(record, form=form, errors=field_errors(exc), message=exc.message, action="decide"), 422
    return redirect(url_for("credit.detail", number=number))


@bp.post("/<number>/revoke")
def revoke(number: str) -> ResponseReturnValue:
    ctx = get_ctx()
    record = credit_queries.visible_record(ctx, current_user.id, number)
    form = request.form.to_dict()
    try:
        credit.revoke_record(ctx, number, reason=form.get("reason", ""), actor=_actor())
    except ValidationError as exc:
        return _detail(record, form=form, errors=field_errors(exc), message=exc.message, action="revoke"), 422
    return redirect(url_for("credit.detail", number=number))


# --- propose -----------------------------------------------------------------------------------------------------


@bp.get("/new/<case_no>")
def new(case_no: str) -> str:
    ctx = get_ctx()
    household = queries.visible_case(ctx, current_user.id, case_no)
    units = credit.registering_units(ctx, current_user.id)
    form = {k: v for k, v in credit.proposal_defaults(ctx, household).items() if v}
    if len(units) == 1:
        form["unit"] = str(units[0].id)
    return _propose_page(household, units, form, {}, None)


@bp.post("/new/<case_no>")
def create(case_no: str) -> ResponseReturnValue:
    ctx = get_ctx()
    household = queries.visible_case(ctx, current_user.id, case_no)
    units = credit.registering_units(ctx, current_user.id)
    form = request.form.to_dict()
    unit = next((u for u in units if str(u.id) == form.get("unit")), None)
    if unit is None:
        return _propose_page(household, units, form, {"unit": ["请选择登记单位"]}, None), 422
    data = {k: form[k].strip() for k in FORM_FIELDS if form.get(k, "").strip()}
    try:
        record = credit.propose_record(ctx, case_no=case_no, unit=unit, form=data, actor=_actor())
    except (ValidationError, InvalidStateError) as exc:
        status = 422 if isinstance(exc, ValidationError) else 409
        return _propose_page(household, units, form, field_errors(exc), exc.message), status
    return redirect(url_for("credit.detail", number=record.number))


def _propose_page(household: Household, units: list[Any], form: dict[str, Any], errors: dict[str, list[str]],
                  message: str | None) -> str:
    ctx = get_ctx()
    if household.instance is not None:  # the form lists the case's subjects by name
        record_access(ctx, "personal_data_viewed", household.instance, actor=_actor(), via="web", page="credit_new")
    persons = [(str(p.id), f"{p.name}（{RELATIONS.get(p.relation, (p.relation, None))[0]}，{p.masked_id}）")
               for p in household.persons if p.id_number]
    return render_template("credit/new.html", household=household, units=units, form=form, errors=errors,
                           message=message, persons=persons, reasons=list(CREDIT_REASON_NAMES.items()),
                           ended=credit.is_ended(household))
