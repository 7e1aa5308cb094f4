"""Prometheus series of paging. Every channel's series exist at 0 from the start."""

from typing import get_args

from prometheus_client import Counter, Histogram

from app.db import Database
from app.metrics.db_gauge import DbGauge
from app.oncall.config import OncallConfig
from app.oncall.schemas import Contact
from app.paging import repository
from app.vocabulary import CANCELLED, DELIVERED, FAILED


def _contact_types() -> tuple[str, ...]:
    """The `type` of every kind of contact in the on-call file, which is the `channel` of its
    notifier (app/paging/notifiers): a new kind of contact has its series without a change here."""
    (kinds, *_) = get_args(Contact)  # Annotated[EmailContact | WebhookContact | ..., discriminator]
    return tuple(get_args(kind.model_fields["type"].annotation)[0] for kind in get_args(kinds))


CHANNELS = _contact_types()
OUTCOMES = (DELIVERED, "retried", FAILED, CANCELLED)

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
for _channel in CHANNELS:
    DELIVERY_SECONDS.labels(_channel)
    for _outcome in OUTCOMES:
        NOTIFICATIONS.labels(_channel, _outcome)
ESCALATIONS = Counter("bridge_escalations", "Escalation steps fired, by step number (1 = first)", ["step"])
PENDING = DbGauge(
    "bridge_notifications_pending",
    "Notifications waiting to be sent or retried",
    ["channel"],
    known=[(channel,) for channel in CHANNELS],
)


def steps_known(oncall: OncallConfig) -> None:
    """Make a series for every step of the escalation policies in force (the step label's values)."""
    longest = max((len(policy.steps) for policy in oncall.policies.values()), default=0)
    for step in range(1, longest + 1):
        ESCALATIONS.labels(str(step))


def watch(db: Database) -> None:
    """Compute the gauges of state from this database at every scrape."""
    PENDING.read_from(db, repository.count_pending)
