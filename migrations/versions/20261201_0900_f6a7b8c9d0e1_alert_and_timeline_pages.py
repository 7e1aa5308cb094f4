"""an incident's alerts and timeline read a page at a time: keyset indexes

Revision ID: f6a7b8c9d0e1
Revises: e5f6a7b8c9d0
Create Date: 2026-12-01 09:00:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = 'f6a7b8c9d0e1'
down_revision: str | None = 'e5f6a7b8c9d0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_alert_incident_id_id', 'alert', ['incident_id', 'id'], unique=False)
    # (incident_id, at, id) serves every query (incident_id, at) served, and orders ties by id.
    op.create_index(
        'ix_incident_event_incident_id_at_id', 'incident_event', ['incident_id', 'at', 'id'], unique=False
    )
    op.drop_index('ix_incident_event_incident_id_at', table_name='incident_event')


def downgrade() -> None:
    op.create_index('ix_incident_event_incident_id_at', 'incident_event', ['incident_id', 'at'], unique=False)
    op.drop_index('ix_incident_event_incident_id_at_id', table_name='incident_event')
    op.drop_index('ix_alert_incident_id_id', table_name='alert')
