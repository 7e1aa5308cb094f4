"""Workspace actions that page: report, reassign, escalate now, snooze; with the controllable
clock and the local receivers."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from app.db import utcnow
from tests.paging.conftest import (
    HttpReceiver,
    SmtpServer,
    escalate_at,
    escalation_row,
    fire_one,
    fixture_body,
    kinds,
    wait_settled,
)

API = "/api/v1/incidents"


def open_fraud_incident(client: TestClient, receiver: HttpReceiver, smtp: SmtpServer) -> int:
    """SEV2 accuracy drop on fraud-scorer: alice (on call) is paged first."""
    incident_id = fire_one(client, fixture_body(1))
    receiver.wait_for(1, "/alice")
    smtp.wait_for(1)
    wait_settled(client)
    return incident_id


def test_a_reported_incident_pages_its_model_owner_like_an_alert(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    response = paging_client.post(
        API,
        json={
            "title": "Scores shifted after a vendor update",
            "type": "performance_degradation",
            "severity": "SEV2",
            "model": "fraud-scorer",
            "reported_by": "vendor-desk",
            "source": "vendor_notice",
        },
    )
    assert response.status_code == 201, response.text
    incident = response.json()
    assert (incident["owner"], incident["escalation_policy"], incident["unowned"]) == (
        "alice",
        "risk-ml-default",
        False,
    )
    (hook,) = receiver.wait_for(1, "/alice")
    assert hook.json["incident"]["id"] == incident["id"]
    assert hook.json["event"] == "page"


def test_reassign_pages_the_person_now_and_escalation_waits_on_them(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    incident_id = open_fraud_incident(paging_client, receiver, smtp)
    paging_client.post(f"{API}/{incident_id}/acknowledge", json={"by": "alice"})
    assert receiver.at("/bob") == []
    response = paging_client.post(f"{API}/{incident_id}/reassign", json={"by": "alice", "to": "bob"})
    assert response.status_code == 200, response.text
    moved = response.json()
    assert (moved["status"], moved["lead"], moved["acknowledged_by"]) == ("triggered", "bob", None)
    receiver.wait_for(1, "/bob")
    wait_settled(paging_client)
    assert "reassigned" in kinds(paging_client, incident_id)
    # Escalation waits on bob: his step first, the incident's own steps 10 minutes later.
    esc = escalation_row(paging_client, incident_id)
    assert esc.policy["steps"][0]["notify"] == ["person:bob"]
    start = esc.started_at
    assert escalate_at(paging_client, start + timedelta(minutes=9)) == 0
    assert escalate_at(paging_client, start + timedelta(minutes=11)) > 0  # the rotation (alice) again
    # Somebody nobody knows is refused and changes nothing.
    unknown = paging_client.post(f"{API}/{incident_id}/reassign", json={"by": "alice", "to": "mallory"})
    assert unknown.status_code == 422
    assert paging_client.get(f"{API}/{incident_id}").json()["lead"] == "bob"


def test_escalate_fires_the_next_step_now(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    incident_id = open_fraud_incident(paging_client, receiver, smtp)
    assert receiver.at("/bob") == []
    response = paging_client.post(f"{API}/{incident_id}/escalate", json={"by": "alice"})
    assert response.status_code == 200, response.text
    receiver.wait_for(1, "/bob")  # step 2, due at 10 minutes, fired now
    wait_settled(paging_client)
    timeline = paging_client.get(f"{API}/{incident_id}").json()["timeline"]
    assert [e["actor"] for e in timeline if e["kind"] == "escalation_requested"] == ["alice"]


def test_a_snoozed_incident_pages_again_when_its_time_runs_out(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    incident_id = open_fraud_incident(paging_client, receiver, smtp)
    paging_client.post(f"{API}/{incident_id}/acknowledge", json={"by": "alice"})
    snoozed = paging_client.post(f"{API}/{incident_id}/snooze", json={"by": "alice", "minutes": 30}).json()
    assert snoozed["status"] == "acknowledged"
    pages_before = len(receiver.at("/alice"))
    now = utcnow()
    assert escalate_at(paging_client, now + timedelta(minutes=29)) == 0
    assert paging_client.get(f"{API}/{incident_id}").json()["status"] == "acknowledged"
    assert escalate_at(paging_client, now + timedelta(minutes=31)) > 0
    woken = paging_client.get(f"{API}/{incident_id}").json()
    assert (woken["status"], woken["snoozed_until"], woken["acknowledged_by"]) == ("triggered", None, None)
    receiver.wait_for(pages_before + 1, "/alice")
    assert "snooze_ended" in kinds(paging_client, incident_id)


def test_a_snoozed_incident_resolved_in_time_stays_quiet(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    incident_id = open_fraud_incident(paging_client, receiver, smtp)
    paging_client.post(f"{API}/{incident_id}/acknowledge", json={"by": "alice"})
    paging_client.post(f"{API}/{incident_id}/snooze", json={"by": "alice", "minutes": 30})
    paging_client.post(f"{API}/{incident_id}/resolve", json={"by": "alice"})
    assert escalate_at(paging_client, utcnow() + timedelta(minutes=31)) == 0
    assert paging_client.get(f"{API}/{incident_id}").json()["status"] == "resolved"
