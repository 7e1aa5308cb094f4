"""heartbeats: when each declared heartbeat last beat, and the incident its silence opened

Revision ID: a7b8c9d0e1f2
Revises: f6a7b8c9d0e1
Create Date: 2026-12-02 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = 'a7b8c9d0e1f2'
down_revision: str | None = 'f6a7b8c9d0e1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'heartbeat',
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('declared_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_beat_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('beats', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['incident_id'], ['incident.id'], name=op.f('fk_heartbeat_incident_id_incident'), ondelete='SET NULL'
        ),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_heartbeat')),
    )


def downgrade() -> None:
    op.drop_table('heartbeat')
