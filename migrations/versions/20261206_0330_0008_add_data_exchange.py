"""add data exchange: sharing-unit profiles and keys, requests, batches, imports, results, delay notices, nonces

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 03:48:41.999830
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exchange_nonces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_code', sa.String(length=40), nullable=False),
    sa.Column('nonce', sa.String(length=100), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_nonces')),
    sa.UniqueConstraint('unit_code', 'nonce', name=op.f('uq_exchange_nonces_unit_code_nonce'))
    )
    with op.batch_alter_table('exchange_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_nonces_expires_at'), ['expires_at'], unique=False)

    op.create_table('exchange_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_no', sa.String(length=60), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('agency_unit_id', sa.Integer(), nullable=True),
    sa.Column('mode', sa.Enum('system', 'media', 'both', name='exchangemode', native_enum=False, length=10), nullable=False),
    sa.Column('status', sa.Enum('prepared', 'confirmed', 'sent', 'answered', name='batchstatus', native_enum=False, length=20), nullable=False),
    sa.Column('request_count', sa.Integer(), nullable=False),
    sa.Column('person_count', sa.Integer(), nullable=False),
    sa.Column('prepared_by', sa.String(length=100), nullable=False),
    sa.Column('prepared_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_by', sa.String(length=100), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('package_sha256', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['agency_unit_id'], ['units.id'], name=op.f('fk_exchange_batches_agency_unit_id_units')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_exchange_batches_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_batches')),
    sa.UniqueConstraint('batch_no', name=op.f('uq_exchange_batches_batch_no'))
    )
    with op.batch_alter_table('exchange_batches', schema=None) as batch_op:
        batch_op.create_index('ix_exchange_batches_status_next', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchange_batches_unit_id'), ['unit_id'], unique=False)

    op.create_table('exchange_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('secret', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_exchange_keys_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_exchange_keys_key_id'))
    )
    with op.batch_alter_table('exchange_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_keys_unit_id'), ['unit_id'], unique=False)

    op.create_table('exchange_profiles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.Enum('system', 'media', 'both', name='exchangemode', native_enum=False, length=10), nullable=False),
    sa.Column('endpoint', sa.String(length=255), nullable=True),
    sa.Column('signing_algorithm', sa.String(length=20), nullable=False),
    sa.Column('agreement_no', sa.String(length=100), nullable=True),
    sa.Column('agreement_title', sa.String(length=200), nullable=True),
    sa.Column('agreement_sha256', sa.String(length=64), nullable=True),
    sa.Column('agreement_document', sa.LargeBinary(), nullable=True),
    sa.Column('agreement_valid_from', sa.Date(), nullable=True),
    sa.Column('agreement_valid_to', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_exchange_profiles_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_profiles')),
    sa.UniqueConstraint('unit_id', name=op.f('uq_exchange_profiles_unit_id'))
    )
    op.create_table('exchange_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.String(length=100), nullable=False),
    sa.Column('source', sa.Enum('system', 'media', 'both', name='exchangemode', native_enum=False, length=10), nullable=False),
    sa.Column('status', sa.Enum('staged', 'applied', name='importstatus', native_enum=False, length=20), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('records', sa.Text(), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('staged_by', sa.String(length=100), nullable=False),
    sa.Column('staged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_by', sa.String(length=100), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['exchange_batches.id'], name=op.f('fk_exchange_imports_batch_id_exchange_batches')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_exchange_imports_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_imports')),
    sa.UniqueConstraint('unit_id', 'delivery_id', name=op.f('uq_exchange_imports_unit_id_delivery_id'))
    )
    with op.batch_alter_table('exchange_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_imports_batch_id'), ['batch_id'], unique=False)

    op.create_table('exchange_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('case_no', sa.String(length=60), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('agency_unit_id', sa.Integer(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('open', 'batched', 'sent', 'answered', 'overdue', name='requeststatus', native_enum=False, length=20), nullable=False),
    sa.Column('reply_due', sa.DateTime(timezone=True), nullable=False),
    sa.Column('extended_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agency_unit_id'], ['units.id'], name=op.f('fk_exchange_requests_agency_unit_id_units')),
    sa.ForeignKeyConstraint(['batch_id'], ['exchange_batches.id'], name=op.f('fk_exchange_requests_batch_id_exchange_batches')),
    sa.ForeignKeyConstraint(['instance_id'], ['workflow_instances.id'], name=op.f('fk_exchange_requests_instance_id_workflow_instances')),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox_messages.id'], name=op.f('fk_exchange_requests_outbox_id_outbox_messages')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_exchange_requests_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_requests')),
    sa.UniqueConstraint('case_no', 'unit_id', name=op.f('uq_exchange_requests_case_no_unit_id')),
    sa.UniqueConstraint('outbox_id', name=op.f('uq_exchange_requests_outbox_id'))
    )
    with op.batch_alter_table('exchange_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_requests_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchange_requests_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_exchange_requests_unit_status', ['unit_id', 'status'], unique=False)

    op.create_table('exchange_delay_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('document_name', sa.String(length=255), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.Column('document', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['exchange_requests.id'], name=op.f('fk_exchange_delay_notices_request_id_exchange_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_delay_notices')),
    sa.UniqueConstraint('request_id', name=op.f('uq_exchange_delay_notices_request_id'))
    )
    op.create_table('exchange_request_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=True),
    sa.Column('categories', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_exchange_request_lines_person_id_persons')),
    sa.ForeignKeyConstraint(['request_id'], ['exchange_requests.id'], name=op.f('fk_exchange_request_lines_request_id_exchange_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_request_lines'))
    )
    with op.batch_alter_table('exchange_request_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_request_lines_request_id'), ['request_id'], unique=False)

    op.create_table('exchange_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('status', sa.Enum('found', 'none', 'pending', 'overdue', name='resultstatus', native_enum=False, length=20), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.Column('normalised', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['exchange_imports.id'], name=op.f('fk_exchange_results_import_id_exchange_imports')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_exchange_results_person_id_persons')),
    sa.ForeignKeyConstraint(['request_id'], ['exchange_requests.id'], name=op.f('fk_exchange_results_request_id_exchange_requests')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_exchange_results_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_results')),
    sa.UniqueConstraint('request_id', 'person_id', 'category', name=op.f('uq_exchange_results_request_id_person_id_category'))
    )
    with op.batch_alter_table('exchange_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_results_person_id'), ['person_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('exchange_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_results_person_id'))

    op.drop_table('exchange_results')
    with op.batch_alter_table('exchange_request_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_request_lines_request_id'))

    op.drop_table('exchange_request_lines')
    op.drop_table('exchange_delay_notices')
    with op.batch_alter_table('exchange_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_exchange_requests_unit_status')
        batch_op.drop_index(batch_op.f('ix_exchange_requests_instance_id'))
        batch_op.drop_index(batch_op.f('ix_exchange_requests_batch_id'))

    op.drop_table('exchange_requests')
    with op.batch_alter_table('exchange_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_imports_batch_id'))

    op.drop_table('exchange_imports')
    op.drop_table('exchange_profiles')
    with op.batch_alter_table('exchange_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_keys_unit_id'))

    op.drop_table('exchange_keys')
    with op.batch_alter_table('exchange_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_batches_unit_id'))
        batch_op.drop_index('ix_exchange_batches_status_next')

    op.drop_table('exchange_batches')
    with op.batch_alter_table('exchange_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_nonces_expires_at'))

    op.drop_table('exchange_nonces')
