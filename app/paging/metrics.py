"""Prometheus series of paging."""

from prometheus_client import Counter, Histogram

from app.db import Database
from app.metrics.db_gauge import DbGauge
from app.paging import repository

NOTIFICATIONS = Counter(
    "bridge_notifications",
    "Notification attempts by channel and outcome (delivered, retried, failed, cancelled)",
    ["channel", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "bridge_notification_delivery_seconds",
    "From the notification row being written to its delivery",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
ESCALATIONS = Counter("bridge_escalations", "Escalation steps fired, by step number (1 = first)", ["step"])
PENDING = DbGauge(
    "bridge_notifications_pending",
    "Notifications waiting to be sent or retried",
    ["channel"],
)


def watch(db: Database) -> None:
    """Compute the gauges of state from this database at every scrape."""
    PENDING.read_from(db, repository.count_pending)
