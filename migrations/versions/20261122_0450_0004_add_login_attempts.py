"""add login attempts: the sign-in throttle shared by every web process

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts'))
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index(op.f('ix_login_attempts_username_attempted_at'), ['username', 'attempted_at'],
                              unique=False)
        batch_op.create_index(op.f('ix_login_attempts_ip_attempted_at'), ['ip', 'attempted_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index(op.f('ix_login_attempts_ip_attempted_at'))
        batch_op.drop_index(op.f('ix_login_attempts_username_attempted_at'))

    op.drop_table('login_attempts')
