"""Intake: store alerts idempotently by fingerprint and fold them into incidents.

`ingest` runs inside one write transaction for a whole batch of webhooks (group commit):
it classifies every alert (pure), locks the incident keys involved, loads the rows it needs
in a handful of queries, then applies each alert in arrival order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from app.alerts.schemas import AlertIn
from app.incidents import repository as incidents_repo
from app.incidents import service as incidents
from app.models import Alert, Incident, Notification
from app.paging import service as paging
from app.rules.engine import Classification
from app.rules.loader import Config


@dataclass
class IngestOutcome:
    """What one batch did, for the HTTP answers and for the metrics after commit."""

    incident_ids: list[list[int]] = field(default_factory=list)  # per request
    received: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, status)
    deduplicated: Counter[str] = field(default_factory=Counter)  # reason
    opened: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, severity)
    reopened: Counter[tuple[str, str]] = field(default_factory=Counter)
    resolved: Counter[tuple[str, str]] = field(default_factory=Counter)
    changed: set[int] = field(default_factory=set)  # incidents whose state changed
    unowned: Counter[tuple[str, str]] = field(default_factory=Counter)  # opened for unknown models
    notifications: list[int] = field(default_factory=list)  # pages to send after commit


def runbook_ref(
    config: Config, c: Classification, annotations: dict[str, str], public_url: str
) -> dict[str, Any] | None:
    """The runbook an incident carries: the rule's, else the alert's runbook_url annotation."""
    if c.runbook and c.runbook in config.runbooks:
        book = config.runbooks[c.runbook]
        return {"id": book.id, "title": book.title, "url": f"{public_url}/runbooks/{book.id}"}
    if annotations.get("runbook_url"):
        return {"id": None, "title": None, "url": annotations["runbook_url"]}
    return None


def _latest_alerts(session: Session, fingerprints: set[str]) -> dict[str, Alert]:
    if not fingerprints:
        return {}
    newest = select(func.max(Alert.id)).where(Alert.fingerprint.in_(fingerprints)).group_by(Alert.fingerprint)
    # Labels of a stored alert never change (they make its fingerprint): skip decoding them.
    query = select(Alert).where(Alert.id.in_(newest)).options(defer(Alert.labels), defer(Alert.generator_url))
    return {a.fingerprint: a for a in session.scalars(query)}


class _Batch:
    def __init__(self, session: Session, config: Config, public_url: str, now: datetime) -> None:
        self.session, self.config, self.public_url, self.now = session, config, public_url, now
        self.out = IngestOutcome()
        self.alerts: dict[str, Alert] = {}
        self.by_key: dict[str, Incident] = {}
        self.by_id: dict[int, Incident] = {}
        self.pages: list[Notification] = []

    def load(self, items: Sequence[tuple[AlertIn, Classification]]) -> None:
        keys = sorted({c.key for _, c in items})
        incidents_repo.lock_keys(self.session, keys)
        self.alerts = _latest_alerts(self.session, {a.fingerprint for a, _ in items})
        self.by_key = incidents_repo.latest_by_key(self.session, keys)
        self.by_id = {i.id: i for i in self.by_key.values()}
        missing = {a.incident_id for a in self.alerts.values() if a.incident_id} - set(self.by_id)
        self.by_id.update(incidents_repo.by_ids(self.session, missing))

    def _touch(self, row: Alert, alert: AlertIn) -> None:
        row.last_seen_at = self.now
        row.receive_count += 1
        if row.annotations != alert.annotations:
            row.annotations = alert.annotations
        self.out.deduplicated["duplicate"] += 1

    def _add_row(self, alert: AlertIn, incident_id: int | None) -> None:
        row = Alert(
            incident_id=incident_id,
            fingerprint=alert.fingerprint,
            status=alert.status,
            labels=alert.labels,
            annotations=alert.annotations,
            starts_at=alert.starts_at,
            ends_at=alert.ends_at if alert.status == "resolved" else None,
            generator_url=alert.generator_url,
            source=alert.source,
            first_seen_at=self.now,
            last_seen_at=self.now,
            receive_count=1,
        )
        self.session.add(row)
        self.alerts[alert.fingerprint] = row

    def _row_in(self, incident_id: int, fingerprint: str) -> Alert | None:
        return self.session.scalars(
            select(Alert).where(Alert.incident_id == incident_id, Alert.fingerprint == fingerprint)
        ).first()

    def _target(self, alert: AlertIn, c: Classification) -> Incident:
        """The open incident for the alert's key: existing, reopened, or new."""
        incident = self.by_key.get(c.key)
        actor = alert.source
        if incident is not None and incident.is_open:
            self.out.deduplicated["grouped"] += 1
            return incident
        if (
            incident is not None
            and incident.resolved_at is not None
            and self.now - incident.resolved_at <= c.reopen_window
        ):
            incidents.reopen(self.session, incident, actor, self.now)
            self.pages += paging.on_reopened(self.session, self.config, incident, self.now)
            self.out.reopened[(incident.type, incident.severity)] += 1
            self.out.changed.add(incident.id)
            return incident
        runbook = runbook_ref(self.config, c, alert.annotations, self.public_url)
        incident = incidents.open_incident(
            self.session, c, alert.labels, alert.annotations, runbook, actor, self.now
        )
        self.by_key[c.key] = incident
        self.by_id[incident.id] = incident
        self.pages += paging.on_opened(self.session, self.config, incident, self.now)
        self.out.opened[(incident.type, incident.severity)] += 1
        if incident.unowned:
            self.out.unowned[(incident.type, incident.severity)] += 1
        self.out.changed.add(incident.id)
        return incident

    def firing(self, alert: AlertIn, c: Classification) -> int | None:
        row = self.alerts.get(alert.fingerprint)
        current = self.by_id.get(row.incident_id) if row and row.incident_id else None
        if row is not None and current is not None and row.status == "firing":
            # Same episode still firing: a retry, an HA duplicate or a repeat notification.
            self._touch(row, alert)
            return current.id
        if row is not None and row.status == "resolved" and alert.starts_at <= row.starts_at:
            # A late copy of an episode we already saw resolve (a retried or out-of-order
            # delivery): a real re-fire starts later than the episode before it.
            self._touch(row, alert)
            return row.incident_id
        incident = current if current is not None and current.is_open else self._target(alert, c)
        if row is not None and row.incident_id != incident.id:
            # Seen before in another incident; this one may still hold an older row of it.
            row = self._row_in(incident.id, alert.fingerprint) or row
        if row is not None and row.incident_id == incident.id:
            row.status, row.starts_at, row.ends_at = "firing", alert.starts_at, None
            row.last_seen_at, row.receive_count = self.now, row.receive_count + 1
            kind, message = "alert_refired", "alert firing again"
        else:
            self._add_row(alert, incident.id)
            incident.alert_count += 1
            kind, message = "alert_added", "alert added"
        incident.firing_count += 1
        incident.last_alert_at = self.now
        incidents.record(
            self.session,
            incident,
            kind,
            alert.source,
            self.now,
            message,
            {"fingerprint": alert.fingerprint, "labels": alert.labels},
        )
        if incidents.raise_severity(self.session, incident, c.severity, alert.source, self.now):
            self.out.changed.add(incident.id)
            self.pages += paging.on_severity_raised(self.session, self.config, incident, self.now)
        return incident.id

    def resolved(self, alert: AlertIn) -> int | None:
        row = self.alerts.get(alert.fingerprint)
        if row is None:
            # Resolved before we ever saw it fire: kept for the record, opens nothing.
            self._add_row(alert, None)
            return None
        if row.status == "resolved":
            self._touch(row, alert)
            return row.incident_id
        row.status, row.ends_at = "resolved", alert.ends_at or self.now
        row.last_seen_at, row.receive_count = self.now, row.receive_count + 1
        incident = self.by_id.get(row.incident_id) if row.incident_id else None
        if incident is None:
            return None
        incident.firing_count = max(0, incident.firing_count - 1)
        if not incident.is_open:
            return incident.id
        incidents.record(
            self.session,
            incident,
            "alert_resolved",
            alert.source,
            self.now,
            "alert resolved",
            {"fingerprint": alert.fingerprint},
        )
        if incident.firing_count == 0:
            incidents.resolve_by_alerts(self.session, incident, self.now, alert.source)
            if not incident.is_open:
                self.out.resolved[(incident.type, incident.severity)] += 1
                self.out.changed.add(incident.id)
                self.pages += paging.after_action(self.session, self.config, incident, "resolve", self.now)
        return incident.id


def ingest(
    session: Session,
    config: Config,
    requests: Sequence[Sequence[AlertIn]],
    now: datetime,
    public_url: str,
) -> IngestOutcome:
    """Apply a batch of webhook requests (each a list of alerts) in one transaction."""
    classify = config.ruleset.classify
    items = [[(a, classify(a.labels)) for a in alerts] for alerts in requests]
    batch = _Batch(session, config, public_url, now)
    batch.load([pair for request in items for pair in request])
    for request in items:
        touched: list[int] = []
        for alert, c in request:
            batch.out.received[(alert.source, alert.status)] += 1
            incident_id = batch.firing(alert, c) if alert.status == "firing" else batch.resolved(alert)
            if incident_id is not None and incident_id not in touched:
                touched.append(incident_id)
        batch.out.incident_ids.append(touched)
    session.flush()
    batch.out.notifications = [n.id for n in batch.pages]
    return batch.out
