"""Where notices go stays out of what the API shows: no contact URL, webhook secret, routing key
or address appears in the notices, the timeline, the obligations or any error answer."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.communications.conftest import (
    assess,
    notice,
    protocol_oncall,
    report_incident,
    run_sweep,
    when,
)
from tests.paging.conftest import (
    PD_ROUTING_KEY,
    HttpReceiver,
    alert_body,
    fire_one,
    notifications,
    wait_settled,
)

CAROL_SECRET = "carols-own-webhook-secret-4f9a1c"


@pytest.fixture
def oncall_text(receiver: HttpReceiver) -> str:
    """Carol's webhook signs with a secret of its own."""
    text = protocol_oncall(receiver.url)
    plain = f"{{type: webhook, url: {receiver.url}/carol, urgency: [low]}}"
    assert plain in text
    return text.replace(
        plain, f"{{type: webhook, url: {receiver.url}/carol, secret: {CAROL_SECRET}, urgency: [low]}}"
    )


def secrets_of(receiver: HttpReceiver) -> list[str]:
    return [
        receiver.url,
        f"127.0.0.1:{receiver.port}",
        "/carol",
        "/slack/bob",
        "/fallback",
        CAROL_SECRET,
        PD_ROUTING_KEY,
        "alice@example.com",
    ]


def test_no_contact_detail_reaches_the_api(protocol_client: TestClient, receiver: HttpReceiver) -> None:
    receiver.always("/carol", 500)  # carol's deliveries fail: their errors are recorded somewhere
    seen: list[tuple[str, httpx.Response]] = []

    def look(what: str, response: httpx.Response) -> None:
        seen.append((what, response))

    outage_id = fire_one(protocol_client, alert_body("ModelServingErrors", "fraud-scorer", "critical"))
    receiver.wait_for(1, "/carol")
    wait_settled(protocol_client)
    (failed,) = notifications(protocol_client, outage_id, kind="communication")
    assert failed.last_error == "webhook to carol: HTTP 500"  # the channel says it failed, not where
    look("ack", protocol_client.post(f"/api/v1/incidents/{outage_id}/acknowledge", json={"by": "alice"}))
    wait_settled(protocol_client)

    fairness_id = report_incident(protocol_client, "fairness_violation", "SEV2", "churn-model")["id"]
    assess(protocol_client, fairness_id, "serious")
    users = notice(protocol_client, fairness_id, "fairness-users", "affected-users")
    legal = notice(protocol_client, fairness_id, "fairness", "legal")
    base = f"/api/v1/incidents/{fairness_id}/communications"
    look("send without via", protocol_client.post(f"{base}/{users['id']}/send", json={"by": "erin"}))
    look("send legal", protocol_client.post(f"{base}/{legal['id']}/send", json={"by": "erin"}))
    look("send twice", protocol_client.post(f"{base}/{legal['id']}/send", json={"by": "erin"}))
    # An overdue reminder too, to bob's webhook and Slack (before the notice is cancelled).
    run_sweep(protocol_client, when(users["due_at"]) + timedelta(minutes=1))
    look("cancel without reason", protocol_client.post(f"{base}/{users['id']}/cancel", json={"by": "erin"}))
    look(
        "cancel",
        protocol_client.post(f"{base}/{users['id']}/cancel", json={"by": "erin", "reason": "told by phone"}),
    )
    look(
        "other incident",
        protocol_client.post(
            f"/api/v1/incidents/{outage_id}/communications/{users['id']}/approve", json={"by": "x"}
        ),
    )
    wait_settled(protocol_client)
    assert [r.status_code for _, r in seen] == [200, 409, 200, 409, 422, 200, 404]

    for incident_id in (outage_id, fairness_id):
        for path in ("", "/communications", "/obligations", "/moments", "/harm/history"):
            look(f"GET {incident_id}{path}", protocol_client.get(f"/api/v1/incidents/{incident_id}{path}"))
    look("incidents", protocol_client.get("/api/v1/incidents"))

    kinds = {
        e["kind"]
        for incident_id in (outage_id, fairness_id)
        for e in protocol_client.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]
    }
    # What was looked at holds the events that could leak: sends, cancellations, reminders.
    assert {"communication_due", "communication_sent", "communication_cancelled", "overdue"} <= kinds
    for what, response in seen:
        for secret in secrets_of(receiver):
            assert secret not in response.text, f"{secret!r} found in {what}: {response.text}"


def test_a_restricted_incident_keeps_its_notices_and_reports_from_others(protocol_client: TestClient) -> None:
    """Fairness incidents are restricted: carol works on nothing here, alice owns the model."""
    incident = report_incident(protocol_client, "fairness_violation", "SEV2", "credit-scorer")
    incident_id = incident["id"]
    assert incident["restricted"] is True
    assess(protocol_client, incident_id, "serious")
    legal = notice(protocol_client, incident_id, "fairness", "legal")
    report_id = protocol_client.get(f"/api/v1/incidents/{incident_id}/obligations").json()["items"][0]["id"]
    base = f"/api/v1/incidents/{incident_id}"
    carol = {"X-Bridge-Person": "carol"}

    answers = [
        protocol_client.get(f"{base}/communications", headers=carol),
        protocol_client.get(f"{base}/obligations", headers=carol),
        protocol_client.get(f"{base}/moments", headers=carol),
        protocol_client.put(
            f"{base}/communications/{legal['id']}", json={"by": "carol", "text": "x"}, headers=carol
        ),
        protocol_client.post(
            f"{base}/communications/{legal['id']}/approve", json={"by": "carol"}, headers=carol
        ),
        protocol_client.post(
            f"{base}/communications/{legal['id']}/send", json={"by": "carol"}, headers=carol
        ),
        protocol_client.post(
            f"{base}/communications/{legal['id']}/cancel", json={"by": "carol", "reason": "x"}, headers=carol
        ),
        protocol_client.post(
            f"{base}/communications/{legal['id']}/postpone", json={"by": "carol", "minutes": 5}, headers=carol
        ),
        protocol_client.post(
            f"{base}/obligations/{report_id}/report", json={"by": "carol", "kind": "initial"}, headers=carol
        ),
        protocol_client.post(f"{base}/moments", json={"by": "carol", "name": "significant"}, headers=carol),
    ]

    for response in answers:
        assert response.status_code == 404, (response.request.url, response.text)
        assert response.json() == {"error": "not_found", "detail": f"incident {incident_id} not found"}
    after = notice(protocol_client, incident_id, "fairness", "legal")
    assert (after["status"], after["text"], after["due_at"]) == ("pending", legal["text"], legal["due_at"])
    assert protocol_client.get(f"{base}/obligations").json()["items"][0]["status"] == "open"
    assert protocol_client.get(f"{base}/moments").json()["items"] == []

    owner = protocol_client.get(f"{base}/communications", headers={"X-Bridge-Person": "alice"})
    assert owner.status_code == 200
    assert [n["id"] for n in owner.json()["items"]] == [
        n["id"] for n in notices_of_all(protocol_client, incident_id)
    ]


def notices_of_all(client: TestClient, incident_id: int) -> list[dict[str, object]]:
    items: list[dict[str, object]] = client.get(f"/api/v1/incidents/{incident_id}/communications").json()[
        "items"
    ]
    return items
