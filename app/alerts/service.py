"""Stored alerts: add a series, note a repeat, a re-fire or a resolution. Nothing commits here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.alerts import repository
from app.alerts.schemas import AlertIn
from app.models import Alert
from app.vocabulary import FIRING, RESOLVED

latest_by_fingerprint = repository.latest_by_fingerprint
in_incident = repository.in_incident
of_incident = repository.of_incident


def add(session: Session, alert: AlertIn, incident_id: int | None, now: datetime) -> Alert:
    """A series seen for the first time (in this incident)."""
    row = Alert(
        incident_id=incident_id,
        fingerprint=alert.fingerprint,
        status=alert.status,
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at if alert.status == RESOLVED else None,
        generator_url=alert.generator_url,
        source=alert.source,
        first_seen_at=now,
        last_seen_at=now,
        receive_count=1,
    )
    session.add(row)
    return row


def seen_again(row: Alert, alert: AlertIn, now: datetime) -> None:
    """A retry, an HA duplicate or a repeat notification: only the bookkeeping changes."""
    row.last_seen_at = now
    row.receive_count += 1
    if row.annotations != alert.annotations:
        row.annotations = alert.annotations


def refired(row: Alert, alert: AlertIn, now: datetime) -> None:
    """The same series fires again in the same incident: a new episode."""
    row.status, row.starts_at, row.ends_at = FIRING, alert.starts_at, None
    row.last_seen_at, row.receive_count = now, row.receive_count + 1


def resolved(row: Alert, alert: AlertIn, now: datetime) -> None:
    row.status, row.ends_at = RESOLVED, alert.ends_at or now
    row.last_seen_at, row.receive_count = now, row.receive_count + 1
