"""Reports issued at the same moment by several requests get distinct, gap-free numbers (the counter's row lock).

PostgreSQL only: it is the database where requests really run in parallel; SQLite serialises writers.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.context import EngineContext
from engine.models.case import Household
from engine.reports.service import issue_report
from tests.engine.archive_factory import seed
from tests.engine.report_factory import REPORTER
from tests.engine.report_factory import open_cases
from tests.engine.test_concurrency import World
from tests.engine.test_concurrency import _race


def test_concurrent_reports_get_consecutive_numbers(committing_url: str) -> None:
    if committing_url.startswith("sqlite"):
        pytest.skip("row-lock race needs PostgreSQL (SQLite serialises writers)")
    world = World(committing_url)
    try:
        world.run(seed)
        # the 朝阳区 agency's open cases (the demo's escalated case also has one at 长春市, numbered there)
        ids = world.run(lambda ctx: [h.id for h in open_cases(ctx) if h.entrustment.agency_unit.code == "CY-HDZX"])

        def issue(household_id: int) -> Any:
            def go(ctx: EngineContext) -> str:
                household = ctx.session.get(Household, household_id)
                assert household is not None
                return issue_report(ctx, household, actor=REPORTER).number
            return go

        results = _race(world, [issue(i) for i in ids])
        assert all(isinstance(r, str) for r in results), results
        assert sorted(results) == [f"朝阳核字〔2026〕第{n:04d}号" for n in range(2, 2 + len(ids))]
    finally:
        world.engine.dispose()
