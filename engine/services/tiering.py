"""上下分级核对，分级出具报告 (JL 规程 三, BJ 第十六条（四）、第十八条; PS-5, PS-6, PS-7): who checks what.

The policy setting ``verification_tiering`` decides, when a case is registered — a standard case
(``engine.services.cases``) or a re-verification case, individual or batch (``engine.services.reverify``,
planned once per 复核委托书) — which of its sharing units the receiving agency checks itself
(``sharing_units``) and which only an upper agency can (``upper_units``):

- ``single`` (both profiles' default): the agency exchanges with every unit at its level and
  above, as before; nothing goes upward unless the review asks for cross-city items;
- ``tiered``: the agency exchanges only with the units of its own region; a unit of an upper
  region is checked by the verification agency of that region;
- ``province`` (省级全联通): every item is checked and reported by the province agency; the
  county case only forwards.

At 审核复审 (form ``verification_review``) the county confirms ``upper_items`` (default: all of
``upper_units``; the ones not chosen are dropped and recorded) and may add ``cross_city_items``.
:func:`on_review_accepted` then raises one TIERED escalation per upper agency — the upward
委托书 and the upper case are generated — and one CROSS_CITY escalation for the city agency to
gather (``engine.services.cross_city``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import select

from engine.context import Actor
from engine.context import EngineContext
from engine.errors import FormValidationError
from engine.history import append_event
from engine.history import instance_stream
from engine.models import EscalationKind
from engine.models import EscalationStatus
from engine.models import Household
from engine.models import Region
from engine.models import Unit
from engine.models import UnitKind
from engine.models import WorkflowInstance
from engine.persistence import load_workflow
from engine.policy import effective_policy
from engine.services import escalations as esc
from engine.services.reverify import agency_at_level

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TierPlan:
    """The receiving agency's own items and, per upper agency code, the items it checks."""

    local: list[str]
    upper: dict[str, list[str]] = field(default_factory=dict)

    @property
    def upper_units(self) -> list[str]:
        return [code for codes in self.upper.values() for code in codes]

    def start_data(self, upper_days: int) -> dict[str, Any]:
        """What ``standard_verification`` gets: local units, and the upper ones only when there are any."""
        data: dict[str, Any] = {"sharing_units": list(self.local)}
        if self.upper:
            data.update(upper_units=self.upper_units, upper_plan={k: list(v) for k, v in self.upper.items()},
                        upper_days=upper_days)
        return data


def plan_checks(ctx: EngineContext, agency: Unit, units: Sequence[str], mode: str) -> TierPlan:
    """Split ``units`` between ``agency`` and the upper agencies per ``mode`` (see the module doc).

    A unit whose region has no active verification agency stays with the receiving agency.
    """
    if mode == "single" or not units:
        return TierPlan(list(units))
    if mode == "province":
        province = agency_at_level(ctx, agency.region_code, "province")
        if province is None or province.id == agency.id:
            return TierPlan(list(units))
        return TierPlan([], {province.code: list(units)})
    regions = dict(ctx.session.execute(select(Unit.code, Unit.region_code).where(Unit.code.in_(list(units)))).all())
    agencies = {u.region_code: u for u in ctx.session.execute(
        select(Unit).where(Unit.kind == UnitKind.VERIFICATION_AGENCY, Unit.is_active.is_(True),
                           Unit.region_code.in_(set(regions.values()))).order_by(Unit.code.desc())).scalars()}
    ancestors = {c for c in agency.region.path.split("/") if c} - {agency.region_code}
    plan = TierPlan([])
    for code in units:
        region = regions.get(code)
        target = agencies.get(region) if region in ancestors else None
        if target is None:
            plan.local.append(code)
        else:
            plan.upper.setdefault(target.code, []).append(code)
    return plan


