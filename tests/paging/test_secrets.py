"""Secrets stay out of logs, rows, the timeline, the API and metrics; alert text cannot inject
Slack markup; only http(s) runbook URLs become links. Real HTTP and SMTP receivers throughout.

Runs against SQLite and, when BRIDGE_TEST_DATABASE_URL is set, PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.db import utcnow
from app.models import Incident, Notification
from app.paging.delivery import LEASE, Dispatcher
from tests.paging.conftest import (
    PD_ROUTING_KEY,
    TEAM,
    HttpReceiver,
    SmtpServer,
    alert_body,
    db_of,
    dispatcher_of,
    fire_one,
    fixture_body,
    notifications,
    oncall_yaml,
    set_clock,
    sweep_at,
    wait_settled,
)

BOB_SECRET = "bobs-own-webhook-secret-value"
INJECTION = "<!channel> <https://evil.example|Acknowledge here>"


@pytest.fixture
def oncall_person() -> str:
    return "bob"  # bob has a webhook (with its own secret here), Slack and PagerDuty


@pytest.fixture
def oncall_rules_dir(rules_dir: Path, receiver: HttpReceiver, oncall_person: str) -> Path:
    text = oncall_yaml(receiver.url, on_call=oncall_person)
    plain = f"{{type: webhook, url: {receiver.url}/bob}}"
    assert plain in text
    text = text.replace(plain, f"{{type: webhook, url: {receiver.url}/bob, secret: {BOB_SECRET}}}")
    (rules_dir / "oncall.yaml").write_text(text)
    return rules_dir


@pytest.fixture
def outbox_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pages are written but nothing sends them until a test calls `deliver`."""
    with monkeypatch.context() as patch:
        patch.setattr(Dispatcher, "submit", lambda self, ids, claimed=False: None)
        yield


def secrets_of(receiver: HttpReceiver) -> list[str]:
    return [f"{receiver.url}/slack/bob", f"{receiver.url}/bob", PD_ROUTING_KEY, BOB_SECRET]


