"""add policy overrides: administrator overrides of the policy profile, and overdue-task escalations

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-22 05:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policy_overrides',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('set_by', sa.String(length=64), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_policy_overrides'))
    )
    op.create_table('task_escalations',
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('notified_unit_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['human_tasks.id'], name=op.f('fk_task_escalations_task_id_human_tasks')),
    sa.ForeignKeyConstraint(['notified_unit_id'], ['units.id'],
                            name=op.f('fk_task_escalations_notified_unit_id_units')),
    sa.PrimaryKeyConstraint('task_id', name=op.f('pk_task_escalations'))
    )
    with op.batch_alter_table('task_escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_escalations_notified_unit_id'), ['notified_unit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('task_escalations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_escalations_notified_unit_id'))

    op.drop_table('task_escalations')
    op.drop_table('policy_overrides')
