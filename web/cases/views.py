"""The case page and the case search.

Jurisdiction first (OR-3): a case outside it answers 404, never 403. ID numbers are masked
unless someone whose duty needs it asks for them with a purpose; every view of a case's
personal data, every unmasking and every search by ID number is recorded (SEC-12, SEC-13).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from engine import assignment
from engine.audit import assert_can_audit
from engine.context import Actor
from engine.documents.printing import document_key
from engine.documents.printing import print_counts
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.exchange.queries import case_results
from engine.models import WorkflowInstance
from engine.models.case import DOCUMENT_KIND_NAMES
from engine.models.case import Household
from engine.reports.levels import reports_with_levels
from engine.reports.printing import report_counts
from forms.household import BUSINESS_TYPES
from forms.household import SIGNATURES
from forms.ids import IdNumberError
from forms.ids import mask_id
from forms.ids import parse_id_number
from forms.member_rules import DUTIES
from forms.member_rules import RELATIONS
from forms.member_rules import RULE_SETS
from forms.member_rules import RuleSet
from web.cases import access
from web.cases import queries
from web.cases.blueprint import bp
from web.cases.escalations import case_escalations
from web.cases.schemas import SEARCH_PURPOSES
from web.cases.schemas import UNMASK_PURPOSES
from web.cases.schemas import CaseSearchSchema
from web.cases.schemas import UnmaskSchema
from web.cases.schemas import looks_like_id_number
from web.complaints.views import case_complaints
from web.credit.views import case_credit
from web.db import get_ctx
from web.home.schemas import field_errors
from web.home.schemas import load_form
from web.inbox.casefacts import openable
from web.inbox.views import local_time
from web.rechecks.views import case_rechecks
from web.rechecks.views import initiating_units
from web.spending.views import case_spending

logger = logging.getLogger(__name__)

SOURCE_NAMES = {"paper": "纸质材料录入", "package": "电子数据包导入", "api": "救助审批系统推送",
                "upward": "下级核对机构委托", "recheck": "复核委托书"}


def _actor() -> Actor:
    return Actor(current_user.username, None, current_user.id)


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("cases.search"))


# --- the case page -------------------------------------------------------------------------------------------


@bp.get("/<case_no>")
def case(case_no: str) -> str:
    ctx = get_ctx()
    household = queries.visible_case(ctx, current_user.id, case_no)
    assert household.instance is not None  # visible_case refuses cases without an instance
    access.record_viewed(ctx, household.instance, _actor(), page="case")
    return _case_page(household, unmasked=set(), form={}, errors={}, message=None)


@bp.post("/<case_no>/unmask")
def unmask(case_no: str) -> ResponseReturnValue:
    """Show full ID numbers once, for a stated purpose; the page after a reload is masked again."""
    ctx = get_ctx()
    household = queries.visible_case(ctx, current_user.id, case_no)
    instance = household.instance
    assert instance is not None
    if not queries.has_duty(ctx.session, current_user.id, instance):
        raise PermissionDeniedError("您在本案件中没有需要查看完整证件号码的职责", code="duty_required")
    form = request.form.to_dict()
    try:
        data = load_form(UnmaskSchema(), form)
        persons = _chosen(household, data["person_id"])
    except ValidationError as exc:
        return _case_page(household, unmasked=set(), form=form, errors=field_errors(exc), message=exc.message), 422
    access.record_unmasked(ctx, instance, _actor(), purpose=data["purpose"], note=data["note"],
                           person_ids=[p.id for p in persons])
    logger.info("Case %s: %s ID numbers shown to %s (%s)", case_no, len(persons), current_user.username,
                data["purpose"])
    return _case_page(household, unmasked={p.id for p in persons}, form={}, errors={}, message=None)


def _chosen(household: Household, person_id: int | None) -> list[Any]:
    with_numbers = [p for p in household.persons if p.id_number]
    if person_id is None:
        return with_numbers
    chosen = [p for p in with_numbers if p.id == person_id]
    if not chosen:
        raise ValidationError(fields={"person_id": ["请从列表中选择人员"]})
    return chosen


def _case_page(household: Household, *, unmasked: set[int], form: dict[str, Any], errors: dict[str, list[str]],
               message: str | None) -> str:
    ctx = get_ctx()
    instance = household.instance
    assert instance is not None
    entrustment = household.entrustment
    rules = RULE_SETS.get(household.rule_set)
    reports = reports_with_levels(ctx, household)  # with those upper agencies issued for it (PS-5)
    tasks = queries.open_tasks(ctx.session, household.case_no)
    return render_template(
        "cases/case.html", household=household, entrustment=entrustment, instance=instance,
        units=queries.unit_names(ctx.session, [entrustment.entrusting_unit_id, entrustment.agency_unit_id]),
        region=queries.region_name(ctx.session, household.region_code),
        business_type=_business(household.business_type, household.business_other),
        status=queries.case_status(ctx, household),
        source=SOURCE_NAMES.get(entrustment.source.value, entrustment.source.value),
        members=[p for p in household.persons if p.role.value == "member"],
        obligors=[p for p in household.persons if p.role.value == "obligor"],
        shown_id=lambda p: (p.id_number if p.id in unmasked else mask_id(p.id_number)) if p.id_number else "（无）",
        unmasked=unmasked, relation=lambda code: RELATIONS.get(code, (code, None))[0],
        rule=lambda code: _rule_label(rules, code),
        duty=lambda code: DUTIES.get(code, code or "—").split("（")[0], signatures=_signatures(household),
        authorisations=household.authorisations,
        business_names=lambda codes: "、".join(BUSINESS_TYPES.get(c, c) for c in codes),
        person_choices=[(str(p.id), f"{p.name}（{RELATIONS.get(p.relation, (p.relation, None))[0]}）")
                        for p in household.persons if p.id_number],
        today=ctx.today(), documents=queries.documents_of(ctx.session, household),
        kind_names=DOCUMENT_KIND_NAMES, tasks=tasks,
        openable=openable(ctx, tasks, current_user.id, current_user.username),
        can_unmask=queries.has_duty(ctx.session, current_user.id, instance), purposes=list(UNMASK_PURPOSES.items()),
        form=form, errors=errors, message=message, local_time=local_time,
        printed=_printed(household), exchange_results=case_results(ctx, instance.id),
        rechecks=case_rechecks(household), can_file_recheck=bool(initiating_units(current_user.id)),
        complaints=case_complaints(household.id),
        reports=reports, report_counts=report_counts(ctx, [r.state.report for r in reports]),
        escalations=case_escalations(household), can_view_archive=_may_audit(instance),
        deadline=queries.case_deadline(ctx, instance), **case_credit(household), **case_spending(household))


def _may_audit(instance: WorkflowInstance) -> bool:
    """Whether the archive viewer (and the case history) opens for the user: staff of the case, auditors."""
    try:
        assert_can_audit(get_ctx(), current_user.id, instance)
    except (PermissionDeniedError, NotFoundError):
        return False
    return True


def _printed(household: Household) -> dict[str, int]:
    """How often the case's 授权书 and 委托书 were printed (shown next to their print buttons)."""
    keys = {which: document_key(household, which) for which in ("authorisation", "entrustment")}
    counts = print_counts(get_ctx().session, list(keys.values()))
    return {which: counts.get(key, 0) for which, key in keys.items()}


