"""The authorisation guard (PR-1 先授权，后核对) and what an exchange request may carry (DX-4).

Every exchange goes through :func:`assert_authorised` or :func:`exchange_subjects`: a
person is verified only while an authorisation (授权书) of their own household is in force,
ticks the case's business type and carries that person's signature (their own, a
guardian's, or the applicant's after informing them). Refusals name the persons by masked
ID number only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import NotFoundError
from engine.errors import PermissionDeniedError
from engine.errors import ValidationError
from engine.history import append_event
from engine.history import instance_stream
from engine.models import Authorisation
from engine.models import AuthorisationPerson
from engine.models import Household
from engine.models import Person
from forms.household import COVERING_SIGNATURES
from forms.ids import mask_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExchangeSubject:
    """What an exchange request may carry about one person (DX-4): name and ID number, nothing else."""

    person_id: int
    name: str
    id_number: str

    def __repr__(self) -> str:
        return f"<ExchangeSubject {self.person_id} {mask_id(self.id_number)}>"


def find_unauthorised(ctx: EngineContext, person_ids: Sequence[int], on_date: date) -> list[int]:
    """The persons among ``person_ids`` without a valid authorisation on ``on_date`` (unknown ids included).

    Valid: an authorisation of the person's own household, in force on that date, ticking the
    household's business type, signed for that person (self, guardian, or applicant after informing).
    """
    wanted = list(dict.fromkeys(person_ids))
    if not wanted:
        return []
    rows = ctx.session.execute(
        select(AuthorisationPerson.person_id, AuthorisationPerson.signature, Authorisation, Household.business_type)
        .join(Authorisation, Authorisation.id == AuthorisationPerson.authorisation_id)
        .join(Person, Person.id == AuthorisationPerson.person_id)
        .join(Household, Household.id == Person.household_id)
        .where(AuthorisationPerson.person_id.in_(wanted), Authorisation.household_id == Person.household_id)
    ).all()
    covered = {person_id for person_id, signature, authorisation, business in rows
               if signature in COVERING_SIGNATURES and authorisation.is_valid_on(on_date)
               and business in authorisation.business_types}
    return [pid for pid in wanted if pid not in covered]


def assert_authorised(ctx: EngineContext, person_ids: Sequence[int], on_date: date) -> None:
    """Refuse unless every person has a valid authorisation on ``on_date`` (先授权，后核对).

    :raises PermissionDeniedError: code ``authorisation_missing``; the persons are listed by masked ID number.
    """
    missing = find_unauthorised(ctx, person_ids, on_date)
    if not missing:
        return
    known = {row[0]: row[1] for row in ctx.session.execute(
        select(Person.id, Person.id_number).where(Person.id.in_(missing)))}
    listed: list[dict[str, Any]] = [
        {"person_id": pid, "id_number": mask_id(known[pid]) if pid in known else None} for pid in missing]
    shown = "、".join(p["id_number"] or f"人员#{p['person_id']}（不存在）" for p in listed)
    logger.warning("Authorisation missing for %s person(s) on %s", len(missing), on_date)
    raise PermissionDeniedError(f"以下核对对象在 {on_date.isoformat()} 没有有效的授权书，"
                                f"不能核对（先授权，后核对）：{shown}",
                                code="authorisation_missing", persons=listed, on_date=on_date.isoformat())


def exchange_subjects(ctx: EngineContext, household_id: int, on_date: date,
                      person_ids: Sequence[int] | None = None) -> list[ExchangeSubject]:
    """Name and ID number of the household's authorised subjects: all an exchange request may carry (DX-4).

    Without ``person_ids``: every authorised subject (excluded members and unauthorised persons are left out).
    With ``person_ids``: exactly those, and :func:`assert_authorised` refuses if any is not authorised.
    """
    household = get_household(ctx, household_id)
    subjects = [p for p in household.persons if p.is_subject and p.id_number]
    if person_ids is not None:
        wanted = set(person_ids)
        strangers = wanted - {p.id for p in household.persons}
        if strangers:
            raise NotFoundError("核对对象不属于该户", household_id=household_id, person_ids=sorted(strangers))
        assert_authorised(ctx, sorted(wanted), on_date)
        subjects = [p for p in subjects if p.id in wanted]
    refused = set(find_unauthorised(ctx, [p.id for p in subjects], on_date))
    return [ExchangeSubject(p.id, p.name, p.id_number) for p in subjects if p.id not in refused and p.id_number]


END_REASONS = {"assistance_stopped": "停止社会救助", "members_changed": "家庭成员发生变化", "superseded": "重新签署",
               "revoked": "撤回授权"}


def end_authorisation(ctx: EngineContext, authorisation_id: int, *, last_day: date, reason: str,
                      actor: Actor) -> Authorisation:
    """End an authorisation on ``last_day`` (assistance stopped, members changed, re-signed, revoked)."""
    authorisation = ctx.session.get(Authorisation, authorisation_id)
    if authorisation is None:
        raise NotFoundError("授权书不存在", authorisation_id=authorisation_id)
    if reason not in END_REASONS:
        raise ValidationError("终止原因不正确", fields={"reason": [f"应为：{'、'.join(END_REASONS.values())}"]})
    if last_day < authorisation.valid_from - timedelta(days=1):
        raise ValidationError("终止日期早于授权开始日期", fields={"last_day": ["终止日期不能早于签署日期的前一天"]})
    if authorisation.valid_until is None or last_day < authorisation.valid_until:
        authorisation.valid_until = last_day
    authorisation.end_reason, authorisation.ended_at, authorisation.ended_by = reason, ctx.now(), actor.username
    ctx.session.flush()
    household = authorisation.household
    if household.instance_id is not None:
        append_event(ctx, stream=instance_stream(household.instance_id), kind="authorisation_ended", actor=actor,
                     instance_id=household.instance_id,
                     payload={"authorisation_id": authorisation.id, "last_day": last_day.isoformat(),
                              "reason": reason})
    return authorisation


def get_household(ctx: EngineContext, household_id: int) -> Household:
    household = ctx.session.get(Household, household_id)
    if household is None:
        raise NotFoundError("核对对象家庭不存在", household_id=household_id)
    return household
