"""The migration that turns stored contact copies into references, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.orm import Session

from app.db import JSONType, UTCDateTime, build_engine
from app.models import Notification
from app.oncall.schemas import PagerDutyContact, SlackContact, WebhookContact
from app.paging import contacts
from tests.support import fresh_database, migrate_to

BEFORE = "2e707918bac3"  # the revision whose rows hold full contact copies
OLD_INCIDENT = Table(
    "incident",
    MetaData(),
    Column("id", Integer, primary_key=True),
    *(Column(name, String) for name in ("key", "rule", "status", "type", "severity")),
    Column("title", Text),
    Column("labels", JSONType),
    *(Column(name, Integer) for name in ("alert_count", "firing_count", "flap_count")),
    *(Column(name, Boolean) for name in ("auto_resolve", "unowned")),
    *(Column(name, UTCDateTime) for name in ("opened_at", "last_alert_at", "updated_at")),
)
NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
SLACK = {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T0/B0/SECRET", "urgency": ["high"]}
HOOK = {
    "type": "webhook",
    "url": "https://hooks.test/in",
    "secret": "hook-secret",
    "urgency": ["high", "low"],
}
PD = {"type": "pagerduty", "routing_key": "0123456789abcdef0123456789abcdef", "urgency": ["high"]}


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path, "bridge_migration") as url:
        yield url


# The notification table as it was at that revision (later ones add columns).
OLD_NOTIFICATION = Table(
    "notification",
    MetaData(),
    *(c._copy() for c in Notification.__table__.columns if c.name not in ("communication_id", "body")),
)


def page(incident_id: int, n: int, recipient: str, contact: dict[str, Any]) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "delivery_id": f"00000000-0000-0000-0000-00000000000{n}",
        "recipient": recipient,
        "channel": contact["type"],
        "contact": contact,
        "kind": "page",
        "status": "pending",
        "attempts": 1,
        "next_attempt_at": NOW,
        "created_at": NOW,
    }


def test_stored_copies_become_references(fresh_url: str) -> None:
    migrate_to(fresh_url, BEFORE)
    engine = build_engine(fresh_url)

    with Session(engine) as session, session.begin():
        # The incident table as it was at that revision (later ones add columns).
        incident_id = session.execute(
            insert(OLD_INCIDENT)
            .values(
                key="k", rule="r", status="triggered", type="safety", severity="SEV1", title="t",
                labels={}, alert_count=0, firing_count=0, flap_count=0, auto_resolve=True,
                unowned=False, opened_at=NOW, last_alert_at=NOW, updated_at=NOW,
            )
            .returning(OLD_INCIDENT.c.id)
        ).scalar_one()  # fmt: skip
        ref = contacts.reference("person", "bob", WebhookContact.model_validate(HOOK))
        for row in (
            page(incident_id, 1, "bob", SLACK),
            page(incident_id, 2, "bob", PD),
            page(incident_id, 3, "team:risk-ml", HOOK),
            page(incident_id, 4, "bob", ref),  # already a reference: left alone
        ):
            session.execute(insert(OLD_NOTIFICATION).values(**row))
    migrate_to(fresh_url, "head")

    with Session(engine) as session:
        stored = [n.contact_ref for n in session.scalars(select(Notification).order_by(Notification.id))]
    engine.dispose()
    assert stored == [
        contacts.reference("person", "bob", SlackContact.model_validate(SLACK)),
        contacts.reference("person", "bob", PagerDutyContact.model_validate(PD)),
        contacts.reference("team", "risk-ml", WebhookContact.model_validate(HOOK)),
        ref,
    ]
    text = repr(stored)
    for secret in ("SECRET", "hook-secret", PD["routing_key"], "https://"):
        assert secret not in text
