"""post-incident reviews and improvement actions; closed incidents and peak severity

Revision ID: e5f6a7b8c9d0
Revises: d4e5f6a7b8c9
Create Date: 2026-11-30 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = 'e5f6a7b8c9d0'
down_revision: str | None = 'd4e5f6a7b8c9'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'review',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('owner', sa.String(length=200), nullable=True),
        sa.Column('due_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('updated_by', sa.String(length=200), nullable=True),
        sa.Column('approved_by', sa.String(length=200), nullable=True),
        sa.Column('approved_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reminded_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_review_incident_id_incident'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_review')),
        sa.UniqueConstraint('incident_id', name=op.f('uq_review_incident_id')),
    )
    op.create_index('ix_review_status_due_at', 'review', ['status', 'due_at'], unique=False)
    op.create_table(
        'review_action',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('owner', sa.String(length=200), nullable=False),
        sa.Column('due_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('priority', sa.String(length=8), nullable=False),
        sa.Column('ticket_url', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('done_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reminded_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_review_action_incident_id_incident'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_review_action')),
    )
    op.create_index('ix_review_action_incident_id', 'review_action', ['incident_id'], unique=False)
    op.create_index('ix_review_action_status_due_at', 'review_action', ['status', 'due_at'], unique=False)
    op.create_index('ix_review_action_owner', 'review_action', ['owner'], unique=False)
    op.create_table(
        'action_digest',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner', sa.String(length=200), nullable=False),
        sa.Column('week', sa.String(length=8), nullable=False),
        sa.Column('sent_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_action_digest')),
        sa.UniqueConstraint('owner', 'week', name=op.f('uq_action_digest_owner_week')),
    )
    op.add_column('incident', sa.Column('peak_severity', sa.String(length=8), nullable=True))
    op.add_column('incident', sa.Column('closed_at', app.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('incident', sa.Column('closed_by', sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column('incident', 'closed_by')
    op.drop_column('incident', 'closed_at')
    op.drop_column('incident', 'peak_severity')
    op.drop_table('action_digest')
    op.drop_index('ix_review_action_owner', table_name='review_action')
    op.drop_index('ix_review_action_status_due_at', table_name='review_action')
    op.drop_index('ix_review_action_incident_id', table_name='review_action')
    op.drop_table('review_action')
    op.drop_index('ix_review_status_due_at', table_name='review')
    op.drop_table('review')
