"""Prometheus series of incidents; gauges of state are computed from the database on scrape.

Every (type, severity) series exists at 0 from the start, so rate() and increase() see the
first incident of a kind and a dashboard shows 0 rather than nothing.
"""

from __future__ import annotations

from itertools import product

from prometheus_client import Counter, Histogram

from app.db import Database
from app.incidents import repository
from app.metrics.db_gauge import DbGauge
from app.vocabulary import INCIDENT_TYPES, OPEN_STATUSES, SEVERITIES, UNCLASSIFIED

TYPES: tuple[str, ...] = (*INCIDENT_TYPES, UNCLASSIFIED)
KINDS: tuple[tuple[str, str], ...] = tuple(product(TYPES, SEVERITIES))  # (type, severity)
RESOLVED_BY = ("alerts", "person", "heartbeat")
# Also those of the time-to-detect, contain and resolve histograms (app/stats/metrics.py).
BUCKETS: tuple[float, ...] = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)

INCIDENTS_OPENED = Counter("bridge_incidents_opened", "Incidents opened", ["type", "severity"])
INCIDENTS_REOPENED = Counter(
    "bridge_incidents_reopened",
    "Resolved incidents reopened within their window (flaps)",
    ["type", "severity"],
)
INCIDENTS_RESOLVED = Counter("bridge_incidents_resolved", "Incidents resolved", ["type", "severity", "by"])
INCIDENTS_ACKNOWLEDGED = Counter(
    "bridge_incidents_acknowledged", "Incidents acknowledged", ["type", "severity"]
)
UNOWNED_OPENED = Counter(
    "bridge_incidents_unowned_opened",
    "Incidents opened for a model the registry does not know",
    ["type", "severity"],
)
TIME_TO_ACKNOWLEDGE = Histogram(
    "bridge_time_to_acknowledge_seconds",
    "From incident opened to first acknowledgement",
    ["type", "severity"],
    buckets=BUCKETS,
)
for _kind in KINDS:
    for _series in (INCIDENTS_OPENED, INCIDENTS_REOPENED, INCIDENTS_ACKNOWLEDGED, UNOWNED_OPENED):
        _series.labels(*_kind)
    TIME_TO_ACKNOWLEDGE.labels(*_kind)
    for _by in RESOLVED_BY:
        INCIDENTS_RESOLVED.labels(*_kind, _by)

OPEN_INCIDENTS = DbGauge(
    "bridge_incidents_open",
    "Incidents not yet resolved, by type, severity and status",
    ["type", "severity", "status"],
    known=[(*kind, status) for kind in KINDS for status in OPEN_STATUSES],
)
UNOWNED_OPEN = DbGauge(
    "bridge_incidents_unowned_open",
    "Open incidents about a model the registry does not know",
    ["type", "severity"],
    known=KINDS,
)


def count_action(action: str, type_: str, severity: str) -> None:
    """Count a person's acknowledge or resolve, after it committed."""
    if action == "acknowledge":
        INCIDENTS_ACKNOWLEDGED.labels(type_, severity).inc()
    elif action == "resolve":
        INCIDENTS_RESOLVED.labels(type_, severity, "person").inc()


def watch(db: Database) -> None:
    """Compute the gauges of state from this database at every scrape."""
    OPEN_INCIDENTS.read_from(db, repository.count_open)
    UNOWNED_OPEN.read_from(db, repository.count_unowned_open)
