"""each key's newest incident is one backward step on (key, id)

Revision ID: b8c9d0e1f2a3
Revises: a7b8c9d0e1f2
Create Date: 2026-12-02 13:00:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = 'b8c9d0e1f2a3'
down_revision: str | None = 'a7b8c9d0e1f2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # (key, id) serves every lookup by key that (key, resolved_at) served; no query reads
    # resolved_at through it.
    op.create_index('ix_incident_key_id', 'incident', ['key', 'id'], unique=False)
    op.drop_index('ix_incident_key_resolved_at', table_name='incident')


def downgrade() -> None:
    op.create_index('ix_incident_key_resolved_at', 'incident', ['key', 'resolved_at'], unique=False)
    op.drop_index('ix_incident_key_id', table_name='incident')
