"""bridge_heartbeat_last_beat_timestamp_seconds and bridge_heartbeat_silent: computed from the
database at scrape, one series per declared heartbeat from the start. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from app.db import utcnow
from tests.heartbeats.conftest import HEARTBEATS_YAML, NIGHTLY_YAML, beat_at, reload_heartbeats
from tests.support import parse_metrics

LAST_BEAT = "bridge_heartbeat_last_beat_timestamp_seconds"
SILENT = "bridge_heartbeat_silent"


def series(client: TestClient, name: str) -> dict[str, float]:
    """The samples of `name` by heartbeat."""
    prefix = f'{name}{{heartbeat="'
    return {
        key[len(prefix) : -2]: value
        for key, value in parse_metrics(client.get("/metrics").text).items()
        if key.startswith(prefix)
    }


def test_every_declared_heartbeat_has_its_series_from_the_start(client: TestClient, rules_dir: Path) -> None:
    assert series(client, LAST_BEAT) == {"watchdog": 0.0}
    assert series(client, SILENT) == {"watchdog": 0.0}

    reload_heartbeats(client, rules_dir, HEARTBEATS_YAML + NIGHTLY_YAML)

    assert series(client, LAST_BEAT) == {"watchdog": 0.0, "nightly-scoring": 0.0}
    assert series(client, SILENT) == {"watchdog": 0.0, "nightly-scoring": 0.0}


def test_the_gauges_follow_the_beats(client: TestClient, rules_dir: Path) -> None:
    reload_heartbeats(client, rules_dir, HEARTBEATS_YAML + NIGHTLY_YAML)
    long_ago = utcnow() - timedelta(hours=2)  # the interval is 1h
    beat_at(client, "watchdog", long_ago)

    assert series(client, LAST_BEAT) == {"watchdog": long_ago.timestamp(), "nightly-scoring": 0.0}
    assert series(client, SILENT) == {"watchdog": 1.0, "nightly-scoring": 0.0}

    answer = client.post("/heartbeats/watchdog", headers={"Content-Type": "application/json"})
    assert answer.status_code == 200

    beaten = series(client, LAST_BEAT)["watchdog"]
    assert abs(beaten - utcnow().timestamp()) < 60
    assert series(client, SILENT) == {"watchdog": 0.0, "nightly-scoring": 0.0}

    # A heartbeat no longer declared has no series, whatever the database still holds.
    reload_heartbeats(client, rules_dir, NIGHTLY_YAML.replace("  - name", "heartbeats:\n  - name", 1))
    assert series(client, LAST_BEAT) == {"nightly-scoring": 0.0}
    assert series(client, SILENT) == {"nightly-scoring": 0.0}
