"""Histograms of the times to detect, contain and resolve, computed from the database at scrape.

They cover every incident in the database (duplicates folded into another left out), so they
are exact right after a restart and the same on every replica. Not a 90-day window: a
histogram's buckets are counters, and a window would make them fall as incidents age out,
which rate() and increase() read as resets. The database counts and sums them in one grouped
select (one row per (type, severity) reaches Python; times to the millisecond), at most once
every 30 seconds however often /metrics is scraped. An incident reclassified moves from one
(type, severity) series to another.
Every (type, severity) series exists, at 0 until an incident of that kind counts, so increase()
sees the first one; a scrape that could not read the database reports no samples, never zeros.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import product

from prometheus_client import REGISTRY
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from app.db import Database
from app.stats import measures, repository
from app.vocabulary import SEVERITIES

log = logging.getLogger(__name__)

# The buckets of bridge_time_to_acknowledge_seconds (app/incidents/metrics.py), so the four
# response-time histograms can be read side by side.
BUCKETS: tuple[float, ...] = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
# `le` spelled as prometheus_client spells it for its own histograms ("30.0").
LE: dict[float, str] = {b: floatToGoString(b) for b in BUCKETS}  # type: ignore[no-untyped-call]
LABELS = ["type", "severity"]
KINDS: tuple[tuple[str, ...], ...] = tuple(product(measures.KNOWN_TYPES, SEVERITIES))
EMPTY = measures.Histogram(buckets=(0,) * len(BUCKETS), count=0, sum=0.0)
CACHE_SECONDS = 30.0
SCOPE = "over all incidents in the database (computed from it at scrape, cached 30 s)"

DETECT = "bridge_time_to_detect_seconds"
CONTAIN = "bridge_time_to_contain_seconds"
RESOLVE = "bridge_time_to_resolve_seconds"
HELP = {
    DETECT: f"From impact start (the earliest alert's startsAt) to incident opened, {SCOPE}",
    CONTAIN: f"From incident opened to harm contained, {SCOPE}",
    RESOLVE: f"From incident opened to resolved, {SCOPE}",
}

Computed = dict[str, dict[tuple[str, ...], measures.Histogram]]


NAMES = {"detect": DETECT, "contain": CONTAIN, "resolve": RESOLVE}  # the repository's spans


def compute(tallies: Iterable[repository.Tally]) -> Computed:
    """Per histogram, per (type, severity), the samples of what the database counted."""
    computed: Computed = {name: {} for name in HELP}
    for t in tallies:
        computed[NAMES[t.span]][(t.type, t.severity)] = measures.Histogram(
            buckets=t.at_most, count=t.count, sum=t.sum_ms / 1000
        )
    return computed


class DbHistograms(Collector):
    """Histograms whose samples come from the database (set by `read_from` when the app starts)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.source: Callable[[], Computed] | None = None
        self._cached: tuple[float, Computed] | None = None
        self._lock = threading.Lock()
        REGISTRY.register(self)

    def describe(self) -> Iterator[HistogramMetricFamily]:
        for name, documentation in HELP.items():
            yield HistogramMetricFamily(name, documentation, labels=LABELS)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        computed = self._current()
        for name, documentation in HELP.items():
            family = HistogramMetricFamily(name, documentation, labels=LABELS)
            histograms = {} if computed is None else {kind: EMPTY for kind in KINDS} | computed.get(name, {})
            for labels, histogram in sorted(histograms.items()):
                buckets = [(LE[b], float(c)) for b, c in zip(BUCKETS, histogram.buckets, strict=True)]
                buckets.append(("+Inf", float(histogram.count)))
                family.add_metric(list(labels), buckets, histogram.sum)
            yield family

    def _current(self) -> Computed | None:
        """The samples of the last 30 s, or computed now (one scrape computes, others wait for it);
        None when there is no database to read or it could not be read."""
        with self._lock:
            source = self.source
            if source is None:
                return None
            if self._cached is not None and self.clock() - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
            try:
                computed = source()
            except Exception:  # a scrape must not fail because the database blinked
                log.exception("could not compute the response-time histograms for /metrics")
                return None
            self._cached = (self.clock(), computed)
            return computed

    def read_from(self, db: Database) -> None:
        """Compute the samples from this database (in a read session of their own) from now on."""

        def run() -> Computed:
            with db.session() as session:
                return compute(repository.response_tallies(session, BUCKETS))

        with self._lock:
            self.source = run
            self._cached = None

    def forget(self) -> None:
        """Drop the cached samples: the next scrape reads the database."""
        with self._lock:
            self._cached = None


HISTOGRAMS = DbHistograms()


def watch(db: Database) -> None:
    """Compute the histograms from this database at scrape time."""
    HISTOGRAMS.read_from(db)
