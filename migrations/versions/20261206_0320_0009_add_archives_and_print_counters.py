"""add archives and print counters: sealed case archives (immutable by trigger) and per-document print counters

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 03:20:08.559676
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: archives are written once and never changed (AR-4): UPDATE and DELETE are refused by the database
IMMUTABLE = ("archives", "archive_items", "archive_item_blobs")


def _immutable() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION archives_immutable() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'archives are immutable'; END $$")
        for table in IMMUTABLE:
            op.execute(f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION archives_immutable()")
        return
    for table in IMMUTABLE:
        op.execute(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
                   "BEGIN SELECT RAISE(ABORT, 'archives are immutable'); END")
        op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                   "BEGIN SELECT RAISE(ABORT, 'archives are immutable'); END")


def _drop_immutable() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in IMMUTABLE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
        op.execute("DROP FUNCTION IF EXISTS archives_immutable()")
        return
    for table in IMMUTABLE:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def upgrade() -> None:
    op.create_table('print_counters',
    sa.Column('document_key', sa.String(length=80), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_printed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_printed_by', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('document_key', name=op.f('pk_print_counters'))
    )
    op.create_table('archives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_no', sa.String(length=60), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('agency_code', sa.String(length=40), nullable=False),
    sa.Column('agency_name', sa.String(length=100), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('sealed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sealed_by', sa.String(length=100), nullable=False),
    sa.Column('manifest', sa.Text(), nullable=False),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_archives_household_id_households')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archives')),
    sa.UniqueConstraint('case_no', name=op.f('uq_archives_case_no')),
    sa.UniqueConstraint('household_id', name=op.f('uq_archives_household_id'))
    )
    with op.batch_alter_table('archives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_archives_agency_code'), ['agency_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_archives_region_code'), ['region_code'], unique=False)

    op.create_table('archive_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('archive_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('business_id', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('retention_years', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['archive_id'], ['archives.id'], name=op.f('fk_archive_items_archive_id_archives')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_items')),
    sa.UniqueConstraint('archive_id', 'position', name=op.f('uq_archive_items_archive_id_position'))
    )
    with op.batch_alter_table('archive_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_archive_items_archive_id'), ['archive_id'], unique=False)

    op.create_table('archive_item_blobs',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['archive_items.id'],
                            name=op.f('fk_archive_item_blobs_item_id_archive_items')),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_archive_item_blobs'))
    )
    _immutable()


def downgrade() -> None:
    _drop_immutable()
    op.drop_table('archive_item_blobs')
    with op.batch_alter_table('archive_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archive_items_archive_id'))

    op.drop_table('archive_items')
    with op.batch_alter_table('archives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archives_region_code'))
        batch_op.drop_index(batch_op.f('ix_archives_agency_code'))

    op.drop_table('archives')
    op.drop_table('print_counters')