def _rule_label(rules: RuleSet | None, code: str | None) -> str:
    """The member rule's name; its code when the household's rule set does not know it; a dash when none."""
    found = rules.get(code) if rules and code else None
    return found.label if found else (code or "—")


def _business(code: str, other: str | None) -> str:
    name = BUSINESS_TYPES.get(code, code)
    return f"{name}（{other}）" if other else name


def _signatures(household: Household) -> dict[int, str]:
    """Person id -> how they signed the household's latest authorisation."""
    if not household.authorisations:
        return {}
    latest = household.authorisations[-1]
    return {row.person_id: SIGNATURES.get(row.signature, row.signature) for row in latest.persons}


# --- search --------------------------------------------------------------------------------------------------


@bp.get("/search")
def search() -> str:
    return _search_page({}, {}, None, results=None)


@bp.post("/search")
def run_search() -> ResponseReturnValue:
    """Exact match by case number or ID number; posted, so an ID number never lands in a URL or access log."""
    ctx = get_ctx()
    form = request.form.to_dict()
    try:
        data = load_form(CaseSearchSchema(), form)
    except ValidationError as exc:
        return _search_page(form, field_errors(exc), exc.message, results=None), 422
    query = data["q"].strip()
    if not looks_like_id_number(query):
        household = ctx.session.execute(select(Household).where(Household.case_no == query)).scalar_one_or_none()
        if household is not None and household.instance is not None and assignment.visible_to(
                ctx, current_user.id, household.instance):
            return redirect(url_for("cases.case", case_no=household.case_no))
        return _search_page(form, {}, None, results=[], searched="case")
    try:
        number = parse_id_number(query, today=ctx.today()).number
    except IdNumberError as exc:
        return _search_page(form, {"q": [exc.message]}, exc.message, results=None), 422
    results = queries.find_by_id_number(ctx, current_user.id, number, overdue_only=data["overdue_only"])
    access.record_searched(ctx, _actor(), number=number, purpose=data["purpose"], note=data["note"],
                           case_nos=[r.case_no for r in results])
    form["q"] = ""  # the number is not echoed back into the page, only its masked form
    return _search_page(form, {}, None, results=results, searched="id", masked=mask_id(number))


def _search_page(form: dict[str, Any], errors: dict[str, list[str]], message: str | None, *,
                 results: list[queries.Found] | None, searched: str | None = None, masked: str = "") -> str:
    return render_template("cases/search.html", form=form, errors=errors, message=message, results=results,
                           searched=searched, masked=masked, purposes=list(SEARCH_PURPOSES.items()),
                           local_time=local_time)
