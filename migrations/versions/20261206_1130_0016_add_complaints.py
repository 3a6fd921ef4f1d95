"""add complaints: the register of complaints and tip-offs (举报投诉登记, AU-2) and their triage

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0016"
# TEMPORARY for testing in the helper's worktree: main's head is 0014; set back to "0015" at merge
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('complaints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False),
    sa.Column('channel', sa.Enum('phone', 'email', 'online', 'letter_visit', 'other', name='complaintchannel',
                                 native_enum=False, length=20), nullable=False),
    sa.Column('channel_detail', sa.String(length=100), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('complainant_name', sa.String(length=50), nullable=False),
    sa.Column('complainant_contact', sa.String(length=100), nullable=True),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('case_no', sa.String(length=60), nullable=True),
    sa.Column('subject_text', sa.String(length=500), nullable=True),
    sa.Column('content', sa.String(length=2000), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('received', 'recheck_filed', 'dismissed', 'closed', name='complaintstatus',
                                native_enum=False, length=20), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('registered_by', sa.String(length=100), nullable=False),
    sa.Column('registered_via', sa.String(length=10), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=True),
    sa.Column('triaged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('triaged_by', sa.String(length=100), nullable=True),
    sa.Column('dismiss_reason', sa.String(length=2000), nullable=True),
    sa.Column('recheck_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=100), nullable=True),
    sa.Column('reply', sa.String(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_complaints_household_id_households')),
    sa.ForeignKeyConstraint(['recheck_id'], ['rechecks.id'], name=op.f('fk_complaints_recheck_id_rechecks')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_complaints_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaints')),
    sa.UniqueConstraint('number', name=op.f('uq_complaints_number')),
    sa.UniqueConstraint('unit_id', 'idempotency_key', name=op.f('uq_complaints_unit_id_idempotency_key'))
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaints_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_recheck_id'), ['recheck_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_unit_id'), ['unit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaints_unit_id'))
        batch_op.drop_index(batch_op.f('ix_complaints_status'))
        batch_op.drop_index(batch_op.f('ix_complaints_recheck_id'))
        batch_op.drop_index(batch_op.f('ix_complaints_household_id'))
        batch_op.drop_index(batch_op.f('ix_complaints_channel'))
    op.drop_table('complaints')
