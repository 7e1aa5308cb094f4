"""The workspace API: every action recorded on the timeline with its actor, on both databases."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.support import incident_action as act
from tests.support import incident_detail as detail
from tests.support import incident_events as events
from tests.support import load_fixture_requests

API = "/api/v1/incidents"


def fire(client: TestClient, index: int = 0, **alert: Any) -> int:
    body = copy.deepcopy(load_fixture_requests()[index]["body"])
    for item in body["alerts"]:
        item.update(alert)
    response = client.post("/webhooks/alertmanager", json=body)
    assert response.status_code == 200, response.text
    return int(response.json()["incidents"][0])


# --- reporting an incident no alert caught --------------------------------------------------------


def test_a_person_reports_an_incident_with_a_runbook(client: TestClient) -> None:
    started = "2026-11-29T08:00:00Z"
    response = client.post(
        API,
        json={
            "title": "Loan model rejects applicants from one postcode",
            "type": "fairness_violation",
            "impact": {"technical": "low", "harm": "high"},
            "model": "credit-risk",
            "description": "Three complaints this week",
            "labels": {"region": "north"},
            "reported_by": "support-desk",
            "source": "user_report",
            "impact_started_at": started,
        },
    )
    assert response.status_code == 201, response.text
    incident = response.json()
    assert incident["severity"] == "SEV2"  # low technical x high harm
    assert (incident["type"], incident["source"], incident["reported_by"]) == (
        "fairness_violation",
        "user_report",
        "support-desk",
    )
    assert incident["status"] == "triggered"
    assert datetime.fromisoformat(incident["impact_started_at"]) == datetime.fromisoformat(started)
    assert incident["runbook"] is not None and "fairness" in incident["runbook"]["id"]
    assert incident["labels"] == {"region": "north"}
    (opened,) = events(client, incident["id"], "opened")
    assert opened["actor"] == "support-desk"
    # Two reports of the same thing are two incidents: nothing to deduplicate them on.
    again = client.post(
        API,
        json={"title": "Same", "type": "safety", "severity": "SEV1", "reported_by": "reviewer-1"},
    )
    assert again.status_code == 201
    assert again.json()["id"] != incident["id"]


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x", "type": "safety", "reported_by": "a"},  # no severity nor impact
        {
            "title": "x",
            "type": "safety",
            "severity": "SEV1",
            "impact": {"technical": "low", "harm": "low"},
            "reported_by": "a",
        },
        {"title": "x", "type": "unclassified", "severity": "SEV1", "reported_by": "a"},
        {"title": "x", "type": "safety", "severity": "SEV9", "reported_by": "a"},
        {"title": "x", "type": "safety", "severity": "SEV1", "reported_by": "a", "source": "twitter"},
        {"title": "", "type": "safety", "severity": "SEV1", "reported_by": "a"},
        {"title": "x", "type": "safety", "severity": "SEV1"},
        {"title": "x\x00", "type": "safety", "severity": "SEV1", "reported_by": "a"},
    ],
)
def test_a_bad_report_is_422_and_stores_nothing(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post(API, json=body)
    assert response.status_code == 422, response.text
    assert client.get(API).json()["total"] == 0


# --- notes, decisions, containment, corrections --------------------------------------------------


def test_notes_and_decisions_go_on_the_timeline(client: TestClient) -> None:
    incident_id = fire(client)
    act(client, incident_id, "notes", by="alice", text="looking at the feature store")
    earlier = (datetime.now(UTC) - timedelta(minutes=20)).isoformat()
    act(
        client,
        incident_id,
        "notes",
        by="bob",
        text="roll back to v41",
        kind="decision",
        rationale="retraining takes a day",
        at=earlier,
    )
    (note,) = events(client, incident_id, "note")
    assert (note["actor"], note["message"]) == ("alice", "looking at the feature store")
    (decision,) = events(client, incident_id, "decision")
    assert decision["actor"] == "bob"
    assert decision["data"]["rationale"] == "retraining takes a day"
    assert datetime.fromisoformat(decision["at"]) == datetime.fromisoformat(earlier)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = client.post(f"{API}/{incident_id}/notes", json={"by": "bob", "text": "x", "at": future})
    assert response.status_code == 422


def test_contain_sets_contained_at_once(client: TestClient) -> None:
    incident_id = fire(client)
    contained = act(client, incident_id, "contain", by="alice", note="rolled back to v41")
    assert contained["contained_at"] is not None and contained["contained_by"] == "alice"
    assert contained["status"] == "triggered"  # containment is its own step, not a resolution
    again = act(client, incident_id, "contain", by="bob", note="also disabled")
    assert again["contained_at"] == contained["contained_at"] and again["contained_by"] == "alice"
    assert [e["actor"] for e in events(client, incident_id, "contained")] == ["alice"]


def test_times_are_corrected_with_the_old_value_and_reason_kept(client: TestClient) -> None:
    incident_id = fire(client)
    before = detail(client, incident_id)
    assert before["impact_started_at"] is not None  # the alert's startsAt
    started = "2026-11-27T04:00:00+00:00"
    act(client, incident_id, "contain", by="alice")
    corrected = act(
        client,
        incident_id,
        "correct",
        by="carol",
        reason="logs show drift from 04:00",
        impact_started_at=started,
    )
    assert datetime.fromisoformat(corrected["impact_started_at"]) == datetime.fromisoformat(started)
    (entry,) = events(client, incident_id, "corrected")
    assert entry["actor"] == "carol"
    assert entry["data"]["reason"] == "logs show drift from 04:00"
    assert datetime.fromisoformat(entry["data"]["impact_started_at"]["from"]) == datetime.fromisoformat(
        before["impact_started_at"]
    )
    response = client.post(
        f"{API}/{incident_id}/correct",
        json={"by": "carol", "reason": "typo", "contained_at": "2026-11-27T03:00:00+00:00"},
    )
    assert response.status_code == 422  # contained before the impact started
    assert client.post(f"{API}/{incident_id}/correct", json={"by": "c", "reason": "r"}).status_code == 422


# --- reclassification ----------------------------------------------------------------------------


SEVERITY_RULES = """\
rules:
  - name: canary-critical
    matchers: ['alertname="CanaryErrors"', 'severity="critical"']
    type: technical_failure
    severity: SEV1
    group_with: canary
  - name: canary
    matchers: ['alertname="CanaryErrors"']
    type: technical_failure
    severity: SEV2
