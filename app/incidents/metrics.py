"""Prometheus series of incidents; gauges of state are computed from the database on scrape."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from app.db import Database
from app.incidents import repository
from app.metrics.db_gauge import DbGauge

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
    buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400),
)
OPEN_INCIDENTS = DbGauge(
    "bridge_incidents_open",
    "Incidents not yet resolved, by type, severity and status",
    ["type", "severity", "status"],
)
UNOWNED_OPEN = DbGauge(
    "bridge_incidents_unowned_open",
    "Open incidents about a model the registry does not know",
    ["type", "severity"],
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
