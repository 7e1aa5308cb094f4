"""The web process's event-loop lag: observed on /metrics, and logged once past the threshold.

The loop is held on purpose for `HELD` seconds; the assertions are lower bounds (a held loop
wakes the watcher at least that late), never upper ones."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.metrics import loop_lag
from tests.support import histogram_in_process, wait_until

HELD = 0.3
INTERVAL = loop_lag.INTERVAL  # the service's own; the unit tests use it too
# The least a wake-up is late when the loop is held `HELD` seconds: the hold may begin up to one
# interval before the wake-up was due (a hundredth less, for the clocks' rounding).
FLOOR = HELD - INTERVAL - 0.01


def observed() -> tuple[float, float]:
    return histogram_in_process("bridge_event_loop_lag_seconds")


def late_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.metrics.loop_lag"]


def held_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The lines of a wake-up at least as late as holding the loop makes it (a slow machine may
    add lines of its own)."""
    return [line for line in late_lines(caplog) if late_ms(line) >= FLOOR * 1000]


def late_ms(line: str) -> float:
    return float(line.split("ran ")[1].split(" ms late")[0])


def test_a_held_loop_is_observed_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="app.metrics.loop_lag")

    async def scenario() -> None:
        watcher = asyncio.create_task(loop_lag.watch(slow_seconds=HELD / 2, interval=INTERVAL))
        await asyncio.sleep(INTERVAL * 3)  # a few wake-ups on time
        time.sleep(HELD)  # holds the loop, as a long callback would
        await asyncio.sleep(INTERVAL * 3)
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher

    count, total = observed()
    asyncio.run(scenario())
    after_count, after_total = observed()
    assert after_count >= count + 3
    assert after_total - total >= FLOOR
    (line,) = held_lines(caplog)
    assert "every answer waited" in line


def test_a_lag_under_the_threshold_is_observed_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="app.metrics.loop_lag")

    async def scenario() -> None:
        watcher = asyncio.create_task(loop_lag.watch(slow_seconds=60.0, interval=INTERVAL))
        await asyncio.sleep(INTERVAL)
        time.sleep(HELD)
        await asyncio.sleep(INTERVAL * 3)
        watcher.cancel()

    count, total = observed()
    asyncio.run(scenario())
    assert observed()[0] > count
    assert observed()[1] - total >= FLOOR
    assert late_lines(caplog) == []


def test_the_service_watches_its_loop(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """The app's lifespan starts the watcher: a request that holds the loop shows on /metrics and
    in the log, with the threshold of the settings."""
    caplog.set_level(logging.WARNING, logger="app.metrics.loop_lag")
    slow = settings.model_copy(update={"event_loop_slow_seconds": HELD / 2})
    with TestClient(create_app(slow)) as client:
        count, total = observed()
        wait_until(lambda: observed()[0] > count or None, what="the watcher's first wake-up")
        assert client.portal is not None
        client.portal.call(time.sleep, HELD)  # runs on the app's event loop, holding it
        wait_until(lambda: held_lines(caplog) or None, what="the late wake-up's line")
        assert observed()[1] - total >= FLOOR
