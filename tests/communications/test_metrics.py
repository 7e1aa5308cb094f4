"""Prometheus series of the protocol on GET /metrics: the counter of notices by audience and
outcome (process-global: read before and after), and the gauges computed from the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.communications.conftest import (
    TEAMS_YAML,
    assess,
    iso,
    notice,
    notice_action,
    obligation,
    past,
    report_incident,
    run_sweep,
)
from tests.paging.conftest import alert_body, fire_one, wait_settled
from tests.support import metric, metric_value

COUNTER = "bridge_communications_total"
SERIES = [
    ("ml-lead", "sent"),
    ("support", "sent"),
    ("legal", "sent"),
    ("legal", "cancelled"),
    ("affected-users", "sent"),
    ("affected-users", "recorded"),
    ("affected-users", "holding"),
    ("affected-users", "cancelled"),
]
USERS = ("fairness-users", "affected-users")


def counters(client: TestClient) -> dict[tuple[str, str], float]:
    text = client.get("/metrics").text
    return {(a, o): metric_value(text, COUNTER, audience=a, outcome=o) for a, o in SERIES}


def grown(client: TestClient, before: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """By how much each series grew since `before`; only those that did."""
    after = counters(client)
    return {key: after[key] - before[key] for key in SERIES if after[key] != before[key]}


def test_each_notice_counts_once_by_audience_and_outcome(protocol_client: TestClient) -> None:
    before = counters(protocol_client)

    outage_id = fire_one(protocol_client, alert_body("ModelServingErrors", "fraud-scorer", "critical"))
    wait_settled(protocol_client)
    assert grown(protocol_client, before) == {("ml-lead", "sent"): 1}
    response = protocol_client.post(f"/api/v1/incidents/{outage_id}/acknowledge", json={"by": "alice"})
    assert response.status_code == 200, response.text
    wait_settled(protocol_client)
    assert grown(protocol_client, before) == {("ml-lead", "sent"): 1, ("support", "sent"): 1}

    fairness_id = report_incident(protocol_client, "fairness_violation", "SEV2", "credit-scorer")["id"]
    assess(protocol_client, fairness_id, "serious")
    users = notice(protocol_client, fairness_id, *USERS)
    notice_action(protocol_client, fairness_id, users["id"], "send", expect=409, by="erin")  # no via: refused
    notice_action(protocol_client, fairness_id, users["id"], "send", by="erin", via="letter")
    legal = notice(protocol_client, fairness_id, "fairness", "legal")
    notice_action(protocol_client, fairness_id, legal["id"], "cancel", by="erin", reason="told in person")
    notice_action(protocol_client, fairness_id, legal["id"], "send", expect=409, by="erin")

    assert grown(protocol_client, before) == {
        ("ml-lead", "sent"): 1,
        ("support", "sent"): 1,
        ("affected-users", "recorded"): 1,  # the letter
        ("affected-users", "cancelled"): 1,  # its holding statement, no longer needed
        ("legal", "cancelled"): 1,
    }
    exposition = protocol_client.get("/metrics").text
    assert "# TYPE bridge_communications_total counter" in exposition


@pytest.mark.parametrize("protocol_yaml", [TEAMS_YAML])
def test_a_holding_statement_counts_as_holding(protocol_client: TestClient) -> None:
    fairness_id = report_incident(protocol_client, "fairness_violation", "SEV2", "credit-scorer")["id"]
    legal = notice(protocol_client, fairness_id, "fairness", "legal")
    notice_action(protocol_client, fairness_id, legal["id"], "cancel", by="erin", reason="told in person")
    aware = past(minutes=1)
    assess(protocol_client, fairness_id, "serious", aware_at=iso(aware))
    before = counters(protocol_client)

    assert run_sweep(protocol_client, aware + timedelta(hours=24, seconds=1)) == 1

    assert grown(protocol_client, before) == {("affected-users", "holding"): 1}


def test_gauges_count_open_and_overdue_items_in_the_database(protocol_client: TestClient) -> None:
    assert metric(protocol_client, "bridge_obligations_open") == 0
    assert metric(protocol_client, "bridge_communications_overdue") == 0

    late_id = report_incident(protocol_client, "fairness_violation", "SEV2", "credit-scorer")["id"]
    assess(protocol_client, late_id, "serious", aware_at=iso(past(days=16)))  # Art. 73 report due a day ago
    breach_id = report_incident(protocol_client, "technical_failure", "SEV3", "fraud-scorer")["id"]
    assess(protocol_client, breach_id, "issue", personal_data_breach=True)  # GDPR report due in 72h

    exposition = protocol_client.get("/metrics").text
    assert 'bridge_obligations_open{regime="eu_ai_act_art73"} 1.0' in exposition.splitlines()
    assert 'bridge_obligations_open{regime="gdpr_art33"} 1.0' in exposition.splitlines()
    assert 'bridge_obligations_overdue{regime="eu_ai_act_art73"} 1.0' in exposition.splitlines()
    assert metric_value(exposition, "bridge_obligations_overdue", regime="gdpr_art33") == 0
    # The users' notice (72h) and its holding statement (24h) counted from 16 days ago are late;
    # legal's (4h from opening, just now) is not.
    assert 'bridge_communications_overdue{audience="affected-users"} 2.0' in exposition.splitlines()
    assert metric_value(exposition, "bridge_communications_overdue", audience="legal") == 0
    assert metric_value(exposition, "bridge_communications_overdue") == 2

    report = obligation(protocol_client, late_id, "eu_ai_act_art73", "report")
    assert report["overdue"] is True
    response = protocol_client.post(
        f"/api/v1/incidents/{late_id}/obligations/{report['id']}/report",
        json={"by": "erin", "kind": "initial", "late_reason": "the assessment changed late"},
    )
    assert response.status_code == 200, response.text
    users = notice(protocol_client, late_id, *USERS)
    notice_action(protocol_client, late_id, users["id"], "send", by="erin", via="letter", late_reason="same")

    exposition = protocol_client.get("/metrics").text
    assert metric_value(exposition, "bridge_obligations_open", regime="eu_ai_act_art73") == 0
    assert metric_value(exposition, "bridge_obligations_overdue", regime="eu_ai_act_art73") == 0
    assert metric_value(exposition, "bridge_obligations_open", regime="gdpr_art33") == 1
    # The letter went out; its holding statement was cancelled with it.
    assert metric_value(exposition, "bridge_communications_overdue") == 0
