"""分级出具报告 (JL 规程 三(一)3–4, PS-5): which level (agency) checked which items, in every report,
and a case's reports together with those its upper agencies issued for it.

A county case that sent items upward (``engine.services.escalations``) states in its own report
what it checked and which upper agency checks the rest and reports separately; the upper agency's
report states on whose entrustment it was issued and that it covers only its own items. The
original case's report list returns all of them, each with its level, so the county "returns all
reports together".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import select

from engine.context import EngineContext
from engine.models import Escalation
from engine.models import EscalationStatus
from engine.models import Household
from engine.models import Region
from engine.models import Unit
from engine.models.case import Entrustment
from engine.models.recheck import Recheck
from engine.models.report import ReportKind

if TYPE_CHECKING:
    from engine.reports.service import ReportState

LEVEL_NAMES = {"province": "省级", "city": "市级", "county": "县级"}


def level_of(ctx: EngineContext, unit: Unit) -> str:
    level = ctx.session.execute(select(Region.level).where(Region.code == unit.region_code)).scalar()
    value = getattr(level, "value", level)
    return LEVEL_NAMES.get(str(value), str(value or ""))


def _unit_names(ctx: EngineContext, codes: list[str]) -> list[str]:
    names = dict(ctx.session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes))).all())
    return [names.get(code, code) for code in codes]


def snapshot_levels(ctx: EngineContext, household: Household, agency: Unit,
                    checked: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The report snapshot's ``levels`` (this agency first, then each upper agency checking for the case)
    and ``entrusted_by`` (an upper case: the lower agency's case it reports for)."""
    levels: list[dict[str, Any]] = [{"agency": agency.name, "agency_code": agency.code, "level": level_of(ctx, agency),
                                     "checked": checked, "own": True}]
    upward = ctx.session.execute(select(Escalation).where(
        Escalation.origin_household_id == household.id, Escalation.status != EscalationStatus.CANCELLED)
        .order_by(Escalation.id)).scalars().all()
    for escalation in upward:
        target = escalation.target_agency
        levels.append({"agency": target.name, "agency_code": target.code, "level": level_of(ctx, target),
                       "checked": _unit_names(ctx, list(escalation.items)), "own": False,
                       "escalation_no": escalation.number})
    entrusted_by = None
    mine = ctx.session.execute(select(Escalation).where(
        Escalation.upper_household_id == household.id)).scalar_one_or_none()
    if mine is not None:
        entrustment = ctx.session.get(Entrustment, mine.entrustment_id) if mine.entrustment_id else None
        entrusted_by = {"agency": mine.origin_agency.name, "agency_code": mine.origin_agency.code,
                        "case_no": mine.origin_household.case_no, "escalation_no": mine.number,
                        "entrustment_no": entrustment.number if entrustment else None}
    return levels, entrusted_by


def level_sentences(content: dict[str, Any]) -> list[str]:
    """The cover's statement of who checked what (nothing for a report whose agency checked everything)."""
    out = []
    levels = [lv for lv in content.get("levels") or [] if "level" in lv]
    own = next((lv for lv in levels if lv.get("own")), None)
    others = [lv for lv in levels if not lv.get("own")]
    if own is not None and others:
        mine = "、".join(own["checked"]) or "（无）"
        rest = "；".join(f"{lv['agency']}（{lv['level']}）核对{'、'.join(lv['checked'])}" for lv in others)
        out.append(f"本次核对实行上下分级核对、分级出具报告：本中心（{own['level']}）核对了{mine}；{rest}，"
                   "由其另行出具核对报告。")
    by = content.get("entrusted_by")
    if by and own is not None:
        out.append(f"本报告系受{by['agency']}委托（原核对业务编号：{by['case_no']}，上级核对编号：{by['escalation_no']}）"
                   f"出具，仅反映本中心（{own['level']}）核对的{'、'.join(own['checked']) or '（无）'}的情况，"
                   "其他事项由相应核对机构另行出具报告。")
    return out


@dataclass(frozen=True)
class LevelReport:
    """One report of a case's list: its own, or one an upper agency issued for it (with the level)."""

    state: ReportState
    agency: str
    agency_code: str
    level: str
    own: bool
    escalation_no: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.state.to_json(), "level": self.level, "agency": {"code": self.agency_code, "name": self.agency},
                "own": self.own, "escalation_no": self.escalation_no}


def reports_with_levels(ctx: EngineContext, household: Household) -> list[LevelReport]:
    """The case's own reports with the 复核报告 of its re-verifications (DO-8), then the reports its upper
    agencies issued for it or for its re-verifications' cases (each escalation in order), each with the
    issuing agency and its level."""
    from engine.reports.service import case_reports
    from engine.reports.service import reports_with_rechecks

    def issued_by(state: ReportState) -> Unit:
        unit = ctx.session.get(Unit, state.report.agency_unit_id)
        assert unit is not None
        return unit

    out = [LevelReport(s, (a := issued_by(s)).name, a.code, level_of(ctx, a), True)
           for s in reports_with_rechecks(ctx, household)]
    rechecked = select(Recheck.verification_household_id).where(Recheck.original_household_id == household.id)
    upward = ctx.session.execute(select(Escalation).where(
        (Escalation.origin_household_id == household.id) | Escalation.origin_household_id.in_(rechecked),
        Escalation.upper_household_id.is_not(None)).order_by(Escalation.id)).scalars().all()
    for escalation in upward:
        upper = escalation.upper_household
        assert upper is not None
        target = escalation.target_agency
        states = case_reports(ctx, upper.case_no)
        if escalation.origin_household_id != household.id:  # a re-verification's: its 复核报告 only, as above
            states = [s for s in states if s.report.kind is ReportKind.REVERIFICATION]
        out += [LevelReport(s, target.name, target.code, level_of(ctx, target), False, escalation.number)
                for s in states]
    return out
