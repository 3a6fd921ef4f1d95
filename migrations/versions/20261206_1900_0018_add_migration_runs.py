"""add migration runs: background 版本迁移 runs, committed chunk by chunk, and the cases they did not move

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('migration_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.String(length=100), nullable=False),
    sa.Column('from_definition_id', sa.Integer(), nullable=False),
    sa.Column('to_definition_id', sa.Integer(), nullable=False),
    sa.Column('active_definition_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'paused', 'done', 'cancelled', name='migrationrunstatus', native_enum=False, length=20), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_by_role', sa.String(length=40), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('migrated', sa.Integer(), nullable=False),
    sa.Column('blocked', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('after_instance_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('progressed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['from_definition_id'], ['process_definitions.id'], name=op.f('fk_migration_runs_from_definition_id_process_definitions')),
    sa.ForeignKeyConstraint(['to_definition_id'], ['process_definitions.id'], name=op.f('fk_migration_runs_to_definition_id_process_definitions')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_migration_runs_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_migration_runs')),
    sa.UniqueConstraint('active_definition_id', name=op.f('uq_migration_runs_active_definition_id'))
    )
    with op.batch_alter_table('migration_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_migration_runs_process_id'), ['process_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_migration_runs_status'), ['status'], unique=False)

    op.create_table('migration_run_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('business_key', sa.String(length=100), nullable=True),
    sa.Column('outcome', sa.Enum('blocked', 'failed', name='caseoutcome', native_enum=False, length=20), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['workflow_instances.id'], name=op.f('fk_migration_run_cases_instance_id_workflow_instances')),
    sa.ForeignKeyConstraint(['run_id'], ['migration_runs.id'], name=op.f('fk_migration_run_cases_run_id_migration_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_migration_run_cases')),
    sa.UniqueConstraint('run_id', 'instance_id', name=op.f('uq_migration_run_cases_run_id_instance_id'))
    )


def downgrade() -> None:
    op.drop_table('migration_run_cases')
    with op.batch_alter_table('migration_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_migration_runs_status'))
        batch_op.drop_index(batch_op.f('ix_migration_runs_process_id'))

    op.drop_table('migration_runs')
