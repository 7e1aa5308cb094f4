"""Lines of pages: one per delivered page with its notification id, one per page given up, and
no secret (Slack webhook URL, PagerDuty routing key, webhook secret, bearer tokens) in any line
of a whole flow with failing channels. Real HTTP and SMTP receivers throughout.

Runs against SQLite and, when BRIDGE_TEST_DATABASE_URL is set, PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import utcnow
from app.main import create_app
from tests.logs.capture import capturing
from tests.paging.conftest import (
    PD_ROUTING_KEY,
    HttpReceiver,
    alert_body,
    dispatcher_of,
    fire_one,
    fixture_body,
    notifications,
    oncall_yaml,
    sweep_at,
    wait_settled,
    wait_until,
)

WEBHOOK_TOKEN = "whk-3c1f0e9a7b2d4c6e8f10a2b4c6d8e0f2"
API_TOKEN = "api-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
WRONG_TOKEN = "wrong-7f6e5d4c3b2a19087f6e5d4c3b2a1908"
BOB_SECRET = "bobs-own-webhook-secret-value"


@pytest.mark.parametrize("recording", ["one by one", "batched"])
def test_a_delivered_page_logs_its_notification_id(paging_client: TestClient, recording: str) -> None:
    if recording == "batched":
        dispatcher_of(paging_client).record_later()  # as a worker records its outcomes
    with capturing() as captured:
        incident_id = fire_one(paging_client, fixture_body(1))
        wait_settled(paging_client)
        delivered = notifications(paging_client, incident_id, status="delivered", kind="page")
        assert {row.channel for row in delivered} == {"webhook", "slack", "pagerduty"}  # bob's
        wait_until(lambda: len(captured.events(incident_id, "paged")) == len(delivered), what="paged lines")
    paged = captured.events(incident_id, "paged")
    assert sorted((ln["notification_id"], ln["channel"]) for ln in paged) == sorted(
        (row.id, row.channel) for row in delivered
    )
    for line in paged:
        assert (line["level"], line["logger"], line["kind"]) == ("INFO", "incident_bridge.paging", "page")
        assert line["message"] == (
            f"incident {incident_id} paged: notification {line['notification_id']} (page) "
            f"delivered by {line['channel']}"
        )


@pytest.fixture
def oncall_person() -> str:
    return "bob"  # a webhook (with its own secret here), Slack and PagerDuty


@pytest.fixture
def oncall_rules_dir(rules_dir: Path, receiver: HttpReceiver, oncall_person: str) -> Path:
    text = oncall_yaml(receiver.url, on_call=oncall_person)
    plain = f"{{type: webhook, url: {receiver.url}/bob}}"
    assert plain in text
    text = text.replace(plain, f"{{type: webhook, url: {receiver.url}/bob, secret: {BOB_SECRET}}}")
    (rules_dir / "oncall.yaml").write_text(text)
    return rules_dir


@pytest.fixture
def guarded_client(paging_settings: Settings) -> Iterator[TestClient]:
    """The paging app with a webhook token and an API token."""
    settings = paging_settings.model_copy(update={"webhook_token": WEBHOOK_TOKEN, "api_token": API_TOKEN})
    with TestClient(create_app(settings)) as client:
        yield client


def test_no_secret_reaches_a_log_line_in_a_flow_with_failing_channels(
    guarded_client: TestClient, receiver: HttpReceiver
) -> None:
    client = guarded_client
    receiver.always("/slack/bob", 500)
    receiver.always("/pagerduty", 503)
    with capturing(logging.DEBUG) as captured:  # every logger, every level
        refused = client.post(
            "/webhooks/alertmanager", json=alert_body(), headers={"Authorization": f"Bearer {WRONG_TOKEN}"}
        )
        assert refused.status_code == 401
        fired = client.post(
            "/webhooks/alertmanager", json=alert_body(), headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        )
        assert fired.status_code == 200, fired.text
        (incident_id,) = fired.json()["incidents"]
        receiver.wait_for(1, "/slack/bob")
        wait_settled(client)
        # Retried until given up (page_max_attempts is 3); the team's fallback is paged instead.
        sweep_at(client, utcnow() + timedelta(minutes=1))
        sweep_at(client, utcnow() + timedelta(minutes=2))
        receiver.wait_for(1, "/fallback")
        wait_settled(client)
        api = {"Authorization": f"Bearer {API_TOKEN}"}
        acknowledged = client.post(
            f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "bob"}, headers=api
        )
        assert acknowledged.status_code == 200, acknowledged.text
        failed = notifications(client, incident_id, status="failed")
        assert {row.channel for row in failed} == {"slack", "pagerduty"}
        wait_until(lambda: len(captured.events(incident_id, "gave_up")) == 2, what="two give-up lines")

    lines = captured.lines()
    given_up = captured.events(incident_id, "gave_up")
    assert sorted((ln["notification_id"], ln["channel"]) for ln in given_up) == sorted(
        (row.id, row.channel) for row in failed
    )
    assert all(ln["level"] == "WARNING" and ln["attempts"] == 3 for ln in given_up)
    assert {ln["error"] for ln in given_up} == {"slack to bob: HTTP 500", "pagerduty to bob: HTTP 503"}
    assert {ln["channel"] for ln in captured.events(incident_id, "paged")} >= {"webhook"}
    assert [ln["event"] for ln in captured.events(incident_id) if ln["logger"].endswith("incidents")] == [
        "opened",
        "acknowledged",
    ]
    assert len(lines) > 10, "hardly anything was logged: the capture is not working"
    text = captured.text()
    secrets = [
        f"{receiver.url}/slack/bob",
        f"{receiver.url}/bob",
        f"{receiver.url}/fallback",
        PD_ROUTING_KEY,
        BOB_SECRET,
        WEBHOOK_TOKEN,
        API_TOKEN,
        WRONG_TOKEN,
    ]
    for secret in secrets:
        assert secret not in text, f"{secret} found in the log"
