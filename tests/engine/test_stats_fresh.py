"""Statistics tests that build their own data from an empty database (AN-1, AU-4, PS-5, PS-9).

Kept apart from test_stats.py, whose module seeds the cases A–F once: these count from zero.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import event

from engine.context import EngineContext
from engine.services.users import get_user
from engine.stats.report import compute
from engine.stats.report import to_dict
from engine.stats.scope import StatsQuery
from tests.engine.exchange_factory import setup_exchange
from tests.engine.stats_factory import entrust
from tests.engine.test_stats import _counts
from tests.engine.test_stats import _query


@pytest.mark.parametrize("count", [3, 30])
def test_statements_do_not_grow_with_the_cases(ctx: EngineContext, clock: Any, count: int) -> None:
    """The figures are GROUP BY queries: as many statements for 30 cases as for 3."""
    setup_exchange(ctx, clock)
    for i in range(count):
        entrust(ctx, i, "dibao" if i % 2 else "tekun", ["CC-BANK"])
    query = _query(ctx, "admin")
    connection = ctx.session.connection()
    statements: list[str] = []

    def _count(*_args: Any) -> None:
        statements.append(_args[2])

    event.listen(connection, "before_cursor_execute", _count)
    try:
        body = to_dict(compute(ctx, query))
    finally:
        event.remove(connection, "before_cursor_execute", _count)
    assert body["total"]["received"] == count
    assert len(statements) == EXPECTED_STATEMENTS, statements


#: the viewer's memberships, sums and histogram per (agency, business type), unit names, sharing units
EXPECTED_STATEMENTS = 6


def test_rechecks_and_escalations_are_counted(ctx: EngineContext) -> None:
    """The demo cases: a tiered escalation to 长春市 (its upper case entrusted by the lower agency) and two
    re-verifications (PS-5, PS-9) entrusted to 朝阳区, counted where they belong; so is the case with a
    支出调查 (DO-9)."""
    from engine.calendar import WorkingCalendar
    from engine.services.demo import seed_demo
    from engine.services.demo_cases import seed_demo_cases
    from engine.services.deploy import deploy_files
    from tests.engine.exchange_factory import ADMIN
    from tests.engine.exchange_factory import BPMN

    ctx.deadline = WorkingCalendar(ctx.session).deadline
    seed_demo(ctx, actor=ADMIN)
    deploy_files(ctx, {p.name: p.read_bytes() for p in BPMN.glob("*.bpmn")}, actor=ADMIN)
    seed_demo_cases(ctx, actor=ADMIN)
    query = StatsQuery(get_user(ctx, "admin").id, date(2026, 11, 1), date(2026, 11, 30))
    agencies = {row["name"][:3]: row for row in to_dict(compute(ctx, query))["agencies"]}
    names = ("received", "rechecks", "from_lower", "escalated", "cross_city", "spending")
    assert _counts(agencies["朝阳区"], *names) == (7, 2, 0, 1, 0, 1)  # the case in data exchange has a 支出调查 (DO-9)
    assert _counts(agencies["长春市"], *names) == (1, 0, 1, 0, 0, 0)
    assert [row["name"] for row in to_dict(compute(ctx, query))["levels"]] == ["市（州）", "县（市、区）"]
