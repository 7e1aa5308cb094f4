"""All SQL of stored alerts: one row per alert series (fingerprint) within an incident."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from app.models import Alert


def latest_by_fingerprint(session: Session, fingerprints: set[str]) -> dict[str, Alert]:
    """The newest stored row of each fingerprint."""
    if not fingerprints:
        return {}
    newest = select(func.max(Alert.id)).where(Alert.fingerprint.in_(fingerprints)).group_by(Alert.fingerprint)
    # Labels of a stored alert never change (they make its fingerprint): skip decoding them.
    query = select(Alert).where(Alert.id.in_(newest)).options(defer(Alert.labels), defer(Alert.generator_url))
    return {a.fingerprint: a for a in session.scalars(query)}


def in_incident(session: Session, incident_id: int, fingerprint: str) -> Alert | None:
    """The row of this fingerprint inside one incident, if it has one."""
    return session.scalars(
        select(Alert).where(Alert.incident_id == incident_id, Alert.fingerprint == fingerprint)
    ).first()


def of_incident(session: Session, incident_id: int) -> list[Alert]:
    """Every alert row of one incident, oldest first."""
    return list(session.scalars(select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.id)))
