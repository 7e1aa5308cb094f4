"""What the shipped rules make of alerts at intake: a fairness alert without a `model` label, one
model's fairness alerts in one incident, and a severity raised by the model's risk tier, each
visible on the incident and its timeline."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.support import incident_detail, incident_events, list_incidents, load_fixture_requests

# A registry without owners or policies: nobody is paged, the risk tiers are what matters here.
REGISTRY = """\
models:
  - {id: credit-scorer, tier: staging, risk_tier: high}
  - {id: sandbox-ranker, tier: experimental}
"""
MISSING_MODEL = "alert has no `model` label: owner unknown, the default escalation policy pages"


@pytest.fixture
def registry_client(settings: Settings, rules_dir: Path) -> Iterator[TestClient]:
    (rules_dir / "oncall.yaml").write_text(REGISTRY, encoding="utf-8")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def fire(client: TestClient, fingerprint: str, **labels: str) -> int:
    """Post one firing alert with these labels; the id of the incident it went to."""
    body = copy.deepcopy(load_fixture_requests()[0]["body"])
    alert = body["alerts"][0]
    alert["labels"] = labels
    alert["fingerprint"] = fingerprint
    alert["annotations"] = {"summary": f"{labels['alertname']} test"}
    response = client.post("/webhooks/alertmanager", json=body)
    assert response.status_code == 200, response.text
    [incident_id] = response.json()["incidents"]
    assert isinstance(incident_id, int)
    return incident_id


def test_fairness_alert_without_model_opens_a_flagged_fairness_incident(registry_client: TestClient) -> None:
    incident_id = fire(registry_client, "f1", alertname="FairnessViolation", severity="warning", group="age")

    incident = incident_detail(registry_client, incident_id)
    assert (incident["type"], incident["severity"], incident["rule"]) == (
        "fairness_violation",
        "SEV2",
        "fairness",
    )
    assert incident["unowned"] is True
    [flag] = incident_events(registry_client, incident_id, "labels_missing")
    assert flag["message"] == MISSING_MODEL
    # Still open once the alert resolves: a person closes a fairness incident.
    body = copy.deepcopy(load_fixture_requests()[0]["body"])
    body["status"] = "resolved"
    body["alerts"][0].update(
        status="resolved",
        labels={"alertname": "FairnessViolation", "severity": "warning", "group": "age"},
        fingerprint="f1",
        endsAt="2026-11-27T06:00:00Z",
    )
    assert registry_client.post("/webhooks/alertmanager", json=body).status_code == 200
    assert incident_detail(registry_client, incident_id)["status"] == "triggered"


def test_fairness_alert_with_model_writes_no_flag(registry_client: TestClient) -> None:
    incident_id = fire(
        registry_client, "f1", alertname="FairnessViolation", severity="warning", model="sandbox-ranker"
    )
    assert incident_events(registry_client, incident_id, "labels_missing") == []
    assert incident_events(registry_client, incident_id, "severity_by_risk_tier") == []


def test_one_models_fairness_alerts_share_one_incident_at_the_worst_severity(
    registry_client: TestClient,
) -> None:
    parity = fire(
        registry_client,
        "f1",
        alertname="DemographicParityGap",
        severity="warning",
        model="sandbox-ranker",
        group="age",
    )
    odds = fire(
        registry_client,
        "f2",
        alertname="FairnessViolation",
        severity="warning",
        model="sandbox-ranker",
        group="age",
    )
    impact = fire(
        registry_client,
        "f3",
        alertname="DisparateImpactRatioLow",
        severity="critical",
        model="sandbox-ranker",
        group="sex",
    )
    other = fire(
        registry_client,
        "f4",
        alertname="FairnessViolation",
        severity="warning",
        model="credit-scorer",
        group="age",
    )

    assert parity == odds == impact != other
    incident = incident_detail(registry_client, parity)
    assert (incident["severity"], incident["alert_count"]) == ("SEV1", 3)
    assert len(list_incidents(registry_client, type="fairness_violation")["items"]) == 2


def test_high_risk_model_raises_severity_and_says_why(registry_client: TestClient) -> None:
    high = fire(
        registry_client, "f1", alertname="FairnessViolation", severity="warning", model="credit-scorer"
    )
    sandbox = fire(
        registry_client, "f2", alertname="FairnessViolation", severity="warning", model="sandbox-ranker"
    )

    assert incident_detail(registry_client, high)["severity"] == "SEV1"
    assert incident_detail(registry_client, sandbox)["severity"] == "SEV2"
    [why] = incident_events(registry_client, high, "severity_by_risk_tier")
    assert why["message"] == (
        "SEV1, not SEV2: the model's risk tier is high, which raises harm from high to critical"
        " (harm_by_risk_tier)"
    )