"""


def canary(client: TestClient, instance: str, severity: str) -> int:
    body = copy.deepcopy(load_fixture_requests()[0]["body"])
    alert = body["alerts"][0]
    alert["labels"] = {"alertname": "CanaryErrors", "model": "m1", "instance": instance, "severity": severity}
    alert["fingerprint"] = ""
    response = client.post("/webhooks/alertmanager", json=body)
    assert response.status_code == 200, response.text
    return int(response.json()["incidents"][0])


def test_a_lowered_severity_stays_lowered_until_a_worse_alert(settings: Settings) -> None:
    (settings.rules_dir / "05-canary.yaml").write_text(SEVERITY_RULES)
    with TestClient(create_app(settings)) as client:
        incident_id = canary(client, "a", "warning")
        assert detail(client, incident_id)["severity"] == "SEV2"
        lowered = act(client, incident_id, "reclassify", by="alice", reason="only a canary", severity="SEV4")
        assert lowered["severity"] == "SEV4"
        (entry,) = events(client, incident_id, "reclassified")
        assert entry["data"]["severity"] == {"from": "SEV2", "to": "SEV4"}
        assert entry["data"]["reason"] == "only a canary"
        # More alerts of the level alerts already asked for do not undo the person's judgement.
        assert canary(client, "b", "warning") == incident_id
        assert detail(client, incident_id)["severity"] == "SEV4"
        # An alert worse than any before still raises.
        assert canary(client, "c", "critical") == incident_id
        assert detail(client, incident_id)["severity"] == "SEV1"
        # And a person's raise is never lowered by alerts.
        act(client, incident_id, "reclassify", by="alice", reason="customers hit", severity="SEV1")
        assert canary(client, "d", "warning") == incident_id
        assert detail(client, incident_id)["severity"] == "SEV1"


def test_reclassify_changes_the_type_and_needs_a_reason(client: TestClient) -> None:
    incident_id = fire(client)
    changed = act(
        client, incident_id, "reclassify", by="rai-team", reason="affects a group", type="fairness_violation"
    )
    assert changed["type"] == "fairness_violation"
    for body in (
        {"by": "x", "type": "safety"},
        {"by": "x", "reason": "r"},
        {"by": "x", "reason": "r", "type": "nope"},
    ):
        assert client.post(f"{API}/{incident_id}/reclassify", json=body).status_code == 422


# --- roles, links, timeline marks ----------------------------------------------------------------


def test_whoever_acknowledges_leads_and_roles_hand_over(client: TestClient) -> None:
    incident_id = fire(client)
    acked = client.post(f"{API}/{incident_id}/acknowledge", json={"by": "alice"}).json()["incident"]
    assert acked["lead"] == "alice"
    handed = act(
        client, incident_id, "roles", by="alice", lead="bob", comms_lead="carol", reviewer="legal-dana"
    )
    assert (handed["lead"], handed["comms_lead"], handed["reviewer"]) == ("bob", "carol", "legal-dana")
    cleared = act(client, incident_id, "roles", by="bob", reviewer="")
    assert (cleared["lead"], cleared["reviewer"]) == ("bob", None)
    changes = [
        (e["data"]["role"], e["data"]["from"], e["data"]["to"])
        for e in events(client, incident_id, "role_changed")
    ]
    assert changes == [
        ("lead", None, "alice"),
        ("lead", "alice", "bob"),
        ("comms_lead", None, "carol"),
        ("reviewer", None, "legal-dana"),
        ("reviewer", "legal-dana", None),
    ]
    # A change of severity never moves a role by itself.
    act(client, incident_id, "reclassify", by="bob", reason="worse", severity="SEV1")
    assert detail(client, incident_id)["lead"] == "bob"


def test_a_duplicate_is_resolved_into_the_other_and_its_alerts_show_there(client: TestClient) -> None:
    first = fire(client, 0)
    second = fire(client, 1)
    linked = act(client, second, "link", by="alice", incident_id=first, relation="duplicate_of")
    assert (linked["status"], linked["duplicate_of"], linked["resolved_by"]) == ("resolved", first, "alice")
    survivor = detail(client, first)
    assert survivor["status"] == "triggered"
    fingerprints = {a["fingerprint"] for a in survivor["alerts"]}
    assert {a["fingerprint"] for a in detail(client, second)["alerts"]} <= fingerprints
    assert [(link["incident_id"], link["other_id"], link["relation"]) for link in survivor["links"]] == [
        (second, first, "duplicate_of")
    ]
    assert events(client, first, "linked")[0]["actor"] == "alice"
    # Linking again changes nothing; linking to itself or to nothing is refused.
    act(client, second, "link", by="alice", incident_id=first, relation="duplicate_of")
    assert len(detail(client, first)["links"]) == 1
    assert (
        client.post(
            f"{API}/{first}/link", json={"by": "a", "incident_id": first, "relation": "related"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"{API}/{first}/link", json={"by": "a", "incident_id": 999, "relation": "related"}
        ).status_code
        == 404
    )


def test_related_incidents_stay_open(client: TestClient) -> None:
    first, second = fire(client, 0), fire(client, 1)
    act(client, second, "link", by="bob", incident_id=first, relation="related")
    assert detail(client, second)["status"] == "triggered"
    assert len(detail(client, first)["links"]) == 1


def test_timeline_entries_can_be_starred_and_hidden(client: TestClient) -> None:
    incident_id = fire(client)
    act(client, incident_id, "notes", by="alice", text="root cause: stale feature")
    note = events(client, incident_id, "note")[0]
    act(client, incident_id, f"timeline/{note['id']}", by="alice", starred=True)
    opened = events(client, incident_id, "opened")[0]
    act(client, incident_id, f"timeline/{opened['id']}", by="alice", hidden=True)
    after = {e["id"]: e for e in detail(client, incident_id)["timeline"]}
    assert (after[note["id"]]["starred"], after[note["id"]]["hidden"]) == (True, False)
    assert (after[opened["id"]]["starred"], after[opened["id"]]["hidden"]) == (False, True)
    other = fire(client, 1)
    response = client.post(f"{API}/{other}/timeline/{note['id']}", json={"by": "x", "starred": True})
    assert response.status_code == 422  # an entry of another incident


def test_actions_on_a_missing_incident_are_404(client: TestClient) -> None:
    for action, body in (
        ("notes", {"by": "a", "text": "t"}),
        ("contain", {"by": "a"}),
        ("roles", {"by": "a", "lead": "b"}),
        ("snooze", {"by": "a", "minutes": 5}),
    ):
        response = client.post(f"{API}/4242/{action}", json=body)
        assert response.status_code == 404, (action, response.text)


def test_snooze_needs_an_acknowledged_incident(client: TestClient) -> None:
    incident_id = fire(client)
    response = client.post(f"{API}/{incident_id}/snooze", json={"by": "alice", "minutes": 10})
    assert response.status_code == 409
    client.post(f"{API}/{incident_id}/acknowledge", json={"by": "alice"})
    snoozed = act(client, incident_id, "snooze", by="alice", minutes=10)
    assert snoozed["status"] == "acknowledged" and snoozed["snoozed_until"] is not None
    for minutes in (0, 24 * 60 + 1):
        bad = client.post(f"{API}/{incident_id}/snooze", json={"by": "alice", "minutes": minutes})
        assert bad.status_code == 422
