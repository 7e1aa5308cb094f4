"""The text of /metrics: this process's series, or those of every process of this service.

`incident-bridge serve` runs a worker process next to the web process. Both count into files of
one directory (PROMETHEUS_MULTIPROC_DIR, set before either imports prometheus_client), and the
web process adds them up at each scrape, so /metrics shows the pages the worker sent. Counters
and histograms are summed over the processes; each gauge says how in its `multiprocess_mode`
(the rules in force: the web process's value; a job's last success: the newest of any process).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app.metrics import (
    build,  # noqa: F401  # registers bridge_build_info
    heap,
)

DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


class _Computed(Collector):
    """The collectors of this process that count nothing themselves: gauges computed from the
    database at scrape time, and the process's own figures (memory, CPU)."""

    def collect(self) -> Iterator[Metric]:
        collectors = list(REGISTRY._collector_to_names)  # no public listing exists
        for collector in collectors:
            if not isinstance(collector, MetricWrapperBase):
                yield from collector.collect()


def latest() -> bytes:
    """The exposition of this service's metrics."""
    heap.publish()  # this process's; the worker publishes its own after each sweep
    if not os.environ.get(DIRECTORY):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(_Computed())
    return generate_latest(registry)
