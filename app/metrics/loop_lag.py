"""How late the web process's event loop runs what is due. Every HTTP answer passes through the
loop, so while it is held (a long callback, a collection, a thread that keeps the interpreter's
lock) every answer waits, whatever the intake writer does. A watcher asks to be woken every
`INTERVAL`; how long after that it wakes is the loop's lag, observed on /metrics, and a lag past
`BRIDGE_EVENT_LOOP_SLOW_SECONDS` is logged as a warning. Beside the intake's slow-batch lines
(app/alerts/writer.py), this says which of the two held the webhooks' answers.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Histogram

log = logging.getLogger(__name__)
INTERVAL = 0.1  # seconds between two wake-ups of the watcher

LAG = Histogram(
    "bridge_event_loop_lag_seconds",
    "How late the web process's event loop woke a watcher due every 0.1 s",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


async def watch(slow_seconds: float, interval: float = INTERVAL) -> None:
    """Observe the loop's lag until cancelled; log a lag of `slow_seconds` or more."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        late = max(0.0, loop.time() - due)
        LAG.observe(late)
        if late >= slow_seconds:
            log.warning("the event loop ran %.0f ms late: every answer waited as long", late * 1000)
