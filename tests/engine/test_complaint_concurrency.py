"""Two deliveries of one complaint, and two officers referring one complaint, at the same moment (AU-2).

Real sessions that commit (``committing_url``); on PostgreSQL the two requests run in two threads at once
(the unit's row lock orders one ``Idempotency-Key``, the complaint's row lock orders its triage); on SQLite
writers are serialised, so the second one runs after the first either way.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select

from engine.context import EngineContext
from engine.errors import InvalidStateError
from engine.history import verify_chain
from engine.models import Recheck
from engine.models.complaint import Complaint
from engine.services.complaints import refer_complaint
from engine.services.complaints import register_online
from engine.services.org import get_unit_by_code
from tests.engine.recheck_factory import as_user
from tests.engine.recheck_factory import enrol
from tests.engine.recheck_factory import prepare
from tests.engine.test_concurrency import World
from tests.engine.test_concurrency import _race

FORM = {"received_at": "2026-11-23T08:00:00+08:00", "content": "举报该户隐瞒经营收入"}


@pytest.fixture
def world(committing_url: str):  # type: ignore[no-untyped-def]
    w = World(committing_url)
    yield w
    w.engine.dispose()


def _case(world: World) -> str:
    def setup(ctx: EngineContext) -> str:
        prepare(ctx)
        return enrol(ctx)[0].case_no

    return world.run(setup)  # type: ignore[no-any-return]


def _deliver(case_no: str, key: str | None) -> Any:
    def go(ctx: EngineContext) -> tuple[str, bool]:
        complaint, created = register_online(ctx, unit=get_unit_by_code(ctx, "HQ-MZB"), actor=as_user(
            ctx, "hq_street_clerk"), form={**FORM, "case_no": case_no}, idempotency_key=key)
        return complaint.number, created

    return go


def test_one_idempotency_key_delivered_twice_at_once_registers_once(world: World) -> None:
    case_no = _case(world)
    results = _race(world, [_deliver(case_no, "portal-42"), _deliver(case_no, "portal-42")])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({number for number, _ in results}) == 1 and sorted(created for _, created in results) == [False, True]
    assert world.run(lambda ctx: ctx.session.execute(select(func.count()).select_from(Complaint)).scalar_one()) == 1


def test_two_officers_referring_one_complaint_at_once_file_one_recheck(world: World) -> None:
    case_no = _case(world)
    number, _ = world.run(_deliver(case_no, None))

    def refer(username: str) -> Any:
        return lambda ctx: refer_complaint(ctx, number, actor=as_user(ctx, username)).status.value

    results = _race(world, [refer("hq_street_clerk"), refer("hq_street_clerk")])
    assert sorted(type(r).__name__ for r in results) == ["InvalidStateError", "str"], results
    assert next(r for r in results if isinstance(r, InvalidStateError)).code == "complaint_triaged"
    assert world.run(lambda ctx: ctx.session.execute(select(func.count()).select_from(Recheck)).scalar_one()) == 1
    assert world.run(lambda ctx: verify_chain(ctx.session)) == []
