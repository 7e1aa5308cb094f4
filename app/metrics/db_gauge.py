"""Gauges computed from the database at scrape time: right after a restart and across replicas.

A gauge reports 0 for every label set it is told is possible (severities, channels, the
audiences configured...) and the database has no row for: a count that falls to nothing reads 0
instead of disappearing, so an alert on it resolves and a graph shows the drop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from app.db import Database

log = logging.getLogger(__name__)

Rows = list[tuple[tuple[str, ...], float]]
LabelSets = Iterable[tuple[str, ...]]


class DbGauge(Collector):
    """A gauge whose samples come from `source()` (set when the app starts).

    `known`: the label sets reported as 0 when the database has none (a function when they
    depend on the configuration in force); an unlabelled gauge always has its one series.
    """

    Query = Callable[[Session], Rows]

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str],
        known: LabelSets | Callable[[], LabelSets] = (),
    ) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.known: Callable[[], LabelSets] = known if callable(known) else _fixed(known)
        if not self.labels:
            self.known = _fixed([()])
        self.source: Callable[[], Rows] | None = None
        REGISTRY.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        samples = self._samples()
        for values in sorted(samples):
            gauge.add_metric(list(values), samples[values])
        yield gauge

    def _samples(self) -> dict[tuple[str, ...], float]:
        """This scrape's samples; none at all when the database could not be read (a 0 would lie)."""
        if self.source is None:
            return {}
        try:
            rows = {tuple(values): float(count) for values, count in self.source()}
            return {tuple(values): 0.0 for values in self.known()} | rows
        except Exception:  # a scrape must not fail because the database blinked
            log.exception("could not compute %s for /metrics", self.name)
            return {}

    def read_from(self, db: Database, query: Callable[[Session], Rows]) -> None:
        """Compute the samples with `query` in a read session of its own at every scrape."""

        def run() -> Rows:
            with db.session() as session:
                return query(session)

        self.source = run


def _fixed(label_sets: LabelSets) -> Callable[[], LabelSets]:
    frozen = tuple(tuple(values) for values in label_sets)
    return lambda: frozen
