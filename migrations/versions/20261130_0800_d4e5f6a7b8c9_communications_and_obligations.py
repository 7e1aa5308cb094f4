"""communications, obligations and recorded moments (new tables; two nullable notification columns)

Revision ID: d4e5f6a7b8c9
Revises: c3d4e5f6a7b8
Create Date: 2026-11-30 08:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = 'd4e5f6a7b8c9'
down_revision: str | None = 'c3d4e5f6a7b8'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT = sa.text("status IN ('pending', 'draft', 'approved')")


def upgrade() -> None:
    op.create_table(
        'communication',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('policy', sa.String(length=80), nullable=False),
        sa.Column('audience', sa.String(length=80), nullable=False),
        sa.Column('template', sa.String(length=80), nullable=False),
        sa.Column('channel', sa.String(length=200), nullable=False),
        sa.Column('approval', sa.Boolean(), nullable=False),
        sa.Column('holding', sa.Boolean(), nullable=False),
        sa.Column('every_s', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('due_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('edited_by', sa.String(length=200), nullable=True),
        sa.Column('approved_by', sa.String(length=200), nullable=True),
        sa.Column('approved_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('sent_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('sent_by', sa.String(length=200), nullable=True),
        sa.Column('sent_text', sa.Text(), nullable=True),
        sa.Column('via', sa.String(length=200), nullable=True),
        sa.Column('late_reason', sa.Text(), nullable=True),
        sa.Column('cancel_reason', sa.Text(), nullable=True),
        sa.Column('reminded_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('postponed_by', sa.String(length=200), nullable=True),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_communication_incident_id_incident'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_communication')),
        sa.UniqueConstraint('incident_id', 'key', 'sequence', name=op.f('uq_communication_incident_id_key_sequence')),
    )
    op.create_index('ix_communication_unsent_due_at', 'communication', ['due_at'], unique=False,
                    sqlite_where=UNSENT, postgresql_where=UNSENT)
    op.create_table(
        'obligation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('regime', sa.String(length=80), nullable=False),
        sa.Column('stage', sa.String(length=80), nullable=False),
        sa.Column('due_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('basis', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('initial_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('initial_by', sa.String(length=200), nullable=True),
        sa.Column('completed_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('completed_by', sa.String(length=200), nullable=True),
        sa.Column('reference', sa.String(length=500), nullable=True),
        sa.Column('late_reason', sa.Text(), nullable=True),
        sa.Column('reminded_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_obligation_incident_id_incident'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_obligation')),
        sa.UniqueConstraint('incident_id', 'regime', 'stage', name=op.f('uq_obligation_incident_id_regime_stage')),
    )
    op.create_index('ix_obligation_status_due_at', 'obligation', ['status', 'due_at'], unique=False)
    op.create_table(
        'incident_moment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('by', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_moment_incident_id_incident'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_moment')),
        sa.UniqueConstraint('incident_id', 'name', name=op.f('uq_incident_moment_incident_id_name')),
    )
    op.add_column('notification', sa.Column('communication_id', sa.Integer(), nullable=True))
    op.add_column('notification', sa.Column('body', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('notification', 'body')
    op.drop_column('notification', 'communication_id')
    op.drop_table('incident_moment')
    op.drop_index('ix_obligation_status_due_at', table_name='obligation')
    op.drop_table('obligation')
    op.drop_index('ix_communication_unsent_due_at', table_name='communication')
    op.drop_table('communication')
