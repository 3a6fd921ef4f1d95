"""add intake drafts: the intake wizard's server-side drafts and scans, and data-package import jobs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 05:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intake_drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=20), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_intake_drafts_unit_id_units')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_intake_drafts_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_drafts'))
    )
    with op.batch_alter_table('intake_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_drafts_user_id'), ['user_id'], unique=False)

    op.create_table('intake_draft_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('draft_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('person_uid', sa.String(length=40), nullable=True),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['draft_id'], ['intake_drafts.id'],
                            name=op.f('fk_intake_draft_files_draft_id_intake_drafts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_draft_files'))
    )
    with op.batch_alter_table('intake_draft_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_draft_files_draft_id'), ['draft_id'], unique=False)

    op.create_table('import_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('entrusting_unit_id', sa.Integer(), nullable=False),
    sa.Column('agency_unit_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('validating', 'validated', 'importing', 'imported', 'refused', 'failed', 'discarded',
                                name='importjobstatus', native_enum=False, length=20), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('accept_valid_rows', sa.Boolean(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('package', sa.LargeBinary(), nullable=True),
    sa.Column('report', sa.Text(), nullable=True),
    sa.Column('message', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agency_unit_id'], ['units.id'], name=op.f('fk_import_jobs_agency_unit_id_units')),
    sa.ForeignKeyConstraint(['entrusting_unit_id'], ['units.id'],
                            name=op.f('fk_import_jobs_entrusting_unit_id_units')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_import_jobs_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_jobs'))
    )
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_jobs_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_jobs_user_id'))

    op.drop_table('import_jobs')
    with op.batch_alter_table('intake_draft_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_draft_files_draft_id'))

    op.drop_table('intake_draft_files')
    with op.batch_alter_table('intake_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_drafts_user_id'))

    op.drop_table('intake_drafts')
