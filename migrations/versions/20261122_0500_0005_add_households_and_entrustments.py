"""add households and entrustments: 委托书, households (cases), persons, 授权书, documents, case numbers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_counters',
    sa.Column('agency_unit_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agency_unit_id'], ['units.id'], name=op.f('fk_case_counters_agency_unit_id_units')),
    sa.PrimaryKeyConstraint('agency_unit_id', 'year', 'kind', name=op.f('pk_case_counters'))
    )
    op.create_table('entrustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False),
    sa.Column('entrusting_unit_id', sa.Integer(), nullable=False),
    sa.Column('agency_unit_id', sa.Integer(), nullable=False),
    sa.Column('contact_name', sa.String(length=50), nullable=False),
    sa.Column('contact_phone', sa.String(length=30), nullable=False),
    sa.Column('entrusted_on', sa.Date(), nullable=False),
    sa.Column('household_count', sa.Integer(), nullable=False),
    sa.Column('person_count', sa.Integer(), nullable=False),
    sa.Column('source', sa.Enum('paper', 'package', 'api', 'upward', name='entrustmentsource', native_enum=False, length=20), nullable=False),
    sa.Column('package_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['agency_unit_id'], ['units.id'], name=op.f('fk_entrustments_agency_unit_id_units')),
    sa.ForeignKeyConstraint(['entrusting_unit_id'], ['units.id'], name=op.f('fk_entrustments_entrusting_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entrustments')),
    sa.UniqueConstraint('agency_unit_id', 'number', name=op.f('uq_entrustments_agency_unit_id_number'))
    )
    with op.batch_alter_table('entrustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entrustments_agency_unit_id'), ['agency_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_entrustments_entrusting_unit_id'), ['entrusting_unit_id'], unique=False)

    op.create_table('households',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entrustment_id', sa.Integer(), nullable=False),
    sa.Column('case_no', sa.String(length=60), nullable=False),
    sa.Column('business_type', sa.String(length=20), nullable=False),
    sa.Column('business_other', sa.String(length=100), nullable=True),
    sa.Column('rule_set', sa.String(length=40), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('applicant_phone', sa.String(length=30), nullable=True),
    sa.Column('note', sa.String(length=2000), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('open', 'closed', 'cancelled', name='casestatus', native_enum=False, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entrustment_id'], ['entrustments.id'], name=op.f('fk_households_entrustment_id_entrustments')),
    sa.ForeignKeyConstraint(['instance_id'], ['workflow_instances.id'], name=op.f('fk_households_instance_id_workflow_instances')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_households_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_households')),
    sa.UniqueConstraint('case_no', name=op.f('uq_households_case_no')),
    sa.UniqueConstraint('instance_id', name=op.f('uq_households_instance_id'))
    )
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_households_entrustment_id'), ['entrustment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_households_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_households_status'), ['status'], unique=False)

    op.create_table('authorisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('business_types', sa.Text(), nullable=False),
    sa.Column('business_other', sa.String(length=100), nullable=True),
    sa.Column('signed_on', sa.Date(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('handler_name', sa.String(length=50), nullable=True),
    sa.Column('end_reason', sa.String(length=30), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.String(length=100), nullable=True),
    sa.Column('superseded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_authorisations_household_id_households')),
    sa.ForeignKeyConstraint(['superseded_by_id'], ['authorisations.id'], name=op.f('fk_authorisations_superseded_by_id_authorisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authorisations'))
    )
    with op.batch_alter_table('authorisations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorisations_household_id'), ['household_id'], unique=False)

    op.create_table('persons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('member', 'obligor', name='personrole', native_enum=False, length=20), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=True),
    sa.Column('relation', sa.String(length=30), nullable=False),
    sa.Column('inclusion_rule', sa.String(length=30), nullable=True),
    sa.Column('is_included', sa.Boolean(), nullable=False),
    sa.Column('duty', sa.String(length=20), nullable=True),
    sa.Column('evidence', sa.String(length=500), nullable=True),
    sa.Column('residence_address', sa.String(length=255), nullable=False),
    sa.Column('hukou_location', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_persons_household_id_households')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_persons')),
    sa.UniqueConstraint('household_id', 'id_number', name=op.f('uq_persons_household_id_id_number'))
    )
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_persons_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_persons_id_number'), ['id_number'], unique=False)

    op.create_table('authorisation_persons',
    sa.Column('authorisation_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('signature', sa.String(length=20), nullable=False),
    sa.Column('signed_by', sa.String(length=50), nullable=True),
    sa.Column('note', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['authorisation_id'], ['authorisations.id'], name=op.f('fk_authorisation_persons_authorisation_id_authorisations')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_authorisation_persons_person_id_persons')),
    sa.PrimaryKeyConstraint('authorisation_id', 'person_id', name=op.f('pk_authorisation_persons'))
    )
    with op.batch_alter_table('authorisation_persons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorisation_persons_person_id'), ['person_id'], unique=False)

    op.create_table('documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('entrustment_id', sa.Integer(), nullable=True),
    sa.Column('authorisation_id', sa.Integer(), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('authorisation', 'id_card', 'hukou', 'entrustment', 'evidence', 'other', name='documentkind', native_enum=False, length=20), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['authorisation_id'], ['authorisations.id'], name=op.f('fk_documents_authorisation_id_authorisations')),
    sa.ForeignKeyConstraint(['entrustment_id'], ['entrustments.id'], name=op.f('fk_documents_entrustment_id_entrustments')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_documents_household_id_households')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_documents_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents'))
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_authorisation_id'), ['authorisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_entrustment_id'), ['entrustment_id'], unique=False)
        batch_op.create_index('ix_documents_household_kind', ['household_id', 'kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_person_id'), ['person_id'], unique=False)

    op.create_table('document_blobs',
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_document_blobs_document_id_documents')),
    sa.PrimaryKeyConstraint('document_id', name=op.f('pk_document_blobs'))
    )


def downgrade() -> None:
    op.drop_table('document_blobs')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_person_id'))
        batch_op.drop_index('ix_documents_household_kind')
        batch_op.drop_index(batch_op.f('ix_documents_entrustment_id'))
        batch_op.drop_index(batch_op.f('ix_documents_authorisation_id'))

    op.drop_table('documents')
    with op.batch_alter_table('authorisation_persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorisation_persons_person_id'))

    op.drop_table('authorisation_persons')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_persons_id_number'))
        batch_op.drop_index(batch_op.f('ix_persons_household_id'))

    op.drop_table('persons')
    with op.batch_alter_table('authorisations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorisations_household_id'))

    op.drop_table('authorisations')
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_households_status'))
        batch_op.drop_index(batch_op.f('ix_households_region_code'))
        batch_op.drop_index(batch_op.f('ix_households_entrustment_id'))

    op.drop_table('households')
    with op.batch_alter_table('entrustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entrustments_entrusting_unit_id'))
        batch_op.drop_index(batch_op.f('ix_entrustments_agency_unit_id'))

    op.drop_table('entrustments')
    op.drop_table('case_counters')
