"""add reports: issued 核对报告 snapshots, immutable by trigger, numbered per agency and year

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _immutable() -> None:
    """A report never changes (DO-7, RPT-06): UPDATE and DELETE are refused by the database."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION reports_immutable() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'reports are immutable'; END $$")
        op.execute("CREATE TRIGGER reports_immutable BEFORE UPDATE OR DELETE ON reports "
                   "FOR EACH ROW EXECUTE FUNCTION reports_immutable()")
        return
    op.execute("CREATE TRIGGER reports_no_update BEFORE UPDATE ON reports "
               "BEGIN SELECT RAISE(ABORT, 'reports are immutable'); END")
    op.execute("CREATE TRIGGER reports_no_delete BEFORE DELETE ON reports "
               "BEGIN SELECT RAISE(ABORT, 'reports are immutable'); END")


def _drop_immutable() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS reports_immutable ON reports")
        op.execute("DROP FUNCTION IF EXISTS reports_immutable()")
        return
    op.execute("DROP TRIGGER IF EXISTS reports_no_update")
    op.execute("DROP TRIGGER IF EXISTS reports_no_delete")


def upgrade() -> None:
    op.create_table('reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('verification', 'reverification', name='reportkind', native_enum=False, length=20),
              nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False),
    sa.Column('agency_unit_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('case_no', sa.String(length=60), nullable=False),
    sa.Column('addressee_unit_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by', sa.String(length=100), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['addressee_unit_id'], ['units.id'], name=op.f('fk_reports_addressee_unit_id_units')),
    sa.ForeignKeyConstraint(['agency_unit_id'], ['units.id'], name=op.f('fk_reports_agency_unit_id_units')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_reports_household_id_households')),
    sa.ForeignKeyConstraint(['instance_id'], ['workflow_instances.id'],
                            name=op.f('fk_reports_instance_id_workflow_instances')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['reports.id'], name=op.f('fk_reports_supersedes_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('agency_unit_id', 'number', name=op.f('uq_reports_agency_unit_id_number')),
    sa.UniqueConstraint('agency_unit_id', 'year', 'seq', name=op.f('uq_reports_agency_unit_id_year_seq')),
    sa.UniqueConstraint('supersedes_id', name=op.f('uq_reports_supersedes_id'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_agency_unit_id'), ['agency_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_case_no'), ['case_no'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_instance_id'), ['instance_id'], unique=False)
    _immutable()


def downgrade() -> None:
    _drop_immutable()
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_instance_id'))
        batch_op.drop_index(batch_op.f('ix_reports_household_id'))
        batch_op.drop_index(batch_op.f('ix_reports_case_no'))
        batch_op.drop_index(batch_op.f('ix_reports_agency_unit_id'))
    op.drop_table('reports')