def tiered_start(ctx: EngineContext, agency: Unit, units: list[str], *, from_lower: bool,
                 tiering: str | None = None) -> dict[str, Any]:
    """The start data of a new case: the units ``agency`` checks and those its upper agencies do (PS-5).

    A lower agency's entrustment is checked in full; ``tiering`` overrides the policy (the demo).
    """
    policy = effective_policy(ctx, ctx.policy_profile)
    mode = policy.verification_tiering if tiering is None else tiering
    plan = TierPlan(list(units)) if from_lower else plan_checks(ctx, agency, units, mode)
    return plan.start_data(policy.city_check_days)


# --- 审核复审 accepted at the county ---------------------------------------------------------------


def check_review(ctx: EngineContext, instance: WorkflowInstance, data: Mapping[str, Any],
                 values: Mapping[str, Any]) -> None:
    """Before an accepted 审核复审 completes: its items must be the case's (``data``: the task's data).

    :raises FormValidationError: items that are not the case's upper items, or cross-city items that
        are no other city's sharing units; nothing has been changed yet.
    """
    household = ctx.session.execute(select(Household).where(Household.instance_id == instance.id)).scalar_one_or_none()
    if household is None:
        return
    upper_units = list(data.get("upper_units") or [])
    chosen = values.get("upper_items")
    cross = list(values.get("cross_city_items") or [])
    errors: dict[str, list[str]] = {}
    if data.get("escalation_no") and (chosen or cross):
        errors["upper_items" if chosen else "cross_city_items"] = ["上级核对案件不能再向上委托或跨地市核对"]
    if chosen is not None and (unknown := [c for c in chosen if c not in upper_units]):
        errors["upper_items"] = [f"以下事项不属于本案可由上级核对的事项：{'、'.join(unknown)}"]
    cross_problem = _cross_city_problem(ctx, household, cross, [*data.get("sharing_units", []), *upper_units])
    if cross_problem:
        errors["cross_city_items"] = [cross_problem]
    if errors:
        raise FormValidationError(fields=errors)


def on_review_accepted(ctx: EngineContext, instance: WorkflowInstance, task_id: str, values: Mapping[str, Any],
                       actor: Actor) -> None:
    """Raise the escalations the county's 审核复审 decided (same unit of work as the review, checked by
    :func:`check_review` before it completed)."""
    household = ctx.session.execute(select(Household).where(Household.instance_id == instance.id)).scalar_one_or_none()
    if household is None:
        return
    data = load_workflow(ctx, instance).task_data(task_id)  # what the review saw: the case's plan
    upper_units = list(data.get("upper_units") or [])
    chosen = values.get("upper_items")
    cross = list(values.get("cross_city_items") or [])
    # as the diagram's plan_upper decided: omitted means every upper item of the case
    upper_items = upper_units if chosen is None else [c for c in upper_units if c in chosen]
    dropped = [c for c in upper_units if c not in upper_items]
    if dropped:
        append_event(ctx, stream=instance_stream(instance.id), kind="upper_items_dropped", actor=actor,
                     instance_id=instance.id, payload={"items": dropped})
    origin_agency = ctx.session.get(Unit, instance.agency_unit_id)
    assert origin_agency is not None
    for target, items in _by_target(ctx, data.get("upper_plan") or {}, upper_items).items():
        escalation = esc.new_escalation(ctx, kind=EscalationKind.TIERED, origin=household, target=target,
                                        items=items, actor=actor)
        entrustment = esc.open_upward_entrustment(ctx, from_unit=origin_agency, to_unit=target,
                                                  escalations=[escalation], actor=actor)
        esc.start_upper_case(ctx, escalation, entrustment, actor=actor)
    if cross:
        _raise_cross_city(ctx, household, origin_agency, cross, values.get("cross_city_reason"), actor)


