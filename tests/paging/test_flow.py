"""Paging end to end: an alert arrives, people are paged over real SMTP and HTTP, escalation moves
on with a controllable clock, and acknowledging, resolving or raising severity tell the right people.

Runs against SQLite and, when BRIDGE_TEST_DATABASE_URL is set, PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.config import Settings
from app.db import utcnow
from app.instance.keys import derive
from app.main import create_app
from app.paging.links import verify
from tests.paging.conftest import (
    OWNER_POLICY,
    PD_ROUTING_KEY,
    POLICY,
    TEAM,
    HttpReceiver,
    Mail,
    SmtpServer,
    alert_body,
    escalate_at,
    escalation_row,
    fire,
    fire_one,
    fixture_body,
    incident_row,
    kinds,
    notifications,
    oncall_yaml,
    sweep_at,
    timeline,
    wait_settled,
    wait_until,
)
from tests.paging.standard_webhooks import verifies_legacy, verifies_standard
from tests.support import metric

OWN_SECRET = "pag1ng-Tests-own-K3y-0123456789abcdefXYZ"
OLD_DEFAULT_SECRET = "development-only-secret-change-me"  # the public key older versions signed with
HANG_GUARD = 60.0  # seconds: long enough for any loaded machine, short of hanging CI forever
ACCURACY_KEY = 'accuracy-drop:{alertname="ModelAccuracyDrop",model="fraud-scorer"}'


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def open_fraud_incident(client: TestClient, receiver: HttpReceiver, smtp: SmtpServer) -> int:
    """SEV2 accuracy drop on fraud-scorer; returns once alice's first pages were delivered."""
    incident_id = fire_one(client, fixture_body(1))
    receiver.wait_for(1, "/alice")
    smtp.wait_for(1)
    wait_settled(client)
    return incident_id


def contacts(client: TestClient, incident_id: int, kind: str) -> list[tuple[str, str, str]]:
    rows = notifications(client, incident_id, kind=kind)
    return sorted((n.recipient, n.channel, n.status) for n in rows)


