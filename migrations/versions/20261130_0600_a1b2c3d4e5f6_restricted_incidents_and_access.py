"""restricted incidents and who was granted access (columns are added in place: no table
rebuild, so the partial unique index on open incident keys stays as it is)

Revision ID: a1b2c3d4e5f6
Revises: fa5d6cd9f2d5
Create Date: 2026-11-30 06:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = 'a1b2c3d4e5f6'
down_revision: str | None = 'fa5d6cd9f2d5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('incident_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('person', sa.String(length=200), nullable=False),
    sa.Column('granted_by', sa.String(length=200), nullable=False),
    sa.Column('granted_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_access_incident_id_incident'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_access')),
    sa.UniqueConstraint('incident_id', 'person', name=op.f('uq_incident_access_incident_id_person'))
    )
    # ALTER TABLE ... ADD COLUMN on both databases: never a batch rebuild of `incident`.
    op.add_column('incident', sa.Column('restricted', sa.Boolean(), server_default=sa.text('false'), nullable=False))


def downgrade() -> None:
    # In place too (SQLite 3.35+ has DROP COLUMN): a rebuild would lose the partial index.
    op.drop_column('incident', 'restricted')
    op.drop_table('incident_access')
