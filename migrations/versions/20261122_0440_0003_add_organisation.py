"""add organisation: regions, units, memberships, exchange registrations, API tokens, case ownership

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:40:34.525144
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


#: whose staff act in a role on a case (roles not listed stay "agency")
PARTIES = {
    "entrusting": ["street_clerk", "assistance_officer"],
    "sharing": ["sharing_officer"],
    "none": ["supervisor", "auditor", "process_designer", "admin"],
}


def upgrade() -> None:
    op.create_table('regions',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.Enum('province', 'city', 'county', 'town', 'village', name='regionlevel', native_enum=False, length=30), nullable=False),
    sa.Column('parent_code', sa.String(length=12), nullable=True),
    sa.Column('path', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['parent_code'], ['regions.code'], name=op.f('fk_regions_parent_code_regions')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_regions'))
    )
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_regions_parent_code'), ['parent_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_regions_path'), ['path'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.Enum('verification_agency', 'entrusting_department', 'sharing_unit', 'village_committee', 'supervisor', name='unitkind', native_enum=False, length=30), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('categories', sa.String(length=500), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_units_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_units')),
    sa.UniqueConstraint('code', name=op.f('uq_units_code'))
    )
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_units_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_units_region_code'), ['region_code'], unique=False)

    op.create_table('exchange_registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('sharing_unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('side', sa.Enum('agency', 'sharing_unit', name='exchangeside', native_enum=False, length=30), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('registered_by', sa.String(length=64), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['sharing_unit_id'], ['units.id'], name=op.f('fk_exchange_registrations_sharing_unit_id_units')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_exchange_registrations_unit_id_units')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_exchange_registrations_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_registrations'))
    )
    with op.batch_alter_table('exchange_registrations', schema=None) as batch_op:
        batch_op.create_index('ix_exchange_registrations_lookup', ['sharing_unit_id', 'user_id'], unique=False)

    op.create_table('memberships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('role_code', sa.String(length=64), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('granted_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['role_code'], ['roles.code'], name=op.f('fk_memberships_role_code_roles')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_memberships_unit_id_units')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
    sa.UniqueConstraint('user_id', 'unit_id', 'role_code', name=op.f('uq_memberships_user_id_unit_id_role_code'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index('ix_memberships_unit_role', ['unit_id', 'role_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_memberships_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_human_tasks_unit_id'), ['unit_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_human_tasks_unit_id_units'), 'units', ['unit_id'], ['id'])

    with op.batch_alter_table('roles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('party', sa.String(length=20), nullable=False, server_default="agency"))
    for party, codes in PARTIES.items():
        op.execute(sa.text("UPDATE roles SET party = :party WHERE code IN :codes")
                   .bindparams(sa.bindparam("codes", expanding=True)).bindparams(party=party, codes=codes))

    with op.batch_alter_table('workflow_instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agency_unit_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('entrusting_unit_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('region_code', sa.String(length=12), nullable=True))
        batch_op.create_index(batch_op.f('ix_workflow_instances_agency_unit_id'), ['agency_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_workflow_instances_entrusting_unit_id'), ['entrusting_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_workflow_instances_region_code'), ['region_code'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_workflow_instances_entrusting_unit_id_units'), 'units', ['entrusting_unit_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_workflow_instances_agency_unit_id_units'), 'units', ['agency_unit_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_workflow_instances_region_code_regions'), 'regions', ['region_code'], ['code'])



def downgrade() -> None:
    with op.batch_alter_table('workflow_instances', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_workflow_instances_region_code_regions'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_workflow_instances_agency_unit_id_units'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_workflow_instances_entrusting_unit_id_units'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_workflow_instances_region_code'))
        batch_op.drop_index(batch_op.f('ix_workflow_instances_entrusting_unit_id'))
        batch_op.drop_index(batch_op.f('ix_workflow_instances_agency_unit_id'))
        batch_op.drop_column('region_code')
        batch_op.drop_column('entrusting_unit_id')
        batch_op.drop_column('agency_unit_id')

    with op.batch_alter_table('roles', schema=None) as batch_op:
        batch_op.drop_column('party')

    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_human_tasks_unit_id_units'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_human_tasks_unit_id'))
        batch_op.drop_column('unit_id')

    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_memberships_user_id'))
        batch_op.drop_index('ix_memberships_unit_role')

    op.drop_table('memberships')
    with op.batch_alter_table('exchange_registrations', schema=None) as batch_op:
        batch_op.drop_index('ix_exchange_registrations_lookup')

    op.drop_table('exchange_registrations')
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_units_region_code'))
        batch_op.drop_index(batch_op.f('ix_units_kind'))

    op.drop_table('units')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_regions_path'))
        batch_op.drop_index(batch_op.f('ix_regions_parent_code'))

    op.drop_table('regions')