def test_new_incident_pages_the_on_call_person_on_every_contact_method(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    incident_id = fire_one(paging_client, fixture_body(1))

    # Pages go out without any job or clock being driven: waiting for them is the test (the
    # timeout only keeps a broken build from hanging).
    (hook,) = receiver.wait_for(1, "/alice", timeout=HANG_GUARD)
    (mail,) = smtp.wait_for(1, timeout=HANG_GUARD)

    assert mail.rcpt_tos == ["alice@example.com"]
    assert mail.message["To"] == "alice@example.com"
    assert "[SEV2]" in mail.subject and "fraud-scorer" in mail.subject
    assert mail.message["X-Priority"] == "1"  # high urgency
    assert f"Incident #{incident_id} is triggered." in mail.text()
    assert hook.json["event"] == "page"
    assert hook.json["recipient"] == "alice"
    assert hook.json["urgency"] == "high"
    assert hook.json["incident"]["id"] == incident_id
    assert hook.json["incident"]["owner"] == "alice"
    # Only the person on call is paged at step 1.
    wait_settled(paging_client)
    assert [r.path for r in receiver.at()] == ["/alice"]

    detail = paging_client.get(f"/api/v1/incidents/{incident_id}").json()
    assert (detail["status"], detail["severity"], detail["model"]) == ("triggered", "SEV2", "fraud-scorer")

    # Owner, team and policy are frozen onto the incident when it opens.
    row = incident_row(paging_client, incident_id)
    assert (row.owner, row.team, row.escalation_policy, row.unowned) == ("alice", TEAM, POLICY, False)
    esc = escalation_row(paging_client, incident_id)
    assert esc.policy["id"] == POLICY
    assert [s["notify"] for s in esc.policy["steps"]] == [["rotation:risk-ml-primary"], ["person:bob"]]
    assert esc.next_index == 1
    assert esc.due_at == esc.started_at + minutes(10)

    rows = notifications(paging_client, incident_id)
    assert sorted((n.recipient, n.channel, n.kind, n.step, n.status, n.attempts) for n in rows) == [
        ("alice", "email", "page", 0, "delivered", 1),
        ("alice", "webhook", "page", 0, "delivered", 1),
    ]
    assert mail.delivery_id in {n.delivery_id for n in rows}

    events = timeline(paging_client, incident_id)
    names = [e["kind"] for e in events]
    assert names.count("paged") == 1 and names.count("notified") == 2
    assert names.index("opened") < names.index("paged") < names.index("notified")
    paged = events[names.index("paged")]
    assert paged["data"] == {"step": 0, "round": 0, "people": ["alice"]}
    notified = sorted(e["data"]["channel"] for e in events if e["kind"] == "notified")
    assert notified == ["email", "webhook"]


@pytest.fixture
def signing_client(paging_settings: Settings) -> Iterator[TestClient]:
    """The paging app with a secret key of its own."""
    with TestClient(
        create_app(paging_settings.model_copy(update={"secret_key": SecretStr(OWN_SECRET)}))
    ) as client:
        yield client


def test_webhook_page_is_signed_and_carries_delivery_id_and_links(
    signing_client: TestClient, receiver: HttpReceiver
) -> None:
    paging_client = signing_client
    keys = derive(OWN_SECRET)
    incident_id = fire_one(paging_client, fixture_body(1))
    (hook,) = receiver.wait_for(1, "/alice")

    timestamp = hook.headers["webhook-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    assert hook.headers["webhook-id"] == hook.delivery_id
    # alice's webhook has no secret of its own: it is signed with the install's webhook key,
    assert verifies_standard(keys.webhooks, hook.headers, hook.body)
    assert verifies_legacy(keys.webhooks, hook.headers, hook.body)
    # which is neither the key of the links nor the master key (nor the development default).
    for other in (keys.links, OWN_SECRET, derive(OLD_DEFAULT_SECRET).webhooks):
        assert not verifies_standard(other, hook.headers, hook.body)
        assert not verifies_legacy(other, hook.headers, hook.body)

    body = hook.json
    wait_settled(paging_client)
    (row,) = notifications(paging_client, incident_id, channel="webhook")
    assert hook.delivery_id == body["delivery_id"] == row.delivery_id
    assert body["incident"]["key"] == ACCURACY_KEY

    links = body["links"]
    assert set(links) == {"acknowledge", "resolve", "view"}
    now = utcnow()
    for action, url in links.items():
        assert url.startswith("http://bridge.test/a/")
        claims = verify(keys.links, url.removeprefix("http://bridge.test/a/"), now)
        assert (claims.incident_id, claims.recipient, claims.action) == (incident_id, "alice", action)
        assert timedelta(hours=23) < claims.expires_at - now <= timedelta(hours=24)


def test_a_paged_link_opens_its_page(signing_client: TestClient, receiver: HttpReceiver) -> None:
    fire_one(signing_client, fixture_body(1))
    (hook,) = receiver.wait_for(1, "/alice")
    assert signing_client.get(urlsplit(hook.json["links"]["view"]).path).status_code == 200


def test_escalation_follows_the_policy_then_repeats_once(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    step1_before = metric(paging_client, "bridge_escalations_total", step="1")
    step2_before = metric(paging_client, "bridge_escalations_total", step="2")
    incident_id = open_fraud_incident(paging_client, receiver, smtp)
    start = escalation_row(paging_client, incident_id).started_at

    assert escalate_at(paging_client, start + minutes(9)) == 0  # step 2 is not due yet
    assert receiver.at("/bob") == []

    # Step 2, ten minutes in: bob on every high-urgency contact.
    assert escalate_at(paging_client, start + minutes(11)) == 3
    receiver.wait_for(1, "/bob")
    receiver.wait_for(1, "/slack/bob")
    (trigger,) = receiver.wait_for(1, "/pagerduty")
    assert trigger.json["event_action"] == "trigger"
    assert trigger.json["routing_key"] == PD_ROUTING_KEY
    assert trigger.json["dedup_key"] == ACCURACY_KEY
    assert trigger.json["payload"]["severity"] == "error"
    assert metric(paging_client, "bridge_escalations_total", step="2") == step2_before + 1
    assert escalate_at(paging_client, start + minutes(12)) == 0  # nothing fires twice

    # The repeat round: the rotation at 20 min, bob at 30 min.
    assert escalate_at(paging_client, start + minutes(21)) == 2
    receiver.wait_for(2, "/alice")
    smtp.wait_for(2)
    assert escalate_at(paging_client, start + minutes(31)) == 3
    receiver.wait_for(2, "/bob")

    # repeat: 1 means one repeat round, then silence.
    assert escalate_at(paging_client, start + minutes(120)) == 0
    esc = escalation_row(paging_client, incident_id)
    assert esc.due_at is None and esc.next_index == 4

    assert len(receiver.at("/alice")) == 2 and len(smtp.messages) == 2
    assert len(receiver.at("/bob")) == 2 and len(receiver.at("/slack/bob")) == 2
    assert len(receiver.at("/pagerduty")) == 2
    assert receiver.at("/carol") == []

    steps = [
        (e["kind"], e["data"]["step"], e["data"]["round"], e["data"]["people"])
        for e in timeline(paging_client, incident_id)
        if e["kind"] in ("paged", "escalated")
    ]
    assert steps == [
        ("paged", 0, 0, ["alice"]),
        ("escalated", 1, 0, ["bob"]),
        ("escalated", 0, 1, ["alice"]),
        ("escalated", 1, 1, ["bob"]),
    ]
    assert metric(paging_client, "bridge_escalations_total", step="1") == step1_before + 2
    assert metric(paging_client, "bridge_escalations_total", step="2") == step2_before + 2
    pages = notifications(paging_client, incident_id, kind="page")
    assert len(pages) == 10 and all(n.status == "delivered" for n in pages)


@pytest.mark.parametrize("oncall_person", ["bob"])
def test_acknowledge_cancels_pending_pages_stops_escalation_and_syncs_pagerduty(
    paging_client: TestClient, receiver: HttpReceiver
) -> None:
    receiver.always("/bob", 500)  # bob's webhook page stays pending, waiting for a retry
    cancelled_before = metric(
        paging_client, "bridge_notifications_total", channel="webhook", outcome="cancelled"
    )
    incident_id = fire_one(paging_client, fixture_body(1))
    (trigger,) = receiver.wait_for(1, "/pagerduty")
    receiver.wait_for(1, "/bob")
    receiver.wait_for(1, "/slack/bob")
    wait_settled(paging_client)
    (pending,) = notifications(paging_client, incident_id, channel="webhook")
    assert (pending.status, pending.attempts) == ("pending", 1)

    response = paging_client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "bob"})
    assert response.status_code == 200, response.text
    assert response.json()["changed"] is True
    assert response.json()["incident"]["status"] == "acknowledged"

    ack = receiver.wait_for(2, "/pagerduty")[1].json
    assert ack["event_action"] == "acknowledge"
    assert ack["dedup_key"] == trigger.json["dedup_key"] == ACCURACY_KEY
    assert ack["routing_key"] == PD_ROUTING_KEY
    wait_settled(paging_client)

    (cancelled,) = notifications(paging_client, incident_id, channel="webhook")
    assert cancelled.status == "cancelled"
    assert (
        metric(paging_client, "bridge_notifications_total", channel="webhook", outcome="cancelled")
        == cancelled_before + 1
    )
    assert escalation_row(paging_client, incident_id).due_at is None

    start = escalation_row(paging_client, incident_id).started_at
    assert escalate_at(paging_client, start + minutes(11)) == 0
    assert sweep_at(paging_client, start + minutes(11)) == 0  # the cancelled retry stays cancelled
    # Acknowledge syncs PagerDuty only: no second message on bob's other channels.
    assert len(receiver.at("/bob")) == 1 and len(receiver.at("/slack/bob")) == 1
    assert len(receiver.at("/pagerduty")) == 2
    assert contacts(paging_client, incident_id, "acknowledge") == [("bob", "pagerduty", "delivered")]
    assert "escalated" not in kinds(paging_client, incident_id)


def test_resolve_through_the_api_notifies_every_contact_that_was_paged(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    incident_id = open_fraud_incident(paging_client, receiver, smtp)
    start = escalation_row(paging_client, incident_id).started_at
    assert escalate_at(paging_client, start + minutes(11)) == 3  # bob paged too
    (trigger,) = receiver.wait_for(1, "/pagerduty")

    response = paging_client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "alice"})
    assert response.status_code == 200, response.text
    assert response.json()["incident"]["status"] == "resolved"

    # The owner also hears that a review is due, in a mail of its own that may come first.
    def resolved() -> list[Mail]:
        return [m for m in smtp.wait_for(2) if m.subject.startswith("Resolved: ")]

    (mail,) = wait_until(resolved, what="the mail saying it is resolved")
    assert mail.rcpt_tos == ["alice@example.com"]
    for path in ("/alice", "/bob"):
        message = receiver.wait_for(2, path)[1].json
        assert message["event"] == "resolve"
        assert message["incident"]["status"] == "resolved"
        assert message["incident"]["resolved_by"] == "alice"
    assert receiver.wait_for(2, "/slack/bob")[1].json["text"]
    resolve = receiver.wait_for(2, "/pagerduty")[1].json
    assert resolve["event_action"] == "resolve" and resolve["dedup_key"] == trigger.json["dedup_key"]
    wait_settled(paging_client)

    assert contacts(paging_client, incident_id, "resolve") == [
        ("alice", "email", "delivered"),
        ("alice", "webhook", "delivered"),
        ("bob", "pagerduty", "delivered"),
        ("bob", "slack", "delivered"),
        ("bob", "webhook", "delivered"),
    ]
    assert receiver.at("/carol") == [] and receiver.at("/fallback") == []
    assert escalation_row(paging_client, incident_id).due_at is None
    assert escalate_at(paging_client, start + minutes(21)) == 0  # no repeat round after resolve


