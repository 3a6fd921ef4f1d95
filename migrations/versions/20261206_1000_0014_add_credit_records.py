"""add credit_records: dishonesty records (失信登记, AU-3), never deleted (refused by trigger)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _no_delete() -> None:
    """A record is revoked, never deleted (JL 20: the disclosure and its withdrawal both stay on record)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION credit_records_no_delete() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'credit records are never deleted'; END $$")
        op.execute("CREATE TRIGGER credit_records_no_delete BEFORE DELETE ON credit_records "
                   "FOR EACH ROW EXECUTE FUNCTION credit_records_no_delete()")
        return
    op.execute("CREATE TRIGGER credit_records_no_delete BEFORE DELETE ON credit_records "
               "BEGIN SELECT RAISE(ABORT, 'credit records are never deleted'); END")


def _drop_no_delete() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS credit_records_no_delete ON credit_records")
        op.execute("DROP FUNCTION IF EXISTS credit_records_no_delete()")
        return
    op.execute("DROP TRIGGER IF EXISTS credit_records_no_delete")


def upgrade() -> None:
    op.create_table('credit_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('case_no', sa.String(length=60), nullable=False),
    sa.Column('report_no', sa.String(length=100), nullable=True),
    sa.Column('recheck_no', sa.String(length=60), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Enum('hid_income', 'hid_property', 'false_statement', 'other', name='creditreason',
                                native_enum=False, length=20), nullable=False),
    sa.Column('reason_detail', sa.String(length=2000), nullable=False),
    sa.Column('legal_basis', sa.String(length=500), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('proposed', 'registered', 'rejected', 'revoked', name='creditstatus',
                                native_enum=False, length=20), nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('proposed_by', sa.String(length=100), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('decision_note', sa.String(length=2000), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=100), nullable=True),
    sa.Column('revoke_reason', sa.String(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'],
                            name=op.f('fk_credit_records_household_id_households')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_credit_records_person_id_persons')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_credit_records_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_records')),
    sa.UniqueConstraint('number', name=op.f('uq_credit_records_number'))
    )
    with op.batch_alter_table('credit_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_records_household_id'), ['household_id'], unique=False)
        batch_op.create_index('ix_credit_records_id_number_status', ['id_number', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_records_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_records_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_records_unit_id'), ['unit_id'], unique=False)
    _no_delete()


def downgrade() -> None:
    _drop_no_delete()
    with op.batch_alter_table('credit_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_records_unit_id'))
        batch_op.drop_index(batch_op.f('ix_credit_records_status'))
        batch_op.drop_index(batch_op.f('ix_credit_records_person_id'))
        batch_op.drop_index('ix_credit_records_id_number_status')
        batch_op.drop_index(batch_op.f('ix_credit_records_household_id'))
    op.drop_table('credit_records')
