"""Start a new ``standard_verification`` case for an enrolled household (re-verification, PS-8, PS-9).

Both the individual recheck (after the county department's decision) and the batch
re-verification come here. Why a new, linked case rather than a call activity inside the
recheck diagram: the re-verification is a verification in its own right — its own case
number, archive ("一户一次一档", AR-1), report (issue #8), agency (county *or* city, chosen
only at decision time) and time limit — and batches start many of them without any
recheck diagram at all. See docs/process-design.md §10.

The entrusted agency's sharing units follow the policy's ``verification_tiering`` as a standard
case's do (PS-5, PS-6: ``engine.services.tiering``), planned once in :meth:`Reverification.prepare`.

The household is copied (address, members, support-duty persons), not re-entered. Its
signed 授权书 covers the new case only while it is still in force (valid until assistance
stops, DO-4); an ended one refuses the copy (PR-1 先授权，后核对), so the department has the
authorisation re-signed first. ID numbers never reach logs or events.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import append_event
from engine.history import instance_stream
from engine.models import Authorisation
from engine.models import AuthorisationPerson
from engine.models import CaseStatus
from engine.models import CurrentDefinition
from engine.models import Entrustment
from engine.models import EntrustmentSource
from engine.models import Household
from engine.models import Person
from engine.models import Region
from engine.models import Role
from engine.models import Unit
from engine.models import UnitKind
from engine.policy import effective_policy
from engine.services.cases import next_counter_value
from engine.services.cases import sharing_units_for
from engine.services.instances import start_instance

logger = logging.getLogger(__name__)

PROCESS_ID = "standard_verification"


@dataclass(frozen=True)
class Reverification:
    """What every case of one 复核委托书 shares: computed once, not per household."""

    entrustment: Entrustment
    sharing_units: list[str]
    start_data: dict[str, Any]
    #: the agency region's path: households outside it are refused (OR-3)
    region_path: str
    #: region code -> path, filled as households are started (a batch has few regions, many households)
    paths: dict[str, str] = field(default_factory=dict)
    #: rows every start reads (the current definition, the roles); the session's identity map holds
    #: rows weakly, so without a reference here each household would query them again
    shared_rows: list[Any] = field(default_factory=list)

    def path_of(self, ctx: EngineContext, region_code: str) -> str:
        if region_code not in self.paths:
            self.paths[region_code] = ctx.session.execute(
                select(Region.path).where(Region.code == region_code)).scalar_one()
        return self.paths[region_code]

    @classmethod
    def prepare(cls, ctx: EngineContext, entrustment: Entrustment) -> Reverification:
        """Once per 复核委托书 (a batch: once per run, not per household): the limits and the tier plan.

        The agency's units are split per the policy's ``verification_tiering`` exactly as for a
        standard case (PS-5, PS-6): the ones an upper agency checks go up at 审核复审.
        """
        from engine.services.tiering import tiered_start  # here: tiering (escalations) builds on this module

        agency = entrustment.agency_unit
        policy = effective_policy(ctx, ctx.policy_profile)
        data = {"exchange_days": policy.sharing_reply_days, "delay_days": policy.sharing_delay_max_days,
                # re-verification has its own limit (BJ 第十七条（二）: 15 working days, PS-10)
                "verification_days": policy.reverification_days}
        plan = tiered_start(ctx, agency, sharing_units_for(ctx, agency, None), from_lower=False)
        local = plan.pop("sharing_units")
        current = ctx.session.get(CurrentDefinition, PROCESS_ID)
        shared = [current, current.definition] if current is not None else []
        shared += ctx.session.execute(select(Role)).scalars().all()
        return cls(entrustment, local, {**data, **plan}, agency.region.path, shared_rows=shared)


def new_recheck_entrustment(ctx: EngineContext, *, entrusting: Unit, agency: Unit, households: int, persons: int,
                            contact_name: str, actor: Actor) -> Entrustment:
    """A numbered 复核委托书 (DO-8, BJ 附件4) from the department to the agency."""
    if agency.kind is not UnitKind.VERIFICATION_AGENCY:
        raise ValidationError("受托单位须为核对机构", code="recheck_invalid", fields={"agency_unit": ["须为核对机构"]})
    today = ctx.today()
    counter = next_counter_value(ctx, entrusting.id, today.year, 'recheck_wt')
    number = f"FHWT-{entrusting.code}-{today.year}-{counter:06d}"
    entrustment = Entrustment(
        number=number, entrusting_unit_id=entrusting.id, agency_unit_id=agency.id, contact_name=contact_name[:50],
        contact_phone="", entrusted_on=today, household_count=households, person_count=persons,
        source=EntrustmentSource.RECHECK, created_at=ctx.now(), created_by=actor.username)
    ctx.session.add(entrustment)
    ctx.session.flush()
    return entrustment


def start_reverification(ctx: EngineContext, original: Household, prepared: Reverification, *, actor: Actor,
                         link: dict[str, Any], note: str | None = None) -> Household:
    """Copy ``original`` into a new case of ``prepared.entrustment`` and start its standard verification.

    :param link: what the new case's first event records about why it exists (recheck, batch, escalation).
    :param note: the new case's note (default: "复核：原案件 …").
    :raises ValidationError: ``outside_jurisdiction`` when the household is not in the agency's region.
    :raises PermissionDeniedError: ``authorisation_missing`` when no authorisation is in force.
    """
    entrustment = prepared.entrustment
    if not prepared.path_of(ctx, original.region_code).startswith(prepared.region_path):
        raise ValidationError("该户不在受托核对机构的辖区内", code="outside_jurisdiction")
    today = ctx.today()
    source = _authorisation_in_force(ctx, original, today)
    agency_id = entrustment.agency_unit_id
    counter = next_counter_value(ctx, agency_id, today.year, 'case')
    case_no = f"HD-{entrustment.agency_unit.code}-{today.year}-{counter:06d}"
    # by id, not ``entrustment=``: the back-reference would load the letter's whole household list and
    # cascade over it at every flush, which makes a batch quadratic in its size
    household = Household(
        entrustment_id=entrustment.id, case_no=case_no, business_type=original.business_type,
        business_other=original.business_other, rule_set=original.rule_set, region_code=original.region_code,
        address=original.address, applicant_phone=original.applicant_phone,
        note=note or f"复核：原案件 {original.case_no}", status=CaseStatus.OPEN, created_at=ctx.now())
    ctx.session.add(household)
    copies = [_copy_person(household, p) for p in original.persons]
    authorisation = Authorisation(
        household=household, business_types=list(source.business_types), business_other=source.business_other,
        signed_on=source.signed_on, valid_from=source.valid_from, valid_until=source.valid_until,
        handler_name=source.handler_name, created_at=ctx.now(), created_by=actor.username)
    ctx.session.add_all([*copies, authorisation])
    signatures = {row.person_id: row for row in source.persons}
    by_old = dict(zip([p.id for p in original.persons], copies, strict=True))
    for old_id, row in signatures.items():
        if old_id in by_old:
            authorisation.persons.append(AuthorisationPerson(person=by_old[old_id], signature=row.signature,
                                                             signed_by=row.signed_by, note=row.note))
    ctx.session.flush()
    subjects = [p.id for p in copies if p.is_subject]
    start = {"case_no": case_no, "sharing_units": prepared.sharing_units, "subject_ids": subjects,
             **prepared.start_data}
    instance = start_instance(ctx, PROCESS_ID, actor=actor, business_key=case_no, data=start,
                              agency_unit_id=agency_id, entrusting_unit_id=entrustment.entrusting_unit_id,
                              region_code=household.region_code)
    household.instance_id = instance.id
    ctx.session.flush()
    append_event(ctx, stream=instance_stream(instance.id), kind="entrustment_received", actor=actor,
                 instance_id=instance.id, payload={
                     "entrustment_id": entrustment.id, "entrustment_number": entrustment.number,
                     "source": entrustment.source.value,
                     "entrusting_unit": entrustment.entrusting_unit.code, "agency_unit": entrustment.agency_unit.code,
                     "case_no": case_no, "household_id": household.id, "business_type": household.business_type,
                     "authorisation_id": authorisation.id, "subject_ids": subjects, "persons": len(copies),
                     "original_case_no": original.case_no, "original_instance_id": original.instance_id, **link})
    return household


def _authorisation_in_force(ctx: EngineContext, original: Household, today: Any) -> Authorisation:
    """The household's latest authorisation still valid today; refuses (PR-1) when there is none."""
    for authorisation in sorted(original.authorisations, key=lambda a: a.id, reverse=True):
        if authorisation.is_valid_on(today) and original.business_type in authorisation.business_types:
            return authorisation
    raise PermissionDeniedError("该户的授权书已失效，须重新签署授权书后才能复核（先授权，后核对）",
                                code="authorisation_missing", case_no=original.case_no)


