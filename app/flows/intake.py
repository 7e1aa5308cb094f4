"""The intake of a batch of webhooks: classify, store, open or attach, assign, page.

`ingest` runs inside one write transaction for a whole batch of webhooks (group commit): it
classifies every alert (pure), locks the incident keys involved, loads the rows it needs in a
handful of queries, then applies each alert in arrival order. Each step belongs to a domain
(alerts, incidents, paging); this module only decides the order and hands data between them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app import deferred
from app.alerts import metrics as alert_metrics
from app.alerts.schemas import AlertIn
from app.alerts.service import AlertRows, StoredAlert
from app.catalog.loader import Catalog
from app.communications import facts
from app.communications.facts import Known
from app.communications.service import Context
from app.flows import reviews
from app.flows.communications import follow
from app.flows.opening import assign_and_page, assigned
from app.incidents import harm, timeline
from app.incidents import metrics as incident_metrics
from app.incidents import service as incidents
from app.incidents.schemas import HarmRead
from app.models import Incident, Notification
from app.paging import service as paging
from app.rules.engine import Classification
from app.runbooks import selection
from app.vocabulary import FIRING, PAGING_FIRST, RESOLVE, RESOLVED


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
    # Notices and messages that wake nobody: sent after the pages, on a queue of their own.
    quiet_notifications: list[int] = field(default_factory=list)


def publish(outcome: IngestOutcome) -> None:
    """Count what a committed batch did."""
    for (source, status), n in outcome.received.items():
        alert_metrics.ALERTS_RECEIVED.labels(source, status).inc(n)
    for reason, n in outcome.deduplicated.items():
        alert_metrics.ALERTS_DEDUPLICATED.labels(reason).inc(n)
    for (type_, severity), n in outcome.opened.items():
        incident_metrics.INCIDENTS_OPENED.labels(type_, severity).inc(n)
    for (type_, severity), n in outcome.reopened.items():
        incident_metrics.INCIDENTS_REOPENED.labels(type_, severity).inc(n)
    for (type_, severity), n in outcome.resolved.items():
        incident_metrics.INCIDENTS_RESOLVED.labels(type_, severity, "alerts").inc(n)
    for (type_, severity), n in outcome.unowned.items():
        incident_metrics.UNOWNED_OPENED.labels(type_, severity).inc(n)


def runbook_ref(
    catalog: Catalog,
    c: Classification,
    annotations: dict[str, str],
    public_url: str,
    model: str | None = None,
) -> dict[str, Any] | None:
    """The runbook an incident carries, and why: the rule's, else one the library has for its
    model and type or its type, else the alert's runbook_url annotation (see runbooks.selection)."""
    choice = selection.choose(
        catalog.runbooks,
        rule=c.rule,
        rule_runbook=c.runbook,
        model=model,
        type_=c.type,
        runbook_url=annotations.get("runbook_url"),
    )
    return selection.reference(choice, public_url)


