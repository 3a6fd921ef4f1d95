"""Dishonesty records (失信登记, AU-3; JL 第十三条, 第二十条): propose, approve, revoke, expire, look up.

Real diagrams and services: the finding case is a real standard verification walked to its end.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from engine.audit_verify import verify_all
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import FormValidationError
from engine.errors import IntegrityError
from engine.errors import InvalidStateError
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import SeparationOfDutiesError
from engine.history import verify_chain
from engine.models import Event
from engine.models.credit import CreditRecord
from engine.models.credit import CreditStatus
from engine.reports.service import current_report
from engine.services.credit import credit_stream
from engine.services.credit import decide_record
from engine.services.credit import is_ended
from engine.services.credit import proposal_defaults
from engine.services.credit import propose_record
from engine.services.credit import revoke_record
from engine.services.credit_queries import case_warnings
from engine.services.credit_queries import list_records
from engine.services.credit_queries import lookup_active
from engine.services.credit_queries import visible_record
from engine.services.org import get_unit_by_code
from engine.services.users import get_user
from tests.engine.credit_factory import ended_case
from tests.engine.credit_factory import form
from tests.engine.credit_factory import head
from tests.engine.credit_factory import propose
from tests.engine.credit_factory import registered
from tests.engine.recheck_factory import as_user
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare
from tests.engine.recheck_factory import prepared_once
from tests.engine.recheck_factory import reverify
from tests.engine.report_factory import southern_case

#: the demo region at every level, every diagram and the demo sharing catalogue, seeded once for the module
SEED_ONCE = prepare


@pytest.fixture
def prepared(ctx: EngineContext) -> EngineContext:
    prepared_once(ctx)
    return ctx


def _uid(ctx: EngineContext, username: str) -> int:
    return get_user(ctx, username).id


def test_approved_record_warns_a_new_case_of_the_same_person_in_another_county(prepared: EngineContext) -> None:
    """AU-3, JL 20: the linkage — 南关区 sees the record 朝阳区 registered; the case is not blocked."""
    ctx = prepared
    household = ended_case(ctx)
    defaults = proposal_defaults(ctx, household)  # the form is pre-filled with the case's report as evidence
    report = current_report(ctx, household.case_no)
    assert report is not None and defaults["report_no"] == report.report.number
    record = propose(ctx, household, report_no=defaults["report_no"])
    assert (record.status, record.state_on(ctx.today())) == (CreditStatus.PROPOSED, "proposed")
    assert record.number.startswith("SX-CY-MZJ-2026-") and record.report_no == report.report.number
    southern = southern_case(ctx, 0)  # demo_household(0) again: the same applicant, another county
    assert case_warnings(ctx, southern) == []  # a proposal is not yet a record

    decide_record(ctx, record.number, approve=True, note=None, actor=head(ctx))
    assert (record.status, record.decided_by) == (CreditStatus.REGISTERED, "cy_mzj_head")
    [(person, found)] = case_warnings(ctx, southern)
    assert found.id == record.id and person.household_id == southern.id and person.id_number == record.id_number
    assert southern.instance is not None and southern.instance.status.value == "running"  # verification goes on
    assert [r.id for r in lookup_active(ctx, _uid(ctx, "ng_intake"), record.id_number)] == [record.id]


def test_the_proposer_cannot_approve_and_the_refusal_is_recorded(prepared: EngineContext) -> None:
    ctx = prepared
    record = propose(ctx, ended_case(ctx))
    with pytest.raises(SeparationOfDutiesError) as refused:
        decide_record(ctx, record.number, approve=True, note=None,
                      actor=as_user(ctx, "cy_assistance", "assistance_officer"))
    assert refused.value.details["rule"] == "SD-CR" and refused.value.commit
    assert record.status is CreditStatus.PROPOSED
    kinds = ctx.session.execute(select(Event.kind).where(Event.stream == credit_stream(record.id))
                                .order_by(Event.seq)).scalars().all()
    assert kinds == ["credit_proposed", "credit_refused"]


@pytest.mark.parametrize("username", ["cy_reviewer", "ng_intake", "hq_street_clerk", "auditor"])
def test_deciding_needs_a_role_in_the_registering_department(prepared: EngineContext, username: str) -> None:
    ctx = prepared
    record = propose(ctx, ended_case(ctx))
    with pytest.raises(PermissionDeniedError) as refused:
        decide_record(ctx, record.number, approve=True, note=None, actor=as_user(ctx, username))
    assert refused.value.code == "role_required"
    with pytest.raises(PermissionDeniedError):
        revoke_record(ctx, record.number, reason="申诉成立", actor=as_user(ctx, username))


def test_proposing_needs_an_ended_case_in_jurisdiction_and_the_officer_role(prepared: EngineContext) -> None:
    ctx = prepared
    [running] = enrol(ctx, first=3)
    with pytest.raises(InvalidStateError) as not_ended:
        propose(ctx, running)
    assert not_ended.value.code == "case_not_ended"
    household = ended_case(ctx)
    with pytest.raises(PermissionDeniedError) as no_role:
        propose_record(ctx, case_no=household.case_no, unit=get_unit_by_code(ctx, "CY-MZJ"), form=form(household),
                       actor=as_user(ctx, "cy_reviewer", "review_officer"))
    assert no_role.value.code == "role_required"
    with pytest.raises(NotFoundError):  # 南关区民政局 does not know a 朝阳区 case
        propose_record(ctx, case_no=household.case_no, unit=get_unit_by_code(ctx, "NG-MZJ"), form=form(household),
                       actor=Actor("ng_officer", "assistance_officer"))  # a CLI actor: no membership check
    with pytest.raises(InvalidStateError) as twice:
        propose(ctx, household)
        propose(ctx, household)
    assert twice.value.code == "credit_record_open"
    assert ctx.session.execute(select(CreditRecord)).scalars().all()[0].case_no == household.case_no


@pytest.mark.parametrize(("extra", "field"), [
    ({"reason": "bad_faith"}, "reason"), ({"reason_detail": "  "}, "reason_detail"),
    ({"valid_to": "2026-11-01", "valid_from": "2026-11-23"}, "valid_to"), ({"valid_from": "2026-13-01"}, "valid_from"),
    ({"valid_to": "2033-01-01"}, "valid_to"), ({"person_id": "999999"}, "person_id"),
])
def test_invalid_input_is_refused_per_field_and_nothing_is_written(prepared: EngineContext, extra: dict[str, Any],
                                                                    field: str) -> None:
    ctx = prepared
    household = ended_case(ctx)
    with pytest.raises(FormValidationError) as refused:
        propose(ctx, household, **extra)
    assert field in refused.value.details["fields"]
    assert ctx.session.execute(select(CreditRecord.id)).first() is None


def test_rejecting_needs_a_reason_and_ends_the_proposal(prepared: EngineContext) -> None:
    ctx = prepared
    record = propose(ctx, ended_case(ctx))
    with pytest.raises(FormValidationError):
        decide_record(ctx, record.number, approve=False, note=" ", actor=head(ctx))
    decide_record(ctx, record.number, approve=False, note="证据不足", actor=head(ctx))
    assert (record.status, record.decision_note) == (CreditStatus.REJECTED, "证据不足")
    with pytest.raises(InvalidStateError):
        decide_record(ctx, record.number, approve=True, note=None, actor=head(ctx))


def test_revoking_keeps_the_record_and_ends_the_warning(prepared: EngineContext) -> None:
    ctx = prepared
    household = ended_case(ctx)
    record = registered(ctx, household)
    with pytest.raises(FormValidationError):
        revoke_record(ctx, record.number, reason="", actor=head(ctx))
    revoke_record(ctx, record.number, reason="申诉成立：车辆已于核对前过户", actor=head(ctx))
    assert (record.status, record.revoked_by, record.state_on(ctx.today())) == (
        CreditStatus.REVOKED, "cy_mzj_head", "revoked")
    assert case_warnings(ctx, southern_case(ctx, 0)) == []
    with pytest.raises(InvalidStateError):
        revoke_record(ctx, record.number, reason="再次撤销", actor=head(ctx))


def test_expiry_is_derived_from_the_date(prepared: EngineContext, clock: Any) -> None:
    ctx = prepared
    household = ended_case(ctx)
    record = registered(ctx, household, valid_to="2026-12-31")
    uid = _uid(ctx, "cy_assistance")
    assert [r.id for r in list_records(ctx, user_id=uid, state="registered")[0]] == [record.id]
    clock.set(datetime(2027, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=8))))
    assert record.status is CreditStatus.REGISTERED and record.state_on(ctx.today()) == "expired"
    assert list_records(ctx, user_id=uid, state="registered")[0] == []
    assert [r.id for r in list_records(ctx, user_id=uid, state="expired")[0]] == [record.id]
    assert case_warnings(ctx, household) == []


def test_lists_follow_jurisdiction_and_the_lookup_needs_a_case_role(prepared: EngineContext) -> None:
    ctx = prepared
    record = registered(ctx, ended_case(ctx))
    # the department, the street office and agency of the case's region, the city above it, the province's auditor
    for username in ("cy_assistance", "cy_mzj_head", "hq_street_clerk", "auditor", "cy_intake", "cc_reviewer"):
        assert [r.id for r in list_records(ctx, user_id=_uid(ctx, username))[0]] == [record.id], username
    # a neighbouring county; and roles that do not work with the register, whatever their region
    # (engine.services.register_scope): the city's exchange officer, a bank's officer, the administrator
    for username in ("ng_intake", "cc_exchange_1", "cc_bank_officer", "admin"):
        assert list_records(ctx, user_id=_uid(ctx, username))[0] == [], username
        with pytest.raises(NotFoundError):
            visible_record(ctx, _uid(ctx, username), record.number)
    assert visible_record(ctx, _uid(ctx, "auditor"), record.number).id == record.id
    for username in ("auditor", "cc_exchange_1"):
        with pytest.raises(PermissionDeniedError):
            lookup_active(ctx, _uid(ctx, username), record.id_number)
    assert lookup_active(ctx, _uid(ctx, "ng_intake"), record.id_number[:-1] + "0") == []
    # period filter: records whose period overlaps the days asked
    uid = _uid(ctx, "cy_assistance")
    assert list_records(ctx, user_id=uid, period_from=record.valid_to + timedelta(days=1))[0] == []
    assert list_records(ctx, user_id=uid, period_to=record.valid_from)[0] == [record]


def test_history_is_hash_chained_without_personal_data_and_records_are_never_deleted(
        prepared: EngineContext) -> None:
    ctx = prepared
    record = registered(ctx, ended_case(ctx))
    revoke_record(ctx, record.number, reason="申诉成立", actor=head(ctx))
    events = ctx.session.execute(select(Event).where(Event.stream == credit_stream(record.id))
                                 .order_by(Event.seq)).scalars().all()
    assert [(e.kind, e.actor) for e in events] == [("credit_proposed", "cy_assistance"),
                                                   ("credit_approved", "cy_mzj_head"),
                                                   ("credit_revoked", "cy_mzj_head")]
    assert verify_chain(ctx.session, credit_stream(record.id)) == []
    assert verify_all(ctx).ok  # ``hedui audit verify`` checks the record's stream with every other one
    text = repr([e.payload for e in events])
    assert record.id_number not in text and record.name not in text
    with pytest.raises(sa_exc.DBAPIError), ctx.session.begin_nested():  # the database refuses a DELETE
        ctx.session.execute(delete(CreditRecord).where(CreditRecord.number == record.number))
    with pytest.raises(IntegrityError):  # and so does the model, before any SQL
        ctx.session.delete(record)
        ctx.session.flush()


def test_a_reverification_prefills_its_recheck_and_report_as_evidence(prepared: EngineContext) -> None:
    """PS-9 → AU-3: a 举报 re-verified finds the concealment; the 复核 number and 复核报告 are the evidence."""
    ctx = prepared
    ctx.policy_profile = "baoji"
    recheck = reverify(ctx, ended_case(ctx), reason="群众举报：户主名下有未申报的车辆")
    case = recheck.verification_household
    assert case is not None and is_ended(case)
    defaults = proposal_defaults(ctx, case)
    report = current_report(ctx, case.case_no)
    assert report is not None and report.report.kind.value == "reverification"
    assert (defaults["recheck_no"], defaults["report_no"], defaults["reason_detail"]) == (
        recheck.number, report.report.number, "群众举报：户主名下有未申报的车辆")
    record = propose(ctx, case, report_no=defaults["report_no"], recheck_no=defaults["recheck_no"])
    assert (record.case_no, record.recheck_no) == (case.case_no, recheck.number)
