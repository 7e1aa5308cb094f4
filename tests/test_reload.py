"""Rule reloads: a good edit takes effect, a broken one keeps the last good rules."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.catalog.loader import ConfigError
from app.config import Settings
from app.main import create_app
from tests.support import BridgeProcess, parse_metrics, wait_until

NEW_RULE = """
rules:
  - name: disk-full
    matchers: ['alertname="DiskFull"']
    type: technical_failure
    severity: SEV1
"""


def metric(client: httpx.Client, name: str) -> float:
    """The unlabelled series `name` at /metrics (a KeyError when it is not exported)."""
    return parse_metrics(client.get("/metrics").text)[name]


def test_reload_picks_up_new_rules(client: TestClient, rules_dir: Path) -> None:
    before = metric(client, "bridge_rules_loaded")
    (rules_dir / "90-infra.yaml").write_text(NEW_RULE)
    response = client.post("/-/reload")
    assert response.status_code == 200
    assert response.json()["rules"] == before + 1
    assert metric(client, "bridge_rules_loaded") == before + 1
    assert metric(client, "bridge_config_last_reload_successful") == 1


def test_failed_reload_keeps_last_good_rules(client: TestClient, rules_dir: Path) -> None:
    before = metric(client, "bridge_rules_loaded")
    (rules_dir / "90-infra.yaml").write_text(NEW_RULE.replace("SEV1", "SEV9") + "bogus_section: 1\n")
    response = client.post("/-/reload")
    assert response.status_code == 422
    body = response.json()
    assert body["reloaded"] is False and body["kept_rules"] == before
    path = rules_dir / "90-infra.yaml"
    unknown, severity = body["problems"]
    assert unknown.startswith(f"{path}: unknown top-level section 'bogus_section' (known: ")
    assert severity.startswith(f"{path}:3: rule 'disk-full': severity: ")  # the wording is pydantic's
    assert metric(client, "bridge_config_last_reload_successful") == 0
    assert metric(client, "bridge_rules_loaded") == before
    # The service still classifies with the old rules.
    assert (
        client.app.state.runtime.catalog.current.ruleset.match({"alertname": "ModelAccuracyDrop"}) is not None
    )  # type: ignore[attr-defined]


def test_service_refuses_to_start_on_broken_rules(settings: Settings, rules_dir: Path) -> None:
    (rules_dir / "00-broken.yaml").write_text("rules:\n  - name: x\n    matchers: ['a=~\"(\"']\n")
    with pytest.raises(ConfigError) as caught:
        create_app(settings)
    path = rules_dir / "00-broken.yaml"
    bad_regex, no_type = caught.value.problems
    assert bad_regex.startswith(f"""{path}:2: rule 'x': bad regex in matcher 'a=~"("': """)
    assert no_type.startswith(f"{path}:2: rule 'x': type: ")


def test_sighup_reloads_a_running_server(tmp_path: Path, rules_dir: Path, runbooks_dir: Path) -> None:
    bridge = BridgeProcess(tmp_path)
    settings = {
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        "BRIDGE_RULES_DIR": str(rules_dir),
        "BRIDGE_RUNBOOKS_DIR": str(runbooks_dir),
        "BRIDGE_LOG_LEVEL": "warning",
    }
    try:
        process = bridge.start(settings).proc
        assert process is not None
        loaded = metric(bridge.http, "bridge_rules_loaded")
        (rules_dir / "90-infra.yaml").write_text(NEW_RULE)
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: metric(bridge.http, "bridge_rules_loaded") == loaded + 1)
        (rules_dir / "91-broken.yaml").write_text("rules: [")
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: metric(bridge.http, "bridge_config_last_reload_successful") == 0)
        assert metric(bridge.http, "bridge_rules_loaded") == loaded + 1
        assert process.poll() is None
    finally:
        bridge.stop()
    assert "91-broken.yaml" in bridge.log.read_text()  # the failed reload says why