class _Batch:
    def __init__(self, session: Session, catalog: Catalog, public_url: str, now: datetime) -> None:
        self.session, self.catalog, self.public_url, self.now = session, catalog, public_url, now
        self.protocol = Context(catalog, public_url)
        self.follows = bool(catalog.communications.policies or catalog.communications.regimes)
        self.assessed: set[int] = set()  # incidents a rule assessed: their clocks follow changes
        self.out = IngestOutcome()
        self.rows = AlertRows(session)
        self.alerts = self.rows.latest  # the newest row of each fingerprint
        self.by_key: dict[str, Incident] = {}
        self.by_id: dict[int, Incident] = {}
        self.keys_read: set[str] = set()  # keys whose newest incident has been read
        # PostgreSQL: the newest incident of each of these keys, read with the batch's lock.
        self.ahead: Callable[[Iterable[str]], dict[str, Incident]] | None = None
        self.ahead_keys: set[str] = set()
        self.pages: list[Notification] = []

    def load(self, items: Sequence[tuple[AlertIn, Classification]]) -> None:
        """Lock the batch's keys, read its alert rows, and the incidents it may change: none
        for a repeat of a firing alert (the most common notification of all)."""
        every = sorted({c.key for _, c in items})
        # PostgreSQL: BEGIN, the lock and the reads in one round trip; the keys' incidents are
        # read before knowing which are needed (none for a batch of repeats).
        with deferred.pipeline(self.session):
            incidents.lock_keys(self.session, every)
            loaded = self.rows.load({a.fingerprint for a, _ in items})
            self.ahead = incidents.latest_by_key_ahead(self.session, every)
        self.ahead_keys = set(every)
        loaded()
        keys, ids = set(), set()
        for alert, c in items:
            row = self.alerts.get(alert.fingerprint)
            if alert.status == FIRING and row is not None and row.status == FIRING and row.incident_id:
                continue
            keys.add(c.key)
            if row is not None and row.incident_id:
                ids.add(row.incident_id)
        self._load_keys(keys)
        self._load_ids(ids)

    def _load_keys(self, keys: set[str]) -> None:
        wanted = keys - self.keys_read
        if wanted:
            found = (
                incidents.latest_by_key(self.session, sorted(wanted))
                if self.ahead is None or not wanted <= self.ahead_keys
                else self.ahead(wanted)
            )
            for incident in found.values():
                self.by_key.setdefault(incident.key, incident)
                self.by_id.setdefault(incident.id, incident)
            self.keys_read |= wanted

    def _load_ids(self, ids: set[int]) -> None:
        missing = ids - set(self.by_id)
        if missing:
            self.by_id.update(incidents.by_ids(self.session, missing))

    def incident(self, incident_id: int | None) -> Incident | None:
        """An incident of this batch by id, read now if the batch has not read it yet."""
        if incident_id is None:
            return None
        if incident_id not in self.by_id:
            self._load_ids({incident_id})
        return self.by_id.get(incident_id)

    def _initial_harm(self, incident: Incident, c: Classification) -> HarmRead | None:
        """The suspected harm the rule starts its incidents with, for the models it names."""
        if c.harm is None:
            return None
        model = self.catalog.oncall.models.get(incident.model or "")
        if c.harm.risk_tiers and (model is None or model.risk_tier not in c.harm.risk_tiers):
            return None
        return harm.read(harm.assess_initial(self.session, incident, c.rule, c.harm, self.now))

    def _follow(self, incident: Incident) -> None:
        """The notices and reports the incident's new facts ask for (nothing when none are set up)."""
        if self.follows or incident.id in self.assessed:
            # What follows may read the timeline: its lines go first, in the round trip of the
            # reads of the incident's facts, notices and reports (PostgreSQL).
            with deferred.pipeline(self.session):
                timeline.write(self.session)
                current = facts.current(self.session, self.catalog, incident)
            self.pages += follow(self.session, self.protocol, incident, self.now, current=current)

    def _seen_again(self, row: StoredAlert, alert: AlertIn) -> None:
        self.rows.seen_again(row, alert, self.now)
        self.out.deduplicated["duplicate"] += 1

    def _open(self, alert: AlertIn, c: Classification) -> Incident:
        """A new incident: open it, freeze its owner and policy, page the first step."""
        model = alert.labels.get("model") or None
        runbook = runbook_ref(self.catalog, c, alert.annotations, self.public_url, model)
        incident = incidents.open_incident(
            self.session,
            c,
            alert.labels,
            alert.annotations,
            runbook,
            alert.source,
            self.now,
            alert.starts_at,
            restricted=incidents.restricted_by_default(self.catalog.workspace, c.type),
            assigned=assigned(self.catalog.oncall, model),
        )
        for kind, message, data in c.notes():  # labels the rule requires and lacks; a tier raise
            incidents.record(self.session, incident, kind, incidents.SYSTEM_ACTOR, self.now, message, data)
        first = assign_and_page(self.session, self.catalog.oncall, incident, self.now)
        self.pages += first
        assessed = self._initial_harm(incident, c)
        if self.follows or assessed is not None:
            if assessed is not None:
                self.assessed.add(incident.id)
            # Nothing else is stored about it yet: nothing to read back.
            known = Known(harm=assessed, paged=frozenset(p.recipient for p in first))
            self.pages += follow(self.session, self.protocol, incident, self.now, known)
        self.by_key[c.key] = incident
        self.keys_read.add(c.key)
        self.by_id[incident.id] = incident
        self.out.opened[(incident.type, incident.severity)] += 1
        if incident.unowned:
            self.out.unowned[(incident.type, incident.severity)] += 1
        self.out.changed.add(incident.id)
        return incident

    def _target(self, alert: AlertIn, c: Classification) -> Incident:
        """The open incident for the alert's key: existing, reopened, or new."""
        self._load_keys({c.key})
        incident = self.by_key.get(c.key)
        if incident is not None and incident.is_open:
            self.out.deduplicated["grouped"] += 1
            return incident
        if incidents.reopens(incident, c.reopen_window, self.now):
            incidents.reopen(self.session, incident, alert.source, self.now)
            self.pages += paging.on_reopened(self.session, self.catalog.oncall, incident, self.now)
            self._follow(incident)
            self.out.reopened[(incident.type, incident.severity)] += 1
            self.out.changed.add(incident.id)
            return incident
        return self._open(alert, c)

    def firing(self, alert: AlertIn, c: Classification) -> int | None:
        row = self.alerts.get(alert.fingerprint)
        if row is not None and row.incident_id is not None and row.status == FIRING:
            # Same episode still firing: a retry, an HA duplicate or a repeat notification.
            self._seen_again(row, alert)
            return row.incident_id
        current = self.incident(row.incident_id) if row is not None else None
        if row is not None and row.status == RESOLVED and alert.starts_at <= row.starts_at:
            # A late copy of an episode we already saw resolve (a retried or out-of-order
            # delivery): a real re-fire starts later than the episode before it.
            self._seen_again(row, alert)
            return row.incident_id
        incident = current if current is not None and current.is_open else self._target(alert, c)
        if row is not None and row.incident_id != incident.id:
            # Seen before in another incident; this one may still hold an older row of it.
            row = self.rows.in_incident(incident.id, alert.fingerprint) or row
        new_series = row is None or row.incident_id != incident.id
        if new_series:
            self.rows.add(alert, incident.id, self.now)
        else:
            assert row is not None
            self.rows.refired(row, alert, self.now)
        incidents.alert_fired(
            self.session,
            incident,
            new_series,
            alert.fingerprint,
            alert.labels,
            alert.source,
            self.now,
            alert.starts_at,
        )
        if incidents.raise_severity(self.session, incident, c.severity, alert.source, self.now):
            self.out.changed.add(incident.id)
            self.pages += paging.on_severity_raised(self.session, self.catalog.oncall, incident, self.now)
            self._follow(incident)
        return incident.id

    def resolved(self, alert: AlertIn) -> int | None:
        row = self.alerts.get(alert.fingerprint)
        if row is None:
            # Resolved before we ever saw it fire: kept for the record, opens nothing.
            self.rows.add(alert, None, self.now)
            return None
        if row.status == RESOLVED:
            self._seen_again(row, alert)
            return row.incident_id
        self.rows.resolved(row, alert, self.now)
        incident = self.incident(row.incident_id)
        if incident is None:
            return None
        if incidents.alert_resolved(self.session, incident, alert.fingerprint, alert.source, self.now):
            self.out.resolved[(incident.type, incident.severity)] += 1
            self.out.changed.add(incident.id)
            self.pages += paging.after_action(self.session, incident, RESOLVE, self.now)
            self._follow(incident)
            if incident.status == RESOLVED:  # not when the rule keeps it open for a person
                timeline.write(self.session)  # the review starts from the timeline's key moments
                self.pages += reviews.on_resolved(self.session, self.catalog, incident, self.now)
        return incident.id


def ingest(
    session: Session,
    catalog: Catalog,
    requests: Sequence[Sequence[AlertIn]],
    now: datetime,
    public_url: str,
) -> IngestOutcome:
    """Apply a batch of webhook requests (each a list of alerts) in one transaction."""
    classify = catalog.ruleset.classify
    items = [[(a, classify(a.labels)) for a in alerts_] for alerts_ in requests]
    batch = _Batch(session, catalog, public_url, now)
    timeline.start(session)
    batch.load([pair for request in items for pair in request])
    for request in items:
        touched: list[int] = []
        for alert, c in request:
            batch.out.received[(alert.source, alert.status)] += 1
            incident_id = batch.firing(alert, c) if alert.status == FIRING else batch.resolved(alert)
            if incident_id is not None and incident_id not in touched:
                touched.append(incident_id)
        batch.out.incident_ids.append(touched)
    batch.rows.flush(at_commit=True)
    timeline.end(session)
    session.flush()
    batch.out.notifications = [n.id for n in batch.pages if n.kind in PAGING_FIRST]
    batch.out.quiet_notifications = [n.id for n in batch.pages if n.kind not in PAGING_FIRST]
    return batch.out
