"""The cycle collector's full passes, counted in every process (app/heap.py keeps them short).

A gc callback must not touch a metric: it runs wherever a collection starts, possibly while this
thread holds the lock the metric's value takes. So app/heap.py only counts, and `publish` adds
what it counted since its last call: at each scrape in the web process, after each sweep in the
worker. The counters are summed across processes, like every counter here.
"""

from __future__ import annotations

import gc
import threading

from prometheus_client import Counter

from app import heap

FULL_COLLECTIONS = Counter(
    "bridge_gc_full_collections",
    "Full (oldest generation) passes of the cycle collector, summed over the service's processes",
)
DEEP_PASSES = Counter(
    "bridge_gc_deep_passes",
    "Of the full passes, those that walked every object (start-up, a rules reload, or frozen "
    "survivors grown by half since the last)",
)

_lock = threading.Lock()
_published = [0, 0]  # full collections, deep passes: counted into the metrics so far


def publish() -> None:
    """Add the full passes and deep passes made since the last call to their counters."""
    now = (gc.get_stats()[2]["collections"], heap.deep_passes())
    with _lock:
        full, deep = (max(n - seen, 0) for n, seen in zip(now, _published, strict=True))
        _published[:] = now
    if full:
        FULL_COLLECTIONS.inc(full)
    if deep:
        DEEP_PASSES.inc(deep)
