"""compress workflow_instances.state with lz4 on PostgreSQL (pglz made each step's write grow with the state)

Every command rewrites the instance's serialized state. PostgreSQL compresses a value this large
(TOAST) with pglz by default, whose cost grows with the state: at loop round 50 (a 67 kB state) it
was the largest part of the step's growth on PostgreSQL (BENCHMARKS.md). lz4 compresses the same
text several times faster at a similar ratio. PostgreSQL 14+ built with lz4 (Debian's is); on any
other server the column keeps the server's default and the upgrade says so. Only the storage of new
values changes: rows are recompressed as they are next written. SQLite stores the text as it is.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

_SET = "ALTER TABLE workflow_instances ALTER COLUMN state SET COMPRESSION {}"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if int(bind.execute(sa.text("SHOW server_version_num")).scalar_one()) < 140000:
        log.warning("PostgreSQL < 14: workflow_instances.state keeps the default TOAST compression (pglz)")
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text(_SET.format("lz4")))
    except sa.exc.DBAPIError:
        # e.g. "compression method lz4 not supported": the server was built without lz4
        log.warning("this PostgreSQL server has no lz4: workflow_instances.state keeps pglz")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and \
            int(op.get_bind().execute(sa.text("SHOW server_version_num")).scalar_one()) >= 140000:
        op.execute(_SET.format("DEFAULT"))
