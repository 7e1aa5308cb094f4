"""Gauges computed from the database at scrape time: right after a restart and across replicas."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from app.db import Database

log = logging.getLogger(__name__)

Rows = list[tuple[tuple[str, ...], float]]


class DbGauge(Collector):
    """A gauge whose samples come from `source()` (set when the app starts)."""

    Query = Callable[[Session], Rows]

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.source: Callable[[], Rows] | None = None
        REGISTRY.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        if self.source is not None:
            try:
                for values, count in self.source():
                    gauge.add_metric(list(values), count)
            except Exception:  # a scrape must not fail because the database blinked
                log.exception("could not compute %s for /metrics", self.name)
        yield gauge

    def read_from(self, db: Database, query: Callable[[Session], Rows]) -> None:
        """Compute the samples with `query` in a read session of its own at every scrape."""

        def run() -> Rows:
            with db.session() as session:
                return query(session)

        self.source = run
