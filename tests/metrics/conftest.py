"""Reading /metrics in these tests: the exposition parsed into series, and the label values
every labelled series is expected to start with (the vocabulary, spelled out here again so a
series the app forgets to create is caught)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.instance.keys import Keys
from app.paging.notifiers import build_notifiers
from app.vocabulary import INCIDENT_TYPES, SEVERITIES, UNCLASSIFIED

TYPES = (*INCIDENT_TYPES, UNCLASSIFIED)
KINDS = [{"type": t, "severity": s} for t, s in product(TYPES, SEVERITIES)]


def _channels() -> tuple[str, ...]:
    """Every channel the bridge can send a page by: its notifiers, by name."""
    with httpx.Client() as client:
        notifiers = build_notifiers(Settings(_env_file=None), client, Keys())  # type: ignore[call-arg]
    return tuple(sorted(notifiers))


CHANNELS = _channels()
WEBHOOK_CODES = ("200", "400", "401", "408", "413", "415", "422", "499", "500", "503")

Sample = tuple[str, dict[str, str], float]
Key = tuple[str, tuple[tuple[str, str], ...]]


def key(name: str, labels: dict[str, str]) -> Key:
    return name, tuple(sorted(labels.items()))


def samples(exposition: str) -> Iterator[Sample]:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def series(exposition: str) -> dict[Key, list[float]]:
    """Every sample by (name, sorted labels); a list, so a series exported twice shows."""
    found: dict[Key, list[float]] = {}
    for name, labels, value in samples(exposition):
        found.setdefault(key(name, labels), []).append(value)
    return found


def find(exposition: str, name: str, **labels: str) -> list[float]:
    """The values of every sample named `name` whose labels include `labels`."""
    return [v for n, have, v in samples(exposition) if n == name and labels.items() <= have.items()]


def one(exposition: str, name: str, **labels: str) -> float:
    """The value of the one sample named `name` with exactly these labels (fails when absent)."""
    found = [v for n, have, v in samples(exposition) if n == name and have == labels]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def expected_zero_series() -> list[tuple[str, dict[str, str]]]:
    """Every labelled counter and histogram series a process has before its first event."""
    series: list[tuple[str, dict[str, str]]] = []
    for status in ("firing", "resolved"):
        series.append(("bridge_alerts_received_total", {"source": "alertmanager", "status": status}))
    for reason in ("duplicate", "grouped"):
        series.append(("bridge_alerts_deduplicated_total", {"reason": reason}))
    for code in WEBHOOK_CODES:
        series.append(("bridge_webhook_requests_total", {"source": "alertmanager", "code": code}))
    series.append(("bridge_webhook_duration_seconds_count", {"source": "alertmanager"}))
    for reason in ("database_unavailable", "database_error", "bug"):
        series.append(("bridge_intake_failures_total", {"reason": reason}))
    for kind in KINDS:
        for name in (
            "bridge_incidents_opened_total",
            "bridge_incidents_reopened_total",
            "bridge_incidents_acknowledged_total",
            "bridge_incidents_unowned_opened_total",
            "bridge_time_to_acknowledge_seconds_count",
        ):
            series.append((name, kind))
        for by in ("alerts", "person"):
            series.append(("bridge_incidents_resolved_total", {**kind, "by": by}))
    for channel in CHANNELS:
        for outcome in ("delivered", "retried", "failed", "cancelled"):
            series.append(("bridge_notifications_total", {"channel": channel, "outcome": outcome}))
        series.append(("bridge_notification_delivery_seconds_count", {"channel": channel}))
    series.append(("bridge_rules_reloads_total", {"outcome": "failure"}))
    return series


def expected_database_zeros() -> list[tuple[str, dict[str, str]]]:
    """Every series computed from the database that reads 0 on an empty database."""
    series: list[tuple[str, dict[str, str]]] = []
    for kind in KINDS:
        for status in ("triggered", "acknowledged"):
            series.append(("bridge_incidents_open", {**kind, "status": status}))
        series.append(("bridge_incidents_unowned_open", kind))
        for name in ("detect", "contain", "resolve"):
            series.append((f"bridge_time_to_{name}_seconds_count", kind))
    for channel in CHANNELS:
        series.append(("bridge_notifications_pending", {"channel": channel}))
    for regime in ("eu_ai_act_art73", "gdpr_art33"):
        series.append(("bridge_obligations_open", {"regime": regime}))
        series.append(("bridge_obligations_overdue", {"regime": regime}))
    for name in (
        "bridge_reviews_open",
        "bridge_reviews_overdue",
        "bridge_actions_open",
        "bridge_actions_overdue",
    ):
        series.append((name, {}))
    return series
