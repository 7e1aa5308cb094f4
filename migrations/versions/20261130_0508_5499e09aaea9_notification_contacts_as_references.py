"""notification contacts as references

Notification rows used to hold a full copy of the contact (webhook URL and secret, Slack
webhook URL, PagerDuty routing key). They now hold a reference, {"person" or "team": id,
"type": ..., "digest": ...}, resolved against the on-call file when sent (app/paging/contacts.py).
This rewrites the copies already stored; the schema does not change. The digest is computed
here as app/paging/contacts.py computes it (version 1), so this file stays correct if that
module changes.

Downgrade leaves the references: older versions fail such rows as an invalid contact.

Revision ID: 5499e09aaea9
Revises: 2e707918bac3
Create Date: 2026-11-30 05:08:00
"""

import hashlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5499e09aaea9"
down_revision: str | None = "2e707918bac3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADDRESS_FIELD = {"email": "address", "webhook": "url", "slack": "webhook_url", "pagerduty": "routing_key"}
TEAM_PREFIX = "team:"

notification = sa.table(
    "notification",
    sa.column("id", sa.Integer()),
    sa.column("recipient", sa.String()),
    sa.column("contact", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)


def _digest(contact: dict[str, Any]) -> str:
    kind = str(contact.get("type"))
    address = str(contact.get(ADDRESS_FIELD.get(kind, ""), ""))
    return hashlib.sha256(f"incident-bridge/contact/v1\n{kind}\n{address}".encode()).hexdigest()[:16]


def _reference(recipient: str, contact: dict[str, Any]) -> dict[str, str]:
    if recipient.startswith(TEAM_PREFIX):
        owner, owner_id = "team", recipient.removeprefix(TEAM_PREFIX)
    else:
        owner, owner_id = "person", recipient
    return {owner: owner_id, "type": str(contact.get("type")), "digest": _digest(contact)}


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(notification.c.id, notification.c.recipient, notification.c.contact))
    for row_id, recipient, contact in list(rows):
        if not isinstance(contact, dict) or "digest" in contact:
            continue  # already a reference
        bind.execute(
            notification.update()
            .where(notification.c.id == row_id)
            .values(contact=_reference(recipient, contact))
        )


def downgrade() -> None:
    pass  # the copies cannot be restored: the rows no longer hold the secrets