def mrkdwn_texts(body: dict[str, Any]) -> list[str]:
    """Every string Slack reads as mrkdwn: the top-level text and every mrkdwn object."""
    found = [body["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(body["blocks"])
    return found


def test_a_failing_slack_page_leaks_no_secret(
    paging_client: TestClient, receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    receiver.always("/slack/bob", 500)

    incident_id = fire_one(paging_client, fixture_body(1))
    receiver.wait_for(1, "/slack/bob")
    wait_settled(paging_client)
    (slack,) = notifications(paging_client, incident_id, channel="slack")
    assert slack.status == "pending" and slack.last_error == "slack to bob: HTTP 500"
    # Retried until given up (page_max_attempts is 3): the timeline says so, the fallback is paged.
    sweep_at(paging_client, utcnow() + timedelta(minutes=1))
    sweep_at(paging_client, utcnow() + timedelta(minutes=2))
    (slack,) = notifications(paging_client, incident_id, channel="slack")
    assert (slack.status, slack.attempts, slack.last_error) == ("failed", 3, "slack to bob: HTTP 500")
    receiver.wait_for(1, "/fallback")
    wait_settled(paging_client)

    incident = paging_client.get(f"/api/v1/incidents/{incident_id}")
    assert incident.status_code == 200
    (failed,) = [e for e in incident.json()["timeline"] if e["kind"] == "page_failed"]
    assert failed["message"] == "gave up on page to bob by slack after 3 attempt(s): slack to bob: HTTP 500"
    listing = paging_client.get("/api/v1/incidents").text
    metrics = paging_client.get("/metrics").text
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    assert caplog.records, "nothing was logged at all: the capture is not working"
    assert any("slack" in r.getMessage() and "HTTP 500" in r.getMessage() for r in caplog.records)
    rows = notifications(paging_client, incident_id)
    stored = orjson.dumps([n.contact_ref for n in rows]).decode()
    errors = "\n".join(n.last_error or "" for n in rows)
    for secret in secrets_of(receiver):
        for where, text in [
            ("logs", logged),
            ("last_error", errors),
            ("timeline", incident.text),
            ("incident list", listing),
            ("metrics", metrics),
            ("stored contact", stored),
        ]:
            assert secret not in text, f"{secret} found in {where}"


def test_rows_reference_the_contact_instead_of_copying_it(
    paging_client: TestClient, receiver: HttpReceiver
) -> None:
    incident_id = fire_one(paging_client, fixture_body(1))
    wait_settled(paging_client)

    rows = notifications(paging_client, incident_id)
    assert sorted(n.channel for n in rows) == ["pagerduty", "slack", "webhook"]
    for row in rows:
        assert set(row.contact_ref) == {"person", "type", "digest"}
        assert (row.contact_ref["person"], row.contact_ref["type"]) == ("bob", row.channel)
        assert len(row.contact_ref["digest"]) == 16
        assert row.status == "delivered"
    assert len({n.contact_ref["digest"] for n in rows}) == 3
    (hook,) = receiver.at("/bob")
    assert hook.json["recipient"] == "bob"  # resolved at send time, signed with bob's own secret


def test_a_contact_gone_after_a_reload_fails_the_page_and_the_fallback_takes_over(
    paging_client: TestClient, receiver: HttpReceiver, outbox_only: None, oncall_rules_dir: Path
) -> None:
    incident_id = fire_one(paging_client, fixture_body(1))
    (hook,) = notifications(paging_client, incident_id, channel="webhook", kind="page")
    oncall = oncall_rules_dir / "oncall.yaml"
    oncall.write_text(oncall.read_text().replace(f"{receiver.url}/bob,", f"{receiver.url}/bob-new,"))
    paging_client.app.state.runtime.catalog.reload()  # type: ignore[attr-defined]
    set_clock(paging_client, utcnow() + LEASE + timedelta(seconds=1))

    assert dispatcher_of(paging_client).deliver(hook.id) == "failed"

    (row,) = notifications(paging_client, incident_id, channel="webhook", kind="page")
    assert (row.status, row.last_error) == (
        "failed",
        "the webhook contact of bob is no longer in the on-call file",
    )
    fallback = notifications(paging_client, incident_id, kind="fallback")
    assert [(n.recipient, n.channel, n.contact_ref["team"]) for n in fallback] == [
        (f"team:{TEAM}", "webhook", TEAM)
    ]
    assert receiver.at() == []


def test_a_row_holding_a_full_contact_copy_is_still_sent(
    paging_client: TestClient, receiver: HttpReceiver, outbox_only: None
) -> None:
    """Rows written by older versions (before the migration rewrote them) carry the contact."""
    incident_id = fire_one(paging_client, fixture_body(1))
    (hook,) = notifications(paging_client, incident_id, channel="webhook", kind="page")
    copy = {"type": "webhook", "url": f"{receiver.url}/bob", "secret": BOB_SECRET, "urgency": ["high", "low"]}
    with db_of(paging_client).session(write=True) as session:
        row = session.get(Notification, hook.id)
        assert row is not None
        row.contact_ref = copy
    set_clock(paging_client, utcnow() + LEASE + timedelta(seconds=1))

    assert dispatcher_of(paging_client).deliver(hook.id) == "delivered"
    assert receiver.wait_for(1, "/bob")[0].json["event"] == "page"

    # Resolving tells bob on that contact once, by a new row holding a reference.
    response = paging_client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "bob"})
    assert response.status_code == 200, response.text
    (notice,) = notifications(paging_client, incident_id, channel="webhook", kind="resolve")
    assert set(notice.contact_ref) == {"person", "type", "digest"}
    # The notice was born claimed until its own lease ends, whenever the resolve ran: the clock
    # moves past that lease, not the page's (a slow first send must not leave it still claimed).
    set_clock(paging_client, utcnow() + LEASE + timedelta(seconds=1))
    assert dispatcher_of(paging_client).deliver(notice.id) == "delivered"
    assert [r.json["event"] for r in receiver.wait_for(2, "/bob")] == ["page", "resolve"]


def test_slack_markup_in_an_alert_arrives_as_text(paging_client: TestClient, receiver: HttpReceiver) -> None:
    body = alert_body()
    for alert in body["alerts"]:
        alert["annotations"]["summary"] = INJECTION
    body["commonAnnotations"]["summary"] = INJECTION

    incident_id = fire_one(paging_client, body)
    (page,) = receiver.wait_for(1, "/slack/bob")
    wait_settled(paging_client)

    assert INJECTION in json.dumps(page.json["blocks"][0])  # the plain-text header shows it as is
    texts = mrkdwn_texts(page.json)
    assert any("&lt;!channel&gt; &lt;https://evil.example|Acknowledge here&gt;" in t for t in texts)
    for text in texts:
        assert "<!channel>" not in text
        assert "<https://evil.example|" not in text
    assert notifications(paging_client, incident_id, channel="slack")[0].status == "delivered"


def test_a_stored_javascript_runbook_url_becomes_no_link(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer, outbox_only: None
) -> None:
    incident_id = fire_one(paging_client, alert_body(severity="critical"))
    with db_of(paging_client).session(write=True) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        incident.runbook = {**(incident.runbook or {}), "title": "Runbook", "url": "javascript:alert(1)"}
    set_clock(paging_client, utcnow() + LEASE + timedelta(seconds=1))
    for row in notifications(paging_client, incident_id):
        assert dispatcher_of(paging_client).deliver(row.id) == "delivered"

    sent = [r.body.decode() for r in receiver.wait_for(3)]
    assert all("javascript:" not in text for text in sent)
    hook = next(r.json for r in receiver.at("/bob"))
    assert hook["runbook"]["url"] is None
    pd = next(r.json for r in receiver.at("/pagerduty"))
    assert pd["payload"]["custom_details"]["runbook"] is None
    assert all(link["href"].startswith("http://bridge.test/") for link in pd["links"])