def _copy_person(household: Household, person: Person) -> Person:
    return Person(household=household, position=person.position, role=person.role, name=person.name,
                  id_number=person.id_number, relation=person.relation, inclusion_rule=person.inclusion_rule,
                  is_included=person.is_included, duty=person.duty, evidence=person.evidence,
                  residence_address=person.residence_address, hukou_location=person.hukou_location)


def count_subjects(ctx: EngineContext, household_ids: Sequence[int]) -> int:
    """Persons verified across ``household_ids`` (the "××人" of a 复核委托书)."""
    total = 0
    ids = list(household_ids)
    for start in range(0, len(ids), 500):
        persons = ctx.session.execute(select(Person.role, Person.is_included).where(
            Person.household_id.in_(ids[start:start + 500]))).all()
        total += sum(1 for role, included in persons if role.value == "obligor" or included)
    return total


def agency_at_level(ctx: EngineContext, region_code: str, level: str) -> Unit | None:
    """The active verification agency of the ``level`` region above (or at) ``region_code``."""
    return _unit_at_level(ctx, region_code, level, UnitKind.VERIFICATION_AGENCY)


def department_at_level(ctx: EngineContext, region_code: str, level: str = "county") -> Unit | None:
    """The county social-assistance department (an entrusting department at county level)."""
    return _unit_at_level(ctx, region_code, level, UnitKind.ENTRUSTING_DEPARTMENT)


def _unit_at_level(ctx: EngineContext, region_code: str, level: str, kind: UnitKind) -> Unit | None:
    region = ctx.session.get(Region, region_code)
    if region is None:
        return None
    codes = [c for c in region.path.split("/") if c]
    target = ctx.session.execute(select(Region.code).where(Region.code.in_(codes), Region.level == level)).scalar()
    if target is None:
        return None
    return ctx.session.execute(select(Unit).where(Unit.region_code == target, Unit.kind == kind,
                                                  Unit.is_active.is_(True)).order_by(Unit.code)).scalars().first()
