"""Prometheus series of incidents; the open gauge is computed from the database on scrape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

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

CountSource = Callable[[], list[tuple[str, str, str, int]]]


class OpenIncidentsCollector(Collector):
    """bridge_incidents_open from the database: right after a restart and across replicas."""

    def __init__(self) -> None:
        self.source: CountSource | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "bridge_incidents_open",
            "Incidents not yet resolved, by type, severity and status",
            labels=["type", "severity", "status"],
        )
        if self.source is not None:
            try:
                for type_, severity, status, count in self.source():
                    gauge.add_metric([type_, severity, status], count)
            except Exception:  # a scrape must not fail because the database blinked
                log.exception("could not count open incidents for /metrics")
        yield gauge


OPEN_INCIDENTS = OpenIncidentsCollector()
REGISTRY.register(OPEN_INCIDENTS)


def count_action(action: str, type_: str, severity: str) -> None:
    """Count a person's acknowledge or resolve, after it committed."""
    if action == "acknowledge":
        INCIDENTS_ACKNOWLEDGED.labels(type_, severity).inc()
    elif action == "resolve":
        INCIDENTS_RESOLVED.labels(type_, severity, "person").inc()