def test_auto_resolve_by_alertmanager_notifies_the_paged(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    incident_id = open_fraud_incident(paging_client, receiver, smtp)

    assert fire(paging_client, fixture_body(2)) == [incident_id]  # both alerts resolved

    # A SEV2 needs a post-incident review: its owner hears of that too, in a message of its own.
    subjects = sorted(m.subject.split(":")[0] for m in smtp.wait_for(3)[1:])
    assert subjects == ["Post-incident", "Resolved"]
    (message,) = [r.json for r in receiver.wait_for(3, "/alice")[1:] if r.json["event"] == "resolve"]
    assert message["incident"]["status"] == "resolved"
    assert message["incident"]["resolved_by"] == "alertmanager"
    wait_settled(paging_client)
    assert contacts(paging_client, incident_id, "resolve") == [
        ("alice", "email", "delivered"),
        ("alice", "webhook", "delivered"),
    ]
    assert incident_row(paging_client, incident_id).status == "resolved"
    assert escalation_row(paging_client, incident_id).due_at is None


def test_severity_increase_repages_people_already_paged(
    paging_client: TestClient, receiver: HttpReceiver
) -> None:
    # FeatureDrift warning on churn-model: rule feature-drift, SEV4 (low urgency), owner-first policy.
    incident_id = fire_one(paging_client, fixture_body(0))
    row = incident_row(paging_client, incident_id)
    assert (row.severity, row.owner, row.escalation_policy) == ("SEV4", "bob", OWNER_POLICY)
    first = receiver.wait_for(1, "/bob")[0].json
    receiver.wait_for(1, "/slack/bob")
    wait_settled(paging_client)
    assert (first["event"], first["urgency"]) == ("page", "low")
    # PagerDuty defaults to high urgency only: a SEV4 never goes there.
    assert contacts(paging_client, incident_id, "page") == [
        ("bob", "slack", "delivered"),
        ("bob", "webhook", "delivered"),
    ]
    assert receiver.at("/pagerduty") == []

    # The critical variant groups into the same incident (group_with) and raises it to SEV2.
    critical = alert_body("FeatureDrift", "churn-model", "critical", feature="tenure")
    assert fire(paging_client, critical) == [incident_id]
    assert incident_row(paging_client, incident_id).severity == "SEV2"

    raised = receiver.wait_for(2, "/bob")[1].json
    assert (raised["event"], raised["urgency"]) == ("severity", "high")
    assert raised["incident"]["severity"] == "SEV2"
    assert receiver.wait_for(2, "/slack/bob")[1].json["blocks"]
    (trigger,) = receiver.wait_for(1, "/pagerduty")
    assert trigger.json["event_action"] == "trigger" and trigger.json["payload"]["severity"] == "error"
    wait_settled(paging_client)
    assert contacts(paging_client, incident_id, "severity") == [
        ("bob", "pagerduty", "delivered"),
        ("bob", "slack", "delivered"),
        ("bob", "webhook", "delivered"),
    ]
    names = kinds(paging_client, incident_id)
    assert "severity_raised" in names
    assert receiver.at("/alice") == [] and receiver.at("/carol") == []


def test_unknown_model_is_paged_by_the_default_policy_and_counted_unowned(
    paging_client: TestClient, receiver: HttpReceiver
) -> None:
    opened_before = metric(
        paging_client,
        "bridge_incidents_unowned_opened_total",
        type="performance_degradation",
        severity="SEV2",
    )
    owned = fire_one(paging_client, fixture_body(1))
    unknown = fire_one(paging_client, alert_body(model="mystery-model"))

    row = incident_row(paging_client, unknown)
    assert row.unowned is True
    assert (row.owner, row.team, row.escalation_policy) == (None, None, POLICY)
    assert incident_row(paging_client, owned).unowned is False

    pages = receiver.wait_for(2, "/alice")
    assert sorted(p.json["incident"]["id"] for p in pages) == sorted([owned, unknown])
    unknown_page = next(p.json for p in pages if p.json["incident"]["id"] == unknown)
    assert unknown_page["incident"]["owner"] is None and unknown_page["incident"]["model"] == "mystery-model"
    wait_settled(paging_client)
    paged = next(e for e in timeline(paging_client, unknown) if e["kind"] == "paged")
    assert paged["data"]["people"] == ["alice"]

    labels = {"type": "performance_degradation", "severity": "SEV2"}
    assert metric(paging_client, "bridge_incidents_unowned_open", **labels) == 1
    assert metric(paging_client, "bridge_incidents_unowned_opened_total", **labels) == opened_before + 1
    paging_client.post(f"/api/v1/incidents/{unknown}/resolve", json={"by": "alice"})
    assert metric(paging_client, "bridge_incidents_unowned_open", **labels) == 0


def test_later_edits_never_change_an_escalation_in_flight(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer, oncall_rules_dir: Path
) -> None:
    incident_id = open_fraud_incident(paging_client, receiver, smtp)

    # Step 2 now targets carol, who can take high-urgency pages, and carol owns fraud-scorer.
    edited = oncall_yaml(receiver.url, step2="person:carol", carol_urgency="[high, low]", fraud_owner="carol")
    (oncall_rules_dir / "oncall.yaml").write_text(edited)
    response = paging_client.post("/-/reload")
    assert response.status_code == 200, response.text
    current = paging_client.app.state.runtime.catalog.current.oncall  # type: ignore[attr-defined]
    assert current.policies[POLICY].steps[1].notify == ("person:carol",)

    start = escalation_row(paging_client, incident_id).started_at
    assert escalate_at(paging_client, start + minutes(11)) == 3
    receiver.wait_for(1, "/bob")
    assert receiver.at("/carol") == []
    escalated = [e for e in timeline(paging_client, incident_id) if e["kind"] == "escalated"]
    assert [e["data"]["people"] for e in escalated] == [["bob"]]
    row = incident_row(paging_client, incident_id)
    assert (row.owner, row.escalation_policy) == ("alice", POLICY)
    assert escalation_row(paging_client, incident_id).policy["steps"][1]["notify"] == ["person:bob"]

    # An incident opened after the edit follows the new file.
    newer = fire_one(paging_client, alert_body("PredictionDrift", "fraud-scorer", "critical"))
    assert newer != incident_id
    assert incident_row(paging_client, newer).owner == "carol"
    wait_until(lambda: len(receiver.at("/alice")) == 2, what="the new incident's first page")
    wait_settled(paging_client)
    newer_start = escalation_row(paging_client, newer).started_at
    assert escalate_at(paging_client, newer_start + minutes(11)) == 1
    (page,) = receiver.wait_for(1, "/carol")
    assert page.json["incident"]["id"] == newer


def test_severity_raised_by_the_same_webhook_pages_at_the_higher_urgency(
    paging_client: TestClient, receiver: HttpReceiver
) -> None:
    # Alertmanager groups by alertname and model: a warning and a critical FeatureDrift of one
    # model arrive in one notification, the warning first.
    body = alert_body("FeatureDrift", "churn-model", "warning", feature="tenure")
    body["alerts"].append(
        alert_body("FeatureDrift", "churn-model", "critical", feature="income")["alerts"][0]
    )
    incident_id = fire_one(paging_client, body)
    assert incident_row(paging_client, incident_id).severity == "SEV2"
    receiver.wait_for(1, "/bob")
    wait_settled(paging_client)

    channels = sorted(n.channel for n in notifications(paging_client, incident_id))
    assert "pagerduty" in channels, f"a SEV2 incident paged its owner only by {channels}"
    assert receiver.wait_for(1, "/pagerduty", timeout=2)[0].json["event_action"] == "trigger"


@pytest.mark.parametrize("oncall_person", ["bob"])
def test_distinct_incidents_get_distinct_pagerduty_dedup_keys(
    paging_client: TestClient, receiver: HttpReceiver
) -> None:
    # Long enough that the key (one per pipeline: rule name and pipeline) is over PagerDuty's 255.
    pipeline = "airflow://risk-ml/dags/fraud_scorer_features/" + "merchant_category_country_rollup_" * 6
    first = fire_one(paging_client, alert_body("DataPipelineStale", pipeline=pipeline + "eu-west-1"))
    second = fire_one(paging_client, alert_body("DataPipelineStale", pipeline=pipeline + "us-east-1"))
    keys = [incident_row(paging_client, i).key for i in (first, second)]
    assert first != second and keys[0] != keys[1]
    assert all(255 < len(k) < 400 for k in keys)  # under the length at which keys get hashed

    triggers = receiver.wait_for(2, "/pagerduty")
    by_incident = {t.json["payload"]["custom_details"]["incident_id"]: t.json["dedup_key"] for t in triggers}
    assert by_incident[first] != by_incident[second]
