"""The reload gauges, named as Prometheus and Alertmanager name theirs: 1 and the time of the
last good load after a good reload; 0 after a bad one, which keeps the last good rules and time."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.metrics.conftest import one

SUCCESSFUL = "bridge_config_last_reload_successful"
TIMESTAMP = "bridge_config_last_reload_success_timestamp_seconds"
EXTRA_RULE = """
rules:
  - name: disk-full
    matchers: ['alertname="DiskFull"']
    type: technical_failure
    severity: SEV1
"""


def state(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    return {
        "successful": one(text, SUCCESSFUL),
        "timestamp": one(text, TIMESTAMP),
        "rules": one(text, "bridge_rules_loaded"),
        "successes": one(text, "bridge_rules_reloads_total", outcome="success"),
        "failures": one(text, "bridge_rules_reloads_total", outcome="failure"),
    }


def test_good_then_bad_then_good_reload(client: TestClient, rules_dir: Path) -> None:
    start = state(client)
    assert start["successful"] == 1 and 0 < start["timestamp"] <= time.time()

    (rules_dir / "90-infra.yaml").write_text(EXTRA_RULE)
    before = time.time()
    assert client.post("/-/reload").status_code == 200
    good = state(client)
    assert good["successful"] == 1
    assert before <= good["timestamp"] <= time.time()
    assert good["rules"] == start["rules"] + 1
    assert (good["successes"], good["failures"]) == (start["successes"] + 1, start["failures"])

    (rules_dir / "91-broken.yaml").write_text("rules: [")
    assert client.post("/-/reload").status_code == 422
    bad = state(client)
    assert bad["successful"] == 0
    assert bad["timestamp"] == good["timestamp"]  # the last success, not the attempt
    assert bad["rules"] == good["rules"]  # the last good rules stay in force
    assert (bad["successes"], bad["failures"]) == (good["successes"], good["failures"] + 1)
    catalog = client.app.state.runtime.catalog.current  # type: ignore[attr-defined]
    assert catalog.ruleset.match({"alertname": "DiskFull"}) is not None

    (rules_dir / "91-broken.yaml").unlink()
    assert client.post("/-/reload").status_code == 200
    fixed = state(client)
    assert fixed["successful"] == 1 and fixed["timestamp"] >= bad["timestamp"]
    assert fixed["successes"] == bad["successes"] + 1


def test_the_old_names_are_gone(client: TestClient) -> None:
    text = client.get("/metrics").text
    assert "bridge_rules_last_reload_success" not in text