def review_choices(ctx: EngineContext, instance: WorkflowInstance,
                   task_id: str) -> tuple[dict[str, list[tuple[str, str]]], dict[str, list[str]]]:
    """What the 审核复审 page offers: the case's upper items (pre-filled: all, as configured) and the other
    cities' sharing units of the province for a cross-city request; none on an upper agency's case."""
    data = load_workflow(ctx, instance).task_data(task_id)
    if data.get("escalation_no"):
        return {"upper_items": [], "cross_city_items": []}, {}
    plan: Mapping[str, Sequence[str]] = data.get("upper_plan") or {}
    codes = [c for items in plan.values() for c in items]
    names = dict(ctx.session.execute(select(Unit.code, Unit.name).where(Unit.code.in_([*codes, *plan]))).all())
    upper = [(c, f"{names.get(c, c)}（由{names.get(agency, agency)}核对）") for agency, items in plan.items()
             for c in items]
    path = ctx.session.execute(select(Region.path).where(Region.code == instance.region_code)).scalar() or ""
    province = next((c for c in path.split("/") if c), "")
    rows = ctx.session.execute(select(Unit.code, Unit.name, Region.path).join(Region, Region.code == Unit.region_code)
                               .where(Unit.kind == UnitKind.SHARING_UNIT, Unit.is_active.is_(True),
                                      Region.path.startswith(f"{province}/")).order_by(Unit.code)).all()
    cross = [(code, name) for code, name, unit_path in rows if province and not path.startswith(unit_path)]
    return {"upper_items": upper, "cross_city_items": cross}, {"upper_items": [c for c, _ in upper]}


def _by_target(ctx: EngineContext, plan: Mapping[str, Sequence[str]], items: Sequence[str]) -> dict[Unit, list[str]]:
    """The chosen items per upper agency, as the case's plan (made at registration) assigns them."""
    chosen = {code: [c for c in codes if c in items] for code, codes in plan.items()}
    chosen = {code: codes for code, codes in chosen.items() if codes}
    units = {u.code: u for u in ctx.session.execute(select(Unit).where(Unit.code.in_(list(chosen)))).scalars()}
    return {units[code]: codes for code, codes in sorted(chosen.items())}


def _cross_city_problem(ctx: EngineContext, household: Household, cross: Sequence[str],
                        own: Sequence[str]) -> str | None:
    """Why ``cross`` are not cross-city items of this case (None when they are)."""
    if not cross:
        return None
    if mine := [c for c in cross if c in own]:
        return f"以下事项本案已在本地或上级核对，不需跨地市核对：{'、'.join(mine)}"
    path = ctx.session.execute(select(Region.path).where(Region.code == household.region_code)).scalar_one()
    province = next((c for c in path.split("/") if c), "")
    rows = ctx.session.execute(select(Unit.code, Region.path).join(Region, Region.code == Unit.region_code).where(
        Unit.code.in_(list(cross)), Unit.kind == UnitKind.SHARING_UNIT, Unit.is_active.is_(True))).all()
    found = {code: unit_path for code, unit_path in rows}
    bad = [c for c in cross if c not in found or path.startswith(found[c])
           or not found[c].startswith(f"{province}/")]
    if bad:
        return f"以下不是本省其他地市的信息共享单位：{'、'.join(bad)}"
    return None


def _raise_cross_city(ctx: EngineContext, household: Household, origin_agency: Unit, items: list[str],
                      reason: str | None, actor: Actor) -> None:
    """One CROSS_CITY escalation: requested, waiting at the county's city agency for its batch (PS-7)."""
    city = agency_at_level(ctx, household.region_code, "city")
    province = agency_at_level(ctx, household.region_code, "province")
    if city is None or province is None:
        raise FormValidationError(fields={"cross_city_items": ["本地区没有市级或省级核对机构，无法跨地市核对"]})
    escalation = esc.new_escalation(ctx, kind=EscalationKind.CROSS_CITY, origin=household, target=province,
                                    via=city, items=items, reason=reason, actor=actor)
    esc.record_step(ctx, escalation, EscalationStatus.REQUESTED, city, actor, note=reason)
    logger.info("Cross-city request %s raised by %s", escalation.number, origin_agency.code)
