"""Entrustments and verification cases: intake (DO-1…DO-6), the authorisation guard (PR-1, PR-2), exchange subjects.

- :func:`create_entrustment` registers a 委托书 with its households: everything is
  validated first (one bad household, nothing is written), every person to verify must be
  covered by a signed 授权书 (PR-1), and each household becomes one case with its own
  ``standard_verification`` instance.
- :func:`assert_authorised` is the engine-level guard every exchange passes through;
  :func:`exchange_subjects` hands out only name + ID number of authorised persons (DX-4).
  Both live in ``engine.services.authorisations`` and are re-exported here.
- Electronic data packages (docs/data-package.md) are imported by
  ``engine.services.package_import.import_package``, through :func:`create_entrustment`.

Identity numbers never reach logs, events or error messages unmasked.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from engine.calendar import SHANGHAI
from engine.context import Actor
from engine.context import EngineContext
from engine.errors import ValidationError
from engine.history import append_event
from engine.history import instance_stream
from engine.models import Authorisation
from engine.models import AuthorisationPerson
from engine.models import CaseCounter
from engine.models import CaseStatus
from engine.models import Document
from engine.models import DocumentBlob
from engine.models import DocumentKind
from engine.models import Entrustment
from engine.models import EntrustmentSource
from engine.models import Household
from engine.models import Person
from engine.models import PersonRole
from engine.models import Region
from engine.models import Unit
from engine.models import UnitKind
from engine.services.authorisations import END_REASONS
from engine.services.authorisations import ExchangeSubject
from engine.services.authorisations import assert_authorised
from engine.services.authorisations import end_authorisation
from engine.services.authorisations import exchange_subjects
from engine.services.authorisations import find_unauthorised
from engine.services.authorisations import get_household
from engine.services.instances import start_instance
from engine.services.org import get_unit_by_code
from engine.services.packages import DocumentIn
from engine.services.packages import check_document
from forms import FormError
from forms.household import count_subjects
from forms.household import validate_entrustment

__all__ = [
    "END_REASONS", "DocumentIn", "ExchangeSubject", "assert_authorised", "attach_document", "create_entrustment",
    "applicants_of", "end_authorisation", "entrusting_and_agency", "exchange_subjects", "find_household_by_case_no",
    "find_unauthorised", "get_household", "household_problems", "local_today",
]

logger = logging.getLogger(__name__)

PROCESS_ID = "standard_verification"
ENTRUSTING_KINDS = {UnitKind.ENTRUSTING_DEPARTMENT, UnitKind.VERIFICATION_AGENCY}


def local_today(ctx: EngineContext) -> date:
    """Today in Beijing, from the engine clock."""
    return ctx.now().astimezone(SHANGHAI).date()


# --- intake -------------------------------------------------------------------------------------


def create_entrustment(
    ctx: EngineContext,
    *,
    entrusting_unit: Unit | str,
    agency_unit: Unit | str,
    households: Sequence[Mapping[str, Any]],
    contact_name: str,
    contact_phone: str,
    actor: Actor,
    entrusted_on: date | None = None,
    number: str | None = None,
    household_count: int | None = None,
    person_count: int | None = None,
    documents: Sequence[Sequence[DocumentIn]] | None = None,
    entrustment_documents: Sequence[DocumentIn] = (),
    sharing_units: Sequence[str] | None = None,
    source: EntrustmentSource | str = EntrustmentSource.PAPER,
    package_sha256: str | None = None,
    tiering: str | None = None,
) -> Entrustment:
    """Register a 委托书 and start one ``standard_verification`` case per household.

    :param households: household dicts in the shape of ``forms.household.HouseholdForm`` (validated again here).
    :param documents: per household (same order), its scans; each needs at least one 授权书 scan.
    :param household_count: ``person_count``: the "××户××人" written on the letter, checked against the households.
    :param sharing_units: unit codes to exchange with; default: the active sharing units at the agency's
        level and above. The policy's ``verification_tiering`` decides which of them an upper agency
        checks (``engine.services.tiering``); a lower agency's entrustment is checked here in full.
    :param tiering: ``single`` / ``tiered`` / ``province`` instead of the policy's setting (the demo).
    :raises ValidationError: with ``fields`` keyed like the form (``households`` → index → field); nothing is written.
    """
    entrusting, agency = entrusting_and_agency(ctx, entrusting_unit, agency_unit)
    today = local_today(ctx)
    docs = list(documents or [[] for _ in households])
    payload = {"number": number, "contact_name": contact_name, "contact_phone": contact_phone,
               "entrusted_on": entrusted_on or today, "household_count": household_count,
               "person_count": person_count, "households": [dict(h) for h in households]}
    letter = _validated(ctx, payload, docs, list(entrustment_documents), agency, today)
    from_lower = entrusting.kind is UnitKind.VERIFICATION_AGENCY
    from engine.services.tiering import tiered_start  # here: tiering builds on this module

    units = tiered_start(ctx, agency, sharing_units_for(ctx, agency, sharing_units), from_lower=from_lower,
                         tiering=tiering)
    year = today.year
    entrustment = Entrustment(
        number=letter["number"]
        or f"WT-{agency.code}-{year}-{next_counter_value(ctx, agency.id, year, 'entrustment'):06d}",
        entrusting_unit_id=entrusting.id, agency_unit_id=agency.id, contact_name=letter["contact_name"],
        contact_phone=letter["contact_phone"], entrusted_on=letter["entrusted_on"],
        household_count=len(letter["households"]),
        person_count=sum(count_subjects(h) for h in letter["households"]), source=EntrustmentSource(source),
        package_sha256=package_sha256, created_at=ctx.now(), created_by=actor.username,
    )
    ctx.session.add(entrustment)
    ctx.session.flush()
    for doc in entrustment_documents:
        attach_document(ctx, doc, actor=actor, entrustment=entrustment)
    for household, household_docs in zip(letter["households"], docs, strict=True):
        _create_case(ctx, entrustment, household, household_docs, units, from_lower, actor, today)
    logger.info("Entrustment %s registered at %s: %s households by %s", entrustment.number, agency.code,
                entrustment.household_count, actor.username)
    return entrustment


def entrusting_and_agency(ctx: EngineContext, entrusting_unit: Unit | str,
                          agency_unit: Unit | str) -> tuple[Unit, Unit]:
    """The entrusting unit and the agency of a 委托书 (codes or units), checked (PR-2)."""
    entrusting = entrusting_unit if isinstance(entrusting_unit, Unit) else get_unit_by_code(ctx, entrusting_unit)
    agency = agency_unit if isinstance(agency_unit, Unit) else get_unit_by_code(ctx, agency_unit)
    assert entrusting is not None and agency is not None  # get_unit_by_code raises when missing
    if agency.kind is not UnitKind.VERIFICATION_AGENCY:
        raise ValidationError("受托单位不是核对机构", code="entrustment_invalid",
                              fields={"agency_unit": ["受托单位须为核对机构"]})
    if entrusting.kind not in ENTRUSTING_KINDS or entrusting.id == agency.id or not entrusting.is_active:
        # PR-2 无委托，不核对: only an assistance department or a lower agency may entrust
        raise ValidationError("委托单位须为社会救助部门或下级核对机构", code="entrustment_invalid",
                              fields={"entrusting_unit": ["委托单位须为社会救助部门或下级核对机构"]})
    return entrusting, agency


def _validated(ctx: EngineContext, payload: dict[str, Any], docs: list[Sequence[DocumentIn]],
               letter_docs: list[DocumentIn], agency: Unit, today: date) -> dict[str, Any]:
    """Every check before anything is written; one ValidationError listing all problems."""
    if len(docs) != len(payload["households"]):
        raise ValueError("documents must have one list per household")
    errors: dict[str, Any] = {}
    try:
        letter = validate_entrustment(payload, today=today)
    except FormError as exc:
        letter, errors = {}, dict(exc.fields)
    households = letter.get("households") or payload["households"]
    per_household: dict[int, dict[str, Any]] = {}
    for index, (household, household_docs) in enumerate(zip(households, docs, strict=True)):
        problems = household_problems(ctx, household, household_docs, agency) if isinstance(household, Mapping) else {}
        if problems:
            per_household[index] = problems
    for index, doc in enumerate(letter_docs):
        for name, message in check_document(doc):
            errors.setdefault("entrustment_documents", {}).setdefault(index, {}).setdefault(name, []).append(message)
    merged = errors.setdefault("households", {}) if per_household else None
    if isinstance(merged, dict):
        for index, problems in per_household.items():
            target = merged.setdefault(index, {})
            for key, value in problems.items():
                target.setdefault(key, value)
    number = payload["number"]
    if number and ctx.session.execute(select(Entrustment.id).where(
            Entrustment.agency_unit_id == agency.id, Entrustment.number == number)).first():
        errors.setdefault("number", []).append("该委托书编号已登记")
    if errors:
        raise ValidationError("委托材料有误，未登记任何核对对象", code="entrustment_invalid", fields=errors)
    return letter


def household_problems(ctx: EngineContext, household: Mapping[str, Any], docs: Sequence[DocumentIn],
                       agency: Unit) -> dict[str, Any]:
    """What is wrong with one household of a 委托书 beyond its form: region, scans, the 授权书 scan."""
    problems: dict[str, Any] = {}
    region = ctx.session.get(Region, household.get("region_code") or "")
    if region is None:
        problems["region_code"] = ["行政区划不存在"]
    elif not region.path.startswith(agency.region.path):
        problems["region_code"] = [f"该户不在「{agency.name}」的辖区内"]
    numbers = {str(p["id_number"]).strip().upper() for p in (*household.get("members", ()),
                                                             *household.get("obligors", ()))
               if isinstance(p, Mapping) and p.get("id_number")}
    doc_errors: dict[Any, Any] = {}
    for index, doc in enumerate(docs):
        messages = check_document(doc)
        if doc.person_id_number and doc.person_id_number.strip().upper() not in numbers:
            messages.append(("person_id_number", "该扫描件对应的身份证号码不在本户人员中"))
        for name, message in messages:
            doc_errors.setdefault(index, {}).setdefault(name, []).append(message)
    if not any(doc.kind == DocumentKind.AUTHORISATION for doc in docs):
        doc_errors["_schema"] = ["缺少授权书扫描件（含全体签名和指模）"]
    if doc_errors:
        problems["documents"] = doc_errors
    return problems


def sharing_units_for(ctx: EngineContext, agency: Unit, codes: Sequence[str] | None) -> list[str]:
    query = select(Unit).where(Unit.kind == UnitKind.SHARING_UNIT, Unit.is_active.is_(True))
    if codes is None:
        ancestors = [code for code in agency.region.path.split("/") if code]
        query = query.where(Unit.region_code.in_(ancestors)).order_by(Unit.code)
        return [unit.code for unit in ctx.session.execute(query).scalars()]
    known = set(ctx.session.execute(select(Unit.code).where(Unit.code.in_(list(codes)),
                                                            Unit.kind == UnitKind.SHARING_UNIT)).scalars())
    unknown = [c for c in codes if c not in known]
    if unknown or len(set(codes)) != len(codes):
        raise ValidationError("信息共享单位有误", code="entrustment_invalid",
                              fields={"sharing_units": [f"不是信息共享单位或重复：{'、'.join(unknown) or '重复'}"]})
    return list(codes)


def _create_case(ctx: EngineContext, entrustment: Entrustment, data: dict[str, Any], docs: Sequence[DocumentIn],
                 units: dict[str, Any], from_lower: bool, actor: Actor, today: date) -> Household:
    agency = entrustment.agency_unit
    case_no = f"HD-{agency.code}-{today.year}-{next_counter_value(ctx, agency.id, today.year, 'case'):06d}"
    household = Household(
        entrustment=entrustment, case_no=case_no, business_type=data["business_type"],
        business_other=data.get("business_other"), rule_set=data["rule_set"], region_code=data["region_code"],
        address=data["address"], applicant_phone=data.get("applicant_phone"), note=data.get("note"),
        status=CaseStatus.OPEN, created_at=ctx.now(),
    )
    ctx.session.add(household)
    rows = [(PersonRole.MEMBER, p) for p in data["members"]] + [(PersonRole.OBLIGOR, p) for p in data["obligors"]]
    persons = [_person(household, position, role, p) for position, (role, p) in enumerate(rows)]
    authorisation = _authorisation(ctx, household, data["authorisation"], actor)
    ctx.session.add_all([*persons, authorisation])
    for person, (_, raw) in zip(persons, rows, strict=True):
        authorisation.persons.append(AuthorisationPerson(person=person, signature=raw["signature"],
                                                         signed_by=raw.get("signed_by"),
                                                         note=raw.get("signature_note")))
    ctx.session.flush()
    by_number = {p.id_number: p for p in persons if p.id_number}
    for doc in docs:
        owner = by_number.get((doc.person_id_number or "").strip().upper())
        attach_document(ctx, doc, actor=actor, household=household, person=owner,
                        authorisation=authorisation if doc.kind == DocumentKind.AUTHORISATION else None)
    subjects = [p.id for p in persons if p.is_subject]
    assert_authorised(ctx, subjects, today)  # PR-1, checked against what was stored
    start = {"case_no": case_no, **units, "subject_ids": subjects}
    if from_lower:
        start["from_lower_agency"] = True
    instance = start_instance(ctx, PROCESS_ID, actor=actor, business_key=case_no, data=start,
                              agency_unit_id=agency.id, entrusting_unit_id=entrustment.entrusting_unit_id,
                              region_code=household.region_code)
    household.instance_id = instance.id
    ctx.session.flush()
    append_event(ctx, stream=instance_stream(instance.id), kind="entrustment_received", actor=actor,
                 instance_id=instance.id, payload={
                     "entrustment_id": entrustment.id, "entrustment_number": entrustment.number,
                     "source": entrustment.source.value, "entrusting_unit": entrustment.entrusting_unit.code,
                     "agency_unit": agency.code, "case_no": case_no, "household_id": household.id,
                     "business_type": household.business_type, "authorisation_id": authorisation.id,
                     "subject_ids": subjects, "persons": len(persons)})
    return household


def _person(household: Household, position: int, role: PersonRole, data: Mapping[str, Any]) -> Person:
    member = role is PersonRole.MEMBER
    return Person(
        household=household, position=position, role=role, name=data["name"], id_number=data.get("id_number"),
        relation=data["relation"], inclusion_rule=data.get("rule") if member else None,
        is_included=bool(data.get("included")) if member else False, duty=data.get("duty"),
        evidence=data.get("evidence"), residence_address=data["residence_address"],
        hukou_location=data["hukou_location"],
    )


def _authorisation(ctx: EngineContext, household: Household, data: Mapping[str, Any], actor: Actor) -> Authorisation:
    return Authorisation(
        household=household, business_types=list(data["business_types"]), business_other=data.get("business_other"),
        signed_on=data["signed_on"], valid_from=data["signed_on"], valid_until=data.get("valid_until"),
        handler_name=data.get("handler_name"), created_at=ctx.now(), created_by=actor.username,
    )


def next_counter_value(ctx: EngineContext, agency_unit_id: int, year: int, kind: str) -> int:
    """The next number of ``kind`` for the agency and year; the counter row lock serialises concurrent intakes."""
    query = (select(CaseCounter)
             .where(CaseCounter.agency_unit_id == agency_unit_id, CaseCounter.year == year, CaseCounter.kind == kind)
             .with_for_update().execution_options(populate_existing=True))
    counter = ctx.session.execute(query).scalar_one_or_none()
    if counter is None:
        try:
            with ctx.session.begin_nested():
                ctx.session.add(CaseCounter(agency_unit_id=agency_unit_id, year=year, kind=kind, last_value=0))
        except DBIntegrityError:
            pass  # another intake created it first; its lock orders us after it
        counter = ctx.session.execute(query).scalar_one()
    counter.last_value += 1
    ctx.session.flush()
    return counter.last_value


def attach_document(ctx: EngineContext, doc: DocumentIn, *, actor: Actor, household: Household | None = None,
                    entrustment: Entrustment | None = None, authorisation: Authorisation | None = None,
                    person: Person | None = None) -> Document:
    """Store a scan; its type is sniffed from the content (PDF, JPEG, PNG), never taken from the client."""
    problems = check_document(doc)
    if problems:
        raise ValidationError("扫描件不符合要求", code="document_invalid",
                              fields={name: [message] for name, message in problems})
    document = Document(
        household_id=household.id if household else None, entrustment_id=entrustment.id if entrustment else None,
        authorisation_id=authorisation.id if authorisation else None, person_id=person.id if person else None,
        kind=DocumentKind(doc.kind), filename=doc.safe_filename, content_type=doc.content_type or "",
        size=len(doc.content), sha256=hashlib.sha256(doc.content).hexdigest(), created_at=ctx.now(),
        created_by=actor.username,
    )
    document.blob = DocumentBlob(content=doc.content)
    ctx.session.add(document)
    ctx.session.flush()
    return document


def find_household_by_case_no(ctx: EngineContext, case_no: str) -> Household | None:
    return ctx.session.execute(select(Household).where(Household.case_no == case_no)).scalar_one_or_none()


def applicants_of(ctx: EngineContext, case_nos: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    """``{case_no: (name, id_number)}`` of each case's first applicant (relation "self"), in one query (lists)."""
    keys = sorted(set(case_nos))
    if not keys:
        return {}
    found = ctx.session.execute(
        select(Household.case_no, Person.name, Person.id_number)
        .join(Person, and_(Person.household_id == Household.id, Person.relation == "self"))
        .where(Household.case_no.in_(keys)).order_by(Person.position.desc())
    ).all()
    return {key: (name, number) for key, name, number in found}  # the lowest position wins
