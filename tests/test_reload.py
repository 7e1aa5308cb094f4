"""Rule reloads: a good edit takes effect, a broken one keeps the last good rules."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.rules.loader import ConfigError

NEW_RULE = """
rules:
  - name: disk-full
    matchers: ['alertname="DiskFull"']
    type: technical_failure
    severity: SEV1
"""


def metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split(" ")[1])
    raise AssertionError(f"{name} not exported")


def test_reload_picks_up_new_rules(client: TestClient, rules_dir: Path) -> None:
    before = metric(client, "bridge_rules_loaded")
    (rules_dir / "90-infra.yaml").write_text(NEW_RULE)
    response = client.post("/-/reload")
    assert response.status_code == 200
    assert response.json()["rules"] == before + 1
    assert metric(client, "bridge_rules_loaded") == before + 1
    assert metric(client, "bridge_rules_last_reload_success") == 1


def test_failed_reload_keeps_last_good_rules(client: TestClient, rules_dir: Path) -> None:
    before = metric(client, "bridge_rules_loaded")
    (rules_dir / "90-infra.yaml").write_text(NEW_RULE.replace("SEV1", "SEV9") + "bogus_section: 1\n")
    response = client.post("/-/reload")
    assert response.status_code == 422
    body = response.json()
    assert body["reloaded"] is False and body["kept_rules"] == before
    assert any("bogus_section" in p for p in body["problems"])
    assert any("90-infra.yaml" in p and "severity" in p for p in body["problems"])
    assert metric(client, "bridge_rules_last_reload_success") == 0
    assert metric(client, "bridge_rules_loaded") == before
    # The service still classifies with the old rules.
    assert client.app.state.rules.current.ruleset.match({"alertname": "ModelAccuracyDrop"}) is not None  # type: ignore[attr-defined]


def test_service_refuses_to_start_on_broken_rules(settings: Settings, rules_dir: Path) -> None:
    (rules_dir / "00-broken.yaml").write_text("rules:\n  - name: x\n    matchers: ['a=~\"(\"']\n")
    with pytest.raises(ConfigError) as caught:
        create_app(settings)
    assert any("00-broken.yaml:2" in p and "bad regex" in p for p in caught.value.problems)


def test_sighup_reloads_a_running_server(tmp_path: Path, rules_dir: Path, runbooks_dir: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        "BRIDGE_RULES_DIR": str(rules_dir),
        "BRIDGE_RUNBOOKS_DIR": str(runbooks_dir),
        "BRIDGE_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200)
        loaded = scrape(base, "bridge_rules_loaded")
        (rules_dir / "90-infra.yaml").write_text(NEW_RULE)
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: scrape(base, "bridge_rules_loaded") == loaded + 1)
        (rules_dir / "91-broken.yaml").write_text("rules: [")
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: scrape(base, "bridge_rules_last_reload_success") == 0)
        assert scrape(base, "bridge_rules_loaded") == loaded + 1
        assert process.poll() is None
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert b"91-broken.yaml" in stderr  # the failed reload says why


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape(base: str, name: str) -> float:
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split(" ")[1])
    raise AssertionError(f"{name} not exported")


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
