"""Prometheus series of the communication protocol; gauges are computed from the database."""

from __future__ import annotations

from prometheus_client import Counter

from app.communications import repository
from app.db import Database, utcnow
from app.metrics.db_gauge import DbGauge

COMMUNICATIONS = Counter(
    "bridge_communications",
    "Notices to audiences by outcome: sent (through paging), recorded (sent another way), "
    "holding (a holding statement went out), cancelled",
    ["audience", "outcome"],
)
COMMUNICATIONS_OVERDUE = DbGauge(
    "bridge_communications_overdue", "Notices past their due time and not sent", ["audience"]
)
OBLIGATIONS_OPEN = DbGauge("bridge_obligations_open", "Regulatory reports not yet made", ["regime"])
OBLIGATIONS_OVERDUE = DbGauge(
    "bridge_obligations_overdue", "Regulatory reports past their due time and not made", ["regime"]
)


def watch(db: Database) -> None:
    """Compute the gauges from this database at every scrape."""
    COMMUNICATIONS_OVERDUE.read_from(db, lambda s: repository.count_overdue_notices(s, utcnow()))
    OBLIGATIONS_OPEN.read_from(db, repository.count_open_obligations)
    OBLIGATIONS_OVERDUE.read_from(db, lambda s: repository.count_overdue_obligations(s, utcnow()))
