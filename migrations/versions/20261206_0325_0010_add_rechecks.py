"""add rechecks: individual re-verifications (复核表, PS-9) and batch re-verifications (PS-8)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 03:25:15.198414
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('recheck_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('status', sa.Enum('pending', 'running', 'paused', 'completed', name='batchstatus', native_enum=False, length=20), nullable=False),
    sa.Column('entrusting_unit_id', sa.Integer(), nullable=False),
    sa.Column('agency_unit_id', sa.Integer(), nullable=False),
    sa.Column('entrustment_id', sa.Integer(), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('started', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agency_unit_id'], ['units.id'], name=op.f('fk_recheck_batches_agency_unit_id_units')),
    sa.ForeignKeyConstraint(['entrusting_unit_id'], ['units.id'], name=op.f('fk_recheck_batches_entrusting_unit_id_units')),
    sa.ForeignKeyConstraint(['entrustment_id'], ['entrustments.id'], name=op.f('fk_recheck_batches_entrustment_id_entrustments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recheck_batches')),
    sa.UniqueConstraint('number', name=op.f('uq_recheck_batches_number'))
    )
    with op.batch_alter_table('recheck_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recheck_batches_agency_unit_id'), ['agency_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recheck_batches_entrusting_unit_id'), ['entrusting_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recheck_batches_status'), ['status'], unique=False)

    op.create_table('recheck_batch_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=60), nullable=False),
    sa.Column('original_household_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('pending', 'started', 'failed', name='itemstatus', native_enum=False, length=20), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['recheck_batches.id'], name=op.f('fk_recheck_batch_items_batch_id_recheck_batches')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_recheck_batch_items_household_id_households')),
    sa.ForeignKeyConstraint(['original_household_id'], ['households.id'], name=op.f('fk_recheck_batch_items_original_household_id_households')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recheck_batch_items')),
    sa.UniqueConstraint('batch_id', 'original_household_id', name=op.f('uq_recheck_batch_items_batch_id_original_household_id')),
    sa.UniqueConstraint('batch_id', 'row', name=op.f('uq_recheck_batch_items_batch_id_row')),
    sa.UniqueConstraint('household_id', name=op.f('uq_recheck_batch_items_household_id'))
    )
    with op.batch_alter_table('recheck_batch_items', schema=None) as batch_op:
        batch_op.create_index('ix_recheck_batch_items_batch_status', ['batch_id', 'status'], unique=False)

    op.create_table('rechecks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False),
    sa.Column('trigger', sa.Enum('objection', 'complaint', 'home_visit', 'other', name='rechecktrigger', native_enum=False, length=20), nullable=False),
    sa.Column('status', sa.Enum('filed', 'declined', 'entrusted', 'completed', 'refused', name='recheckstatus', native_enum=False, length=20), nullable=False),
    sa.Column('original_household_id', sa.Integer(), nullable=False),
    sa.Column('original_instance_id', sa.Integer(), nullable=True),
    sa.Column('initiating_unit_id', sa.Integer(), nullable=False),
    sa.Column('requester_name', sa.String(length=50), nullable=False),
    sa.Column('requested_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('notified_on', sa.Date(), nullable=True),
    sa.Column('objection_deadline', sa.Date(), nullable=True),
    sa.Column('deciding_unit_id', sa.Integer(), nullable=False),
    sa.Column('agency_unit_id', sa.Integer(), nullable=True),
    sa.Column('entrustment_id', sa.Integer(), nullable=True),
    sa.Column('verification_household_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('refusal_code', sa.String(length=40), nullable=True),
    sa.Column('decision_reason', sa.String(length=2000), nullable=True),
    sa.Column('result', sa.String(length=2000), nullable=True),
    sa.Column('report_no', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agency_unit_id'], ['units.id'], name=op.f('fk_rechecks_agency_unit_id_units')),
    sa.ForeignKeyConstraint(['deciding_unit_id'], ['units.id'], name=op.f('fk_rechecks_deciding_unit_id_units')),
    sa.ForeignKeyConstraint(['entrustment_id'], ['entrustments.id'], name=op.f('fk_rechecks_entrustment_id_entrustments')),
    sa.ForeignKeyConstraint(['initiating_unit_id'], ['units.id'], name=op.f('fk_rechecks_initiating_unit_id_units')),
    sa.ForeignKeyConstraint(['instance_id'], ['workflow_instances.id'], name=op.f('fk_rechecks_instance_id_workflow_instances')),
    sa.ForeignKeyConstraint(['original_household_id'], ['households.id'], name=op.f('fk_rechecks_original_household_id_households')),
    sa.ForeignKeyConstraint(['original_instance_id'], ['workflow_instances.id'], name=op.f('fk_rechecks_original_instance_id_workflow_instances')),
    sa.ForeignKeyConstraint(['verification_household_id'], ['households.id'], name=op.f('fk_rechecks_verification_household_id_households')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rechecks')),
    sa.UniqueConstraint('instance_id', name=op.f('uq_rechecks_instance_id')),
    sa.UniqueConstraint('number', name=op.f('uq_rechecks_number')),
    sa.UniqueConstraint('verification_household_id', name=op.f('uq_rechecks_verification_household_id'))
    )
    with op.batch_alter_table('rechecks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rechecks_deciding_unit_id'), ['deciding_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rechecks_initiating_unit_id'), ['initiating_unit_id'], unique=False)
        batch_op.create_index('ix_rechecks_original_status', ['original_household_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_rechecks_status'), ['status'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('rechecks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rechecks_status'))
        batch_op.drop_index('ix_rechecks_original_status')
        batch_op.drop_index(batch_op.f('ix_rechecks_initiating_unit_id'))
        batch_op.drop_index(batch_op.f('ix_rechecks_deciding_unit_id'))

    op.drop_table('rechecks')
    with op.batch_alter_table('recheck_batch_items', schema=None) as batch_op:
        batch_op.drop_index('ix_recheck_batch_items_batch_status')

    op.drop_table('recheck_batch_items')
    with op.batch_alter_table('recheck_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recheck_batches_status'))
        batch_op.drop_index(batch_op.f('ix_recheck_batches_entrusting_unit_id'))
        batch_op.drop_index(batch_op.f('ix_recheck_batches_agency_unit_id'))

    op.drop_table('recheck_batches')

