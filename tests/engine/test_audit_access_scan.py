"""The access log reads its records in chunks and stops at a full page: the cursor is closed then too.

On PostgreSQL a chunked read (``yield_per``) is a server-side cursor; one left open when the page filled
stayed in the transaction and was reported as a ResourceWarning when collected (found by the form fuzz on
PostgreSQL, auditor's 访问记录 page). Requirements: PR-4 (access limited to staff with a duty, recorded),
AU-1 (oversight of staff).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy import text

from engine.audit_access import AccessFilter
from engine.audit_access import access_log
from engine.audit_access import auditor_scope
from engine.audit_access import usernames_in_scope
from engine.context import Actor
from engine.context import EngineContext
from engine.history import append_system_event
from engine.models import User
from engine.services.demo import seed_demo


def test_a_full_page_of_the_access_log_closes_its_cursor(ctx: EngineContext) -> None:
    seed_demo(ctx, actor=Actor("admin", "admin"))
    auditor = ctx.session.execute(select(User).where(User.username == "auditor")).scalar_one()
    scope = auditor_scope(ctx, auditor.id)
    person = sorted(usernames_in_scope(ctx, scope))[0]
    for _ in range(3):
        append_system_event(ctx, kind="personal_data_searched", actor=Actor(person), payload={})

    page, more = access_log(ctx, scope, AccessFilter(), limit=1)

    assert [e.actor for e in page] == [person] and more
    if ctx.session.get_bind().dialect.name == "postgresql":
        assert ctx.session.execute(text("SELECT count(*) FROM pg_cursors")).scalar_one() == 0
