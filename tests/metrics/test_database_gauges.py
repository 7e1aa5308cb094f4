"""Gauges computed from the database report 0 for every possible label set, and a count that
falls to nothing reads 0 instead of disappearing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from app.config import Settings
from app.incidents import metrics as incident_metrics
from app.main import create_app
from app.stats import metrics as stats_metrics
from tests.metrics.conftest import KINDS, key, series
from tests.paging.conftest import alert_body, fire_one
from tests.support import incident_detail

PROTOCOL = """\
communications:
  contact: "the model risk desk"
  audiences:
    affected-users: {name: Affected users, channel: "letter from the customer team"}
    press: {name: Press office, channel: "press release"}
"""


def open_series(text: str) -> dict[tuple[str, str, str], float]:
    """bridge_incidents_open by (type, severity, status): every sample, zeros included."""
    found = {}
    for (name, labels), values in series(text).items():
        if name == "bridge_incidents_open":
            found[(dict(labels)["type"], dict(labels)["severity"], dict(labels)["status"])] = values[0]
    return found


def test_open_incidents_count_and_fall_back_to_zero(client: TestClient) -> None:
    before = open_series(client.get("/metrics").text)
    assert len(before) == len(KINDS) * 2 and set(before.values()) == {0.0}

    incident_id = fire_one(client, alert_body("ModelAccuracyDrop", "fraud-scorer", "critical"))
    detail = incident_detail(client, incident_id)
    kind = (detail["type"], detail["severity"])
    opened = open_series(client.get("/metrics").text)
    assert opened[(*kind, "triggered")] == 1
    assert {k: v for k, v in opened.items() if v} == {(*kind, "triggered"): 1.0}

    response = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "alice"})
    assert response.status_code == 200, response.text
    acknowledged = open_series(client.get("/metrics").text)
    assert (acknowledged[(*kind, "triggered")], acknowledged[(*kind, "acknowledged")]) == (0, 1)

    response = client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "alice"})
    assert response.status_code == 200, response.text
    resolved = open_series(client.get("/metrics").text)
    assert resolved == before  # every series still there, at 0


@pytest.fixture
def protocol_settings(settings: Settings, rules_dir: Path) -> Settings:
    (rules_dir / "communications.yaml").write_text(PROTOCOL)
    return settings


def test_configured_audiences_have_their_series(protocol_settings: Settings) -> None:
    with TestClient(create_app(protocol_settings)) as client:
        exported = series(client.get("/metrics").text)
    for audience in ("affected-users", "press"):
        assert exported[key("bridge_communications_overdue", {"audience": audience})] == [0.0]
        for outcome in ("sent", "recorded", "holding", "cancelled"):
            assert key("bridge_communications_total", {"audience": audience, "outcome": outcome}) in exported
    for regime in ("eu_ai_act_art73", "gdpr_art33"):
        assert exported[key("bridge_obligations_overdue", {"regime": regime})] == [0.0]


def test_a_database_that_cannot_be_read_reports_nothing_rather_than_zeros(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 0 would read as "every incident resolved" and make the histograms' counters reset."""

    def unreachable() -> Any:
        raise OperationalError("SELECT 1", {}, Exception("the database is gone"))

    monkeypatch.setattr(incident_metrics.OPEN_INCIDENTS, "source", unreachable)
    monkeypatch.setattr(stats_metrics.HISTOGRAMS, "source", unreachable)
    stats_metrics.HISTOGRAMS.forget()
    response = client.get("/metrics")
    assert response.status_code == 200
    exported = series(response.text)
    assert not [
        k for k in exported if k[0] in ("bridge_incidents_open", "bridge_time_to_resolve_seconds_count")
    ]
    assert "# TYPE bridge_incidents_open gauge" in response.text  # the family stays, empty
    assert exported[key("bridge_incidents_unowned_open", {"type": "safety", "severity": "SEV1"})] == [0.0]
