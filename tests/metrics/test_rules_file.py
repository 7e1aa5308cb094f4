"""examples/prometheus/bridge.rules.yml, the alerting rules about the bridge itself: well formed,
every series it asks for exported at GET /metrics (so the examples cannot drift from the code),
and every alert exercised by bridge.rules.test.yml, which promtool runs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from app.cli import migrate
from app.config import Settings
from app.main import create_app
from tests.support import ROOT, require_binary
from tests.test_dashboard import bridge_names, describe, exported_series, family_of, foreign_words

EXAMPLES = ROOT / "examples" / "prometheus"
RULES = EXAMPLES / "bridge.rules.yml"
TESTS = EXAMPLES / "bridge.rules.test.yml"
README = "https://docs.example.com/incident-bridge/README.md#"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: which series /metrics exports does not depend on the database."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    migrate(url)
    return url


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_says_how_bad_for_how_long_and_what_to_do() -> None:
    found = rules()
    assert len(found) >= 10
    for rule in found:
        name = rule["alert"]
        assert name.startswith("Bridge"), name
        assert rule["for"], name
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert "model" not in rule["labels"], f"{name}: a model label would route it to the bridge itself"
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook_url"] == README + name.lower(), name
    assert len({rule["alert"] for rule in found}) == len(found)


def test_the_rules_cover_what_the_bridge_must_not_miss() -> None:
    exprs = {rule["alert"]: rule["expr"] for rule in rules()}
    used = {name for expr in exprs.values() for name in bridge_names(expr)}
    assert {
        "bridge_webhook_requests_total",
        "bridge_webhook_duration_seconds_bucket",
        "bridge_notifications_total",
        "bridge_notifications_pending",
        "bridge_job_last_success_timestamp_seconds",
        "bridge_job_runs_total",
        "bridge_config_last_reload_successful",
        "bridge_heartbeat_silent",
    } <= used
    assert exprs["BridgeDown"].startswith("up{")
    assert {word for expr in exprs.values() for word in foreign_words(expr)} == {"up"}


def test_every_series_in_the_rules_is_exported(settings: Settings) -> None:
    """An app that runs its jobs (their series exist) and has the shipped heartbeats declared."""
    with TestClient(create_app(settings.model_copy(update={"run_jobs": True}))) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    exported = exported_series(response.text)
    missing: dict[str, list[str]] = {}
    for rule in rules():
        for name in bridge_names(rule["expr"]):
            if name not in exported:
                missing.setdefault(f"{name} (family {family_of(name)})", []).append(rule["alert"])
    assert not missing, describe(missing)
    assert 'bridge_job_last_success_timestamp_seconds{job_name="escalation"}' in response.text


def test_every_alert_is_tested_firing_and_quiet() -> None:
    document = yaml.safe_load(TESTS.read_text(encoding="utf-8"))
    assert document["rule_files"] == [RULES.name]
    firing: set[str] = set()
    quiet: set[str] = set()
    for test in document["tests"]:
        for case in test.get("alert_rule_test") or []:
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in rules()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested quiet"


@pytest.mark.parametrize("command", [["check", "rules", RULES.name], ["test", "rules", TESTS.name]])
def test_promtool_accepts_the_rules_and_their_tests(command: list[str]) -> None:
    promtool = require_binary("promtool", "prometheus")
    done = subprocess.run([promtool, *command], cwd=EXAMPLES, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
