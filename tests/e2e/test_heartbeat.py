"""A real Alertmanager keeps a real incident-bridge's heartbeat alive with its Watchdog alert; when
the Watchdog stops, the bridge's worker opens a heartbeat incident and pages; when it comes
back, the incident resolves. SQLite and PostgreSQL."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    GROUP_INTERVAL_S,
    REPEAT_INTERVAL_S,
    RUNBOOKS_DIR,
    WEBHOOK_TOKEN,
    Alertmanager,
    Bridge,
)
from tests.paging.conftest import HttpReceiver
from tests.support import require_binary, wait_until

pytestmark = pytest.mark.e2e

# Alertmanager repeats the Watchdog every REPEAT_INTERVAL_S (+ up to GROUP_INTERVAL_S): an
# interval of twice that is never reached while it fires.
INTERVAL_S = 2 * (REPEAT_INTERVAL_S + GROUP_INTERVAL_S)
CHECK_EVERY_S = 1  # the worker's job interval (BRIDGE_ESCALATION_INTERVAL_SECONDS)
WATCHDOG = {"alertname": "Watchdog", "severity": "none"}
KEY = "heartbeat:watchdog"


@pytest.fixture
def watched_bridge(
    tmp_path: Path, e2e_database_url: str, e2e_rules_dir: Path, receiver: HttpReceiver
) -> Iterator[Bridge]:
    """One bridge whose rules declare the Watchdog heartbeat, checked every second."""
    (e2e_rules_dir / "60-heartbeats.yaml").write_text(
        "heartbeats:\n"
        "  - name: watchdog\n"
        "    matchers: ['alertname=\"Watchdog\"']\n"
        f"    interval: {INTERVAL_S}s\n"
    )
    bridge = Bridge(tmp_path, "bridge", token=WEBHOOK_TOKEN)
    settings = {
        "BRIDGE_DATABASE_URL": e2e_database_url,
        "BRIDGE_RULES_DIR": str(e2e_rules_dir),
        "BRIDGE_RUNBOOKS_DIR": str(RUNBOOKS_DIR),
        "BRIDGE_PAGERDUTY_EVENTS_URL": f"{receiver.url}/pagerduty",
        "BRIDGE_LOG_LEVEL": "warning",
        "BRIDGE_ESCALATION_INTERVAL_SECONDS": str(CHECK_EVERY_S),
    }
    try:
        settings["BRIDGE_PUBLIC_URL"] = bridge.url
        yield bridge.start(settings)
    finally:
        sys.stderr.write(f"--- {bridge.name} output ---\n{bridge.stop()}\n")


@pytest.fixture
def watchdog_am(watched_bridge: Bridge, tmp_path: Path) -> Iterator[Alertmanager]:
    binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    am = Alertmanager(watched_bridge, tmp_path, binary)
    try:
        yield am.start()
    finally:
        sys.stderr.write(f"--- Alertmanager output ---\n{am.stop()}\n")


def heartbeat(bridge: Bridge) -> dict[str, Any]:
    response = bridge.http.get("/api/v1/heartbeats")
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    assert item["name"] == "watchdog"
    result: dict[str, Any] = item
    return result


def beats_past(bridge: Bridge, count: int) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        item = heartbeat(bridge)
        return item if item["beats"] > count else None

    return check


def test_the_watchdog_keeps_the_heartbeat_alive_and_its_silence_pages(
    watched_bridge: Bridge, watchdog_am: Alertmanager, receiver: HttpReceiver
) -> None:
    bridge, am = watched_bridge, watchdog_am
    am.fire(WATCHDOG)
    first = wait_until(beats_past(bridge, 0), timeout=20, what="the first beat")
    assert first is not None
    beaten_at = time.monotonic()

    # Alive for one and a half intervals: repeats beat it, nothing opens.
    while time.monotonic() - beaten_at < 1.5 * INTERVAL_S:
        item = heartbeat(bridge)
        assert item["silent"] is False, item
        assert bridge.incidents() == []
        time.sleep(0.5)
    alive = heartbeat(bridge)
    assert alive["beats"] >= first["beats"] + 2
    assert alive["last_beat_at"] > first["last_beat_at"]
    assert bridge.metric("bridge_heartbeat_silent", heartbeat="watchdog") == 0

    # The Watchdog stops (Alertmanager notifies it resolved): no beat comes any more.
    am.resolve(WATCHDOG)

    def heartbeat_incident() -> dict[str, Any] | None:
        items = bridge.incidents()
        assert all(i["key"] == KEY for i in items), items  # the Watchdog itself never opens one
        return items[0] if items else None

    incident = wait_until(heartbeat_incident, timeout=INTERVAL_S + 20, what="the heartbeat incident")
    assert incident is not None
    assert (incident["type"], incident["severity"], incident["status"]) == (
        "technical_failure",
        "SEV2",
        "triggered",
    )
    assert incident["title"] == f"Heartbeat watchdog is silent: no beat for over {INTERVAL_S}s"
    assert incident["alert_count"] == 0
    assert heartbeat(bridge)["silent"] is True
    assert bridge.metric("bridge_heartbeat_silent", heartbeat="watchdog") == 1
    # Paged like any other incident: the default policy's first step, alice on call.
    pages = receiver.wait_for(1, "/alice", timeout=20)
    assert pages[0].json["incident"]["id"] == incident["id"]
    assert pages[0].json["event"] == "page"

    # The Watchdog fires again: the next beat resolves the incident.
    am.fire(WATCHDOG)

    def resolved() -> dict[str, Any] | None:
        detail = bridge.incident(incident["id"])
        return detail if detail["status"] == "resolved" else None

    detail = wait_until(resolved, timeout=20, what="the heartbeat incident resolved")
    assert detail is not None
    (line,) = [e for e in detail["timeline"] if e["kind"] == "resolved"]
    assert line["message"].startswith("heartbeat 'watchdog' beat again at ")
    assert [i["id"] for i in bridge.incidents()] == [incident["id"]]
    assert heartbeat(bridge)["silent"] is False
