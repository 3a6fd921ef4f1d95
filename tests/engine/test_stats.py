"""Statistics and performance assessment (AN-1, AU-4, PS-10): figures checked against cases in known states.

The cases come from tests/engine/stats_factory.py (real services, real diagrams, working-day calendar), built
once for the module; tests that need an empty database are in test_stats_fresh.py.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime
from typing import Any

import pytest

from engine.context import EngineContext
from engine.errors import ValidationError
from engine.models import WorkflowInstance
from engine.services.users import get_user
from engine.stats.report import compute
from engine.stats.report import to_dict
from engine.stats.scope import StatsQuery
from engine.stats.scope import validate
from tests.engine.exchange_factory import SHANGHAI
from tests.engine.stats_factory import FIRST
from tests.engine.stats_factory import LAST
from tests.engine.stats_factory import built_cases
from tests.engine.stats_factory import seed

#: the six cases A–F of stats_factory, built once for the module (statistics only read them)
SEED_ONCE = seed


def _query(ctx: EngineContext, username: str, **filters: Any) -> StatsQuery:
    return StatsQuery(get_user(ctx, username).id, FIRST, LAST, **filters)


def _counts(row: dict[str, Any], *names: str) -> tuple[int, ...]:
    return tuple(row[name] for name in names)


@pytest.fixture
def built(ctx: EngineContext, clock: Any) -> EngineContext:
    built_cases(ctx, clock)
    return ctx


def test_volumes_and_timeliness_per_agency(built: EngineContext) -> None:
    """AU-4: received / finished / returned / terminated / open per agency; on time vs late, overdue open."""
    body = to_dict(compute(built, _query(built, "admin")))
    agencies = {row["name"][:3]: row for row in body["agencies"]}
    assert set(agencies) == {"朝阳区", "南关区"}
    cy, ng = agencies["朝阳区"], agencies["南关区"]
    names = ("received", "completed", "terminated", "returned", "in_progress", "cancelled")
    assert _counts(cy, *names) == (5, 2, 1, 1, 1, 0)
    assert _counts(ng, *names) == (1, 0, 0, 1, 0, 0)
    # by the statutory deadline (10 working days: Friday 25th): A's report on the 14th, B's on the 28th; E open
    assert _counts(cy, "on_time", "late", "overdue_open") == (1, 1, 1)
    assert cy["step_late"] == 1  # B's 确认数据交换结果, the second, step-level figure
    assert cy["on_time_rate"] == 50.0 and ng["on_time_rate"] is None
    # A: Friday 11th → Monday 14th = 1 working day; B: → Monday 28th = 11 working days
    assert (cy["average_work_days"], cy["median_work_days"]) == (6.0, 6.0)
    [county] = body["levels"]
    assert county["name"] == "县（市、区）" and county["received"] == 6
    assert body["total"]["received"] == 6 and body["total"]["returned"] == 2


def test_timeliness_is_measured_against_the_statutory_deadline(ctx: EngineContext, clock: Any) -> None:
    """AU-4, PS-10: on time / late / overdue follow ``workflow_instances.due_at``, not the steps' due times.

    A's deadline is moved before its report (as a shorter limit would have set it): late, though every
    step was on time. E's is moved past today: not overdue, though its 受理初审 is past due.
    """
    cases = built_cases(ctx, clock)
    built = ctx
    a, e = (built.session.get(WorkflowInstance, cases[key].id) for key in ("A", "E"))
    assert a is not None and e is not None
    before = to_dict(compute(built, _query(built, "admin")))["total"]
    assert _counts(before, "on_time", "late", "step_late", "overdue_open") == (1, 1, 1, 1)
    a.due_at = datetime(2026, 12, 11, 23, 59, tzinfo=SHANGHAI)
    e.due_at = datetime(2026, 12, 31, 23, 59, tzinfo=SHANGHAI)
    built.session.flush()
    after = to_dict(compute(built, _query(built, "admin")))["total"]
    assert _counts(after, "on_time", "late", "step_late", "overdue_open") == (0, 2, 1, 0)
    assert after["on_time_rate"] == 0.0
    a.due_at = None  # a case without a deadline counts neither way (and not in the rate)
    built.session.flush()
    none = to_dict(compute(built, _query(built, "admin")))["total"]
    assert _counts(none, "completed", "on_time", "late") == (2, 0, 1) and none["on_time_rate"] == 0.0


def test_business_types_and_outcomes(built: EngineContext) -> None:
    body = to_dict(compute(built, _query(built, "admin")))
    types = {row["key"]: row for row in body["business_types"]}
    assert [row["key"] for row in body["business_types"]] == ["dibao", "tekun"]
    assert _counts(types["dibao"], "received", "completed", "terminated", "returned", "in_progress") == (4, 1, 1, 1, 1)
    assert _counts(types["tekun"], "received", "completed", "returned", "late") == (2, 1, 1, 1)
    outcomes = {row["key"]: (row["count"], row["share"]) for row in body["outcomes"]}
    assert outcomes == {"completed": (2, 33.3), "terminated": (1, 16.7), "returned": (2, 33.3),
                        "cancelled": (0, 0.0), "in_progress": (1, 16.7)}


def test_sharing_units(built: EngineContext) -> None:
    """PS-10, DX-5: answered in time (by the limit a delay notice extended), delay notices, never answered."""
    body = to_dict(compute(built, _query(built, "admin")))
    units = {row["name"]: row for row in body["sharing_units"]}
    names = ("requests", "sent", "answered", "answered_in_time", "delay_notices", "overdue")
    assert _counts(units["长春示范商业银行"], *names) == (1, 1, 1, 1, 0, 0)
    assert _counts(units["国家税务总局长春市税务局"], *names) == (1, 1, 1, 1, 1, 0)
    assert _counts(units["长春市公安局"], *names) == (1, 1, 0, 0, 0, 1)
    assert units["长春市公安局"]["in_time_rate"] is None
    assert units["国家税务总局长春市税务局"]["average_answer_work_days"] == 7.0
    assert _counts(body["sharing_total"], *names) == (3, 3, 2, 2, 1, 1)


def test_filters_narrow_the_figures(built: EngineContext) -> None:
    admin = _query(built, "admin")
    tekun = to_dict(compute(built, StatsQuery(admin.user_id, FIRST, LAST, business_type="tekun")))
    assert tekun["total"]["received"] == 2 and [u["requests"] for u in tekun["sharing_units"]] == [1, 1]
    ng = to_dict(compute(built, StatsQuery(admin.user_id, FIRST, LAST, region_code="220102")))
    assert [row["name"][:3] for row in ng["agencies"]] == ["南关区"] and ng["sharing_units"] == []
    november = to_dict(compute(built, StatsQuery(admin.user_id, date(2026, 11, 1), date(2026, 11, 30))))
    assert november["total"]["received"] == 0 and november["agencies"] == []


def test_jurisdiction(built: EngineContext) -> None:
    """OR-3: a 南关区 user counts 南关区 cases only, and may not filter by 朝阳区."""
    body = to_dict(compute(built, _query(built, "ng_intake")))
    assert [row["name"][:3] for row in body["agencies"]] == ["南关区"]
    assert body["total"]["received"] == 1 and body["sharing_units"] == []
    with pytest.raises(ValidationError) as refused:
        validate(built, _query(built, "ng_intake", region_code="220104"))
    assert set(refused.value.details["fields"]) == {"region"}
    everything = to_dict(compute(built, _query(built, "admin")))
    cy_agency = {row["name"][:3]: int(row["key"]) for row in everything["agencies"]}
    with pytest.raises(ValidationError) as refused:
        validate(built, _query(built, "ng_intake", agency_unit_id=cy_agency["朝阳区"]))
    assert set(refused.value.details["fields"]) == {"agency"}


def test_a_reversed_or_too_long_period_is_refused(built: EngineContext) -> None:
    user = get_user(built, "admin").id
    with pytest.raises(ValidationError) as reversed_:
        validate(built, StatsQuery(user, LAST, FIRST))
    assert reversed_.value.details["fields"] == {"to": ["结束日期不能早于开始日期"]}
    with pytest.raises(ValidationError):
        validate(built, StatsQuery(user, FIRST.replace(year=2020), LAST))
