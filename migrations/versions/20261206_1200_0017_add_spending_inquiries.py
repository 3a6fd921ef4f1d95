"""add spending inquiries: the 支出调查 of a case and the spending it found (DO-9, BJ 第十四条)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('spending_inquiries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('basis', sa.String(length=1000), nullable=False),
    sa.Column('declared_monthly_income', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('status', sa.Enum('open', 'concluded', name='inquirystatus', native_enum=False, length=20), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_by', sa.String(length=100), nullable=False),
    sa.Column('outcome', sa.Enum('explained', 'unexplained', 'inconclusive', name='inquiryoutcome', native_enum=False, length=20), nullable=True),
    sa.Column('conclusion', sa.String(length=2000), nullable=True),
    sa.Column('concluded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('concluded_by', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_spending_inquiries_household_id_households')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_spending_inquiries_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spending_inquiries')),
    sa.UniqueConstraint('household_id', name=op.f('uq_spending_inquiries_household_id'))
    )
    with op.batch_alter_table('spending_inquiries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spending_inquiries_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_spending_inquiries_unit_id'), ['unit_id'], unique=False)

    op.create_table('spending_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inquiry_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('spent_on', sa.Date(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('voided_by', sa.String(length=100), nullable=True),
    sa.Column('void_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['inquiry_id'], ['spending_inquiries.id'], name=op.f('fk_spending_items_inquiry_id_spending_inquiries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spending_items'))
    )
    with op.batch_alter_table('spending_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spending_items_inquiry_id'), ['inquiry_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('spending_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spending_items_inquiry_id'))

    op.drop_table('spending_items')
    with op.batch_alter_table('spending_inquiries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spending_inquiries_unit_id'))
        batch_op.drop_index(batch_op.f('ix_spending_inquiries_status'))

    op.drop_table('spending_inquiries')
