"""All statistics tables for one query (AN-1, AU-4): per agency, per level, per business type, per outcome,
per sharing unit, each with its totals. Aggregates only: no names of people, no ID numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from engine.context import EngineContext
from engine.models import Region
from engine.models import Unit
from engine.models.org import REGION_LEVEL_NAMES
from engine.stats.cases import COUNTERS
from engine.stats.cases import OUTCOME_NAMES
from engine.stats.cases import OUTCOMES
from engine.stats.cases import Counts
from engine.stats.cases import grouped
from engine.stats.scope import StatsQuery
from engine.stats.sharing import SHARING_COUNTERS
from engine.stats.sharing import SharingRow
from engine.stats.sharing import sharing_units
from engine.stats.sql import median
from forms.household import BUSINESS_TYPES

LEVEL_ORDER = ("province", "city", "county", "town", "village")


@dataclass(frozen=True)
class Group:
    """One row of a case table: what it is about and its counters."""

    key: str
    name: str
    counts: Counts
    #: the agency's region and level (agency rows only)
    region: str = ""
    level: str = ""


@dataclass(frozen=True)
class StatsReport:
    query: StatsQuery
    generated_at: datetime
    agencies: list[Group]
    levels: list[Group]
    business_types: list[Group]
    total: Counts
    sharing: list[SharingRow]
    sharing_total: dict[str, int]

    @property
    def outcomes(self) -> list[tuple[str, str, int]]:
        return [(code, OUTCOME_NAMES[code], self.total.values[code]) for code in OUTCOMES]


def compute(ctx: EngineContext, query: StatsQuery) -> StatsReport:
    """Every table for ``query`` in a fixed number of SQL statements (the caller validated the query)."""
    by_agency, by_type = grouped(ctx, query)
    units = {uid: (name, region, level.value) for uid, name, region, level in ctx.session.execute(
        select(Unit.id, Unit.name, Region.name, Region.level).join(Region, Region.code == Unit.region_code)
        .where(Unit.id.in_([k for k in by_agency if k is not None])))}
    agencies = []
    for uid, counts in by_agency.items():
        name, region, level = _unit(units, uid)
        agencies.append(Group(str(uid), name, counts, region, level))
    agencies.sort(key=lambda g: (_level_rank(g.level), g.region, g.name))
    levels: dict[str, Counts] = {}
    for group in agencies:
        levels.setdefault(group.level, Counts()).add(group.counts)
    types = [Group(code, BUSINESS_TYPES.get(code, code), by_type[code])
             for code in [*BUSINESS_TYPES, *sorted(set(by_type) - set(BUSINESS_TYPES))] if code in by_type]
    total = Counts()
    for group in agencies:
        total.add(group.counts)
    sharing = sharing_units(ctx, query)
    return StatsReport(
        query=query, generated_at=ctx.now(), agencies=agencies,
        levels=[Group(level, REGION_LEVEL_NAMES.get(level, level) if level else "未指定", levels[level])
                for level in sorted(levels, key=_level_rank)],
        business_types=types, total=total, sharing=sharing,
        sharing_total={name: sum(row.values[name] for row in sharing) for name in SHARING_COUNTERS})


def _unit(units: dict[int, tuple[str, str, str]], uid: int | None) -> tuple[str, str, str]:
    return units.get(uid, ("未指定核对机构", "", "")) if uid is not None else ("未指定核对机构", "", "")


def _level_rank(level: str) -> int:
    return LEVEL_ORDER.index(level) if level in LEVEL_ORDER else len(LEVEL_ORDER)


# --- derived figures -------------------------------------------------------------------------------------------


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` as a percentage with one decimal, None when there is nothing to divide."""
    return round(100.0 * part / whole, 1) if whole else None


def derived(counts: Counts) -> dict[str, float | None]:
    """On-time rate of finished checks, average and median working days from receipt to report."""
    v = counts.values
    cases = v["work_days_cases"]
    # of the finished checks measured against a statutory deadline (a case without one counts neither way)
    return {"on_time_rate": rate(v["on_time"], v["on_time"] + v["late"]),
            "average_work_days": round(v["work_days_total"] / cases, 1) if cases else None,
            "median_work_days": median(counts.work_days)}


def sharing_derived(values: dict[str, int]) -> dict[str, float | None]:
    answered = values["answered"]
    return {"in_time_rate": rate(values["answered_in_time"], answered),
            "average_answer_work_days": round(values["answer_days_total"] / answered, 1) if answered else None}


def to_dict(report: StatsReport) -> dict[str, Any]:
    """The report as the API answers it (stable keys; counts are integers, rates percentages)."""
    def case_group(g: Group) -> dict[str, Any]:
        counts = {name: g.counts.values[name] for name in COUNTERS if not name.startswith("work_days")}
        return {"key": g.key, "name": g.name, **({"region": g.region, "level": g.level} if g.region else {}),
                **counts, **derived(g.counts)}

    q = report.query
    total = case_group(Group("total", "合计", report.total))
    return {
        "period": {"from": q.first.isoformat(), "to": q.last.isoformat()},
        "filters": {"region": q.region_code, "agency": q.agency_unit_id, "business_type": q.business_type},
        "generated_at": report.generated_at.isoformat(),
        "agencies": [case_group(g) for g in report.agencies], "levels": [case_group(g) for g in report.levels],
        "business_types": [case_group(g) for g in report.business_types], "total": total,
        "outcomes": [{"key": code, "name": name, "count": count, "share": rate(count, report.total.values["received"])}
                     for code, name, count in report.outcomes],
        "sharing_units": [{"unit_id": row.unit_id, "name": row.unit_name, **row.values,
                           **sharing_derived(row.values)} for row in report.sharing],
        "sharing_total": {**report.sharing_total, **sharing_derived(report.sharing_total)},
    }
