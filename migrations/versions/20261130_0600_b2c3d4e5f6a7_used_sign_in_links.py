"""used sign-in links (each sign-in link works once)

Revision ID: b2c3d4e5f6a7
Revises: a1b2c3d4e5f6
Create Date: 2026-11-30 06:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = 'b2c3d4e5f6a7'
down_revision: str | None = 'a1b2c3d4e5f6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'used_sign_in_link',
        sa.Column('token_id', sa.String(length=64), nullable=False),
        sa.Column('person', sa.String(length=200), nullable=False),
        sa.Column('used_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('token_id', name=op.f('pk_used_sign_in_link')),
    )


def downgrade() -> None:
    op.drop_table('used_sign_in_link')
