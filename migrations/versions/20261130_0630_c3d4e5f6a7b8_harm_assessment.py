"""harm assessment of an incident, one row per version (a new table: no rebuild of existing ones)

Revision ID: c3d4e5f6a7b8
Revises: b2c3d4e5f6a7
Create Date: 2026-11-30 06:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db

revision: str = 'c3d4e5f6a7b8'
down_revision: str | None = 'b2c3d4e5f6a7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'harm_assessment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
        sa.Column('by', sa.String(length=200), nullable=False),
        sa.Column('reason', sa.Text(), server_default='', nullable=False),
        sa.Column('at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_harm_assessment_incident_id_incident'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_harm_assessment')),
        sa.UniqueConstraint('incident_id', 'version', name=op.f('uq_harm_assessment_incident_id_version')),
    )


def downgrade() -> None:
    op.drop_table('harm_assessment')
