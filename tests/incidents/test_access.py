"""Restricted incidents: defaults per type, restricting and unrestricting, who sees what
(`X-Bridge-Person` narrows the API to one person's view), granting and asking for access;
on both databases."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.incidents import service
from app.main import create_app
from app.models import Incident
from tests.support import incident_action, incident_events, load_fixture_requests

API = "/api/v1/incidents"
# Contacts nobody listens on: pages are rows first, which is all visibility needs.
NOWHERE = "http://127.0.0.1:9"

ONCALL = f"""\
people:
  - {{id: alice, name: Alice, contact: [{{type: webhook, url: {NOWHERE}/alice}}]}}
  - {{id: bob, name: Bob, contact: [{{type: webhook, url: {NOWHERE}/bob}}]}}
  - {{id: carol, name: Carol, contact: [{{type: webhook, url: {NOWHERE}/carol}}]}}
rotations:
  - id: primary
    members: [carol]
    shift: weekly
    handoff: "Mon 09:00"
    timezone: Europe/Amsterdam
escalation_policies:
  - id: default
    steps:
      - {{notify: ["rotation:primary"], after: 0m}}
models:
  - {{id: fraud-scorer, owner: alice, team: risk, escalation_policy: default, tier: production}}
teams:
  - {{id: risk, name: Risk ML, fallback: [{{type: webhook, url: {NOWHERE}/fallback}}]}}
default_escalation_policy: default
"""


@pytest.fixture
def access_client(settings: Settings) -> Iterator[TestClient]:
    (settings.rules_dir / "oncall.yaml").write_text(ONCALL)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def as_person(person: str) -> dict[str, str]:
    return {"X-Bridge-Person": person}


def report(client: TestClient, type_: str = "fairness_violation", **extra: Any) -> dict[str, Any]:
    body = {
        "title": "Loan model rejects applicants from one postcode",
        "type": type_,
        "severity": "SEV2",
        "model": "fraud-scorer",
        "reported_by": "support-desk",
        **extra,
    }
    response = client.post(API, json=body)
    assert response.status_code == 201, response.text
    incident: dict[str, Any] = response.json()
    return incident


def listed_ids(client: TestClient, person: str | None = None, **params: Any) -> list[int]:
    headers = as_person(person) if person is not None else {}
    response = client.get(API, params=params, headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["items"])
    return [item["id"] for item in page["items"]]


def sees(client: TestClient, incident_id: int, person: str) -> bool:
    response = client.get(f"{API}/{incident_id}", headers=as_person(person))
    assert response.status_code in (200, 404), response.text
    in_list = incident_id in listed_ids(client, person)
    assert in_list == (response.status_code == 200), "the list and the detail disagree"
    return response.status_code == 200


# --- defaults per type --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "restricted"),
    [
        ("fairness_violation", True),
        ("ethical", True),
        ("safety", True),
        ("performance_degradation", False),
        ("technical_failure", False),
    ],
)
def test_fairness_ethical_and_safety_incidents_start_restricted(
    access_client: TestClient, type_: str, restricted: bool
) -> None:
    incident = report(access_client, type_)
    assert incident["restricted"] is restricted
    assert bool(incident_events(access_client, incident["id"], "restricted")) is restricted


def test_the_workspace_section_sets_which_types_start_restricted(settings: Settings) -> None:
    (settings.rules_dir / "90-workspace.yaml").write_text(
        "workspace:\n  restricted_types: [performance_degradation]\n"
    )
    with TestClient(create_app(settings)) as client:
        # An alert-born accuracy drop (performance_degradation) now starts restricted...
        body = copy.deepcopy(load_fixture_requests()[1]["body"])
        response = client.post("/webhooks/alertmanager", json=body)
        assert response.status_code == 200, response.text
        alert_born = int(response.json()["incidents"][0])
        assert client.get(f"{API}/{alert_born}").json()["restricted"] is True
        assert not sees(client, alert_born, "mallory")
        # ...and a fairness report no longer does.
        assert report(client, "fairness_violation")["restricted"] is False


def test_an_alert_born_performance_incident_is_not_restricted(access_client: TestClient) -> None:
    body = copy.deepcopy(load_fixture_requests()[1]["body"])
    response = access_client.post("/webhooks/alertmanager", json=body)
    assert response.status_code == 200, response.text
    incident_id = int(response.json()["incidents"][0])
    assert access_client.get(f"{API}/{incident_id}").json()["restricted"] is False
    assert sees(access_client, incident_id, "mallory")


# --- reclassify, restrict, unrestrict -----------------------------------------------------------------


def test_reclassifying_to_fairness_restricts_and_never_unrestricts(access_client: TestClient) -> None:
    incident = report(access_client, "performance_degradation")
    assert not incident["restricted"]
    changed = incident_action(
        access_client,
        incident["id"],
        "reclassify",
        by="alice",
        reason="it is about one group",
        type="fairness_violation",
    )
    assert changed["restricted"] is True
    (event,) = incident_events(access_client, incident["id"], "restricted")
    assert event["actor"] == "alice" and "fairness_violation" in event["message"]
    back = incident_action(
        access_client,
        incident["id"],
        "reclassify",
        by="alice",
        reason="no, drift",
        type="performance_degradation",
    )
    assert back["restricted"] is True  # only a person lifts a restriction, with a reason


def test_restrict_and_unrestrict_with_a_reason_on_the_timeline(access_client: TestClient) -> None:
    incident = report(access_client, "technical_failure")
    assert sees(access_client, incident["id"], "mallory")
    restricted = incident_action(
        access_client, incident["id"], "restrict", by="alice", restricted=True, reason="names a customer"
    )
    assert restricted["restricted"] is True
    assert not sees(access_client, incident["id"], "mallory")
    # Repeating it changes nothing and writes nothing.
    incident_action(access_client, incident["id"], "restrict", by="alice", restricted=True, reason="again")
    (event,) = incident_events(access_client, incident["id"], "restricted")
    assert (event["actor"], event["data"]["reason"]) == ("alice", "names a customer")
    opened = incident_action(
        access_client, incident["id"], "restrict", by="dpo", restricted=False, reason="customer redacted"
    )
    assert opened["restricted"] is False
    (event,) = incident_events(access_client, incident["id"], "unrestricted")
    assert event["actor"] == "dpo" and "customer redacted" in event["message"]
    assert sees(access_client, incident["id"], "mallory")


# --- who sees a restricted incident -------------------------------------------------------------------


def test_a_restricted_incident_does_not_exist_for_others(access_client: TestClient) -> None:
    public = report(access_client, "technical_failure")
    secret = report(access_client, "fairness_violation")
    assert secret["restricted"] and secret["owner"] == "alice"
    # The operator (API token, no person named) sees everything.
    assert {public["id"], secret["id"]} <= set(listed_ids(access_client))
    # Bob is neither a responder nor paged for it: not in lists, searches, detail or actions.
    assert listed_ids(access_client, "bob") == [public["id"]]
    assert listed_ids(access_client, "bob", type="fairness_violation") == []
    assert listed_ids(access_client, "bob", model="fraud-scorer", status="open") == [public["id"]]
    bob = as_person("bob")
    missing = access_client.get(f"{API}/{secret['id']}", headers=bob)
    nothing_there = access_client.get(f"{API}/999999", headers=bob)
    assert missing.status_code == nothing_there.status_code == 404
    assert missing.json()["error"] == nothing_there.json()["error"]
    for action, body in [
        ("acknowledge", {"by": "bob"}),
        ("resolve", {"by": "bob"}),
        ("notes", {"by": "bob", "text": "peek"}),
        ("contain", {"by": "bob"}),
        ("roles", {"by": "bob", "lead": "bob"}),
        ("restrict", {"by": "bob", "restricted": False, "reason": "let me in"}),
        ("access", {"by": "bob", "person": "bob"}),
        ("link", {"by": "bob", "incident_id": public["id"], "relation": "related"}),
    ]:
        response = access_client.post(f"{API}/{secret['id']}/{action}", json=body, headers=bob)
        assert response.status_code == 404, (action, response.text)
    # Linking from a visible incident to the hidden one is refused as if it did not exist.
    response = access_client.post(
        f"{API}/{public['id']}/link",
        json={"by": "bob", "incident_id": secret["id"], "relation": "related"},
        headers=bob,
    )
    assert response.status_code == 404
    assert incident_events(access_client, secret["id"], "note") == []
    assert access_client.get(f"{API}/{secret['id']}").json()["status"] == "triggered"


def test_responders_and_the_people_paged_see_it(access_client: TestClient) -> None:
    secret = report(access_client, "safety")
    assert sees(access_client, secret["id"], "alice")  # the model's owner
    assert sees(access_client, secret["id"], "carol")  # on call: paged for it
    assert sees(access_client, secret["id"], "support-desk")  # who reported it
    assert not sees(access_client, secret["id"], "bob")
    # A role handed over is enough; so is acknowledging.
    incident_action(access_client, secret["id"], "roles", by="alice", reviewer="bob")
    assert sees(access_client, secret["id"], "bob")
    response = access_client.post(
        f"{API}/{secret['id']}/acknowledge", json={"by": "bob"}, headers=as_person("bob")
    )
    assert response.status_code == 200, response.text
    assert response.json()["incident"]["acknowledged_by"] == "bob"


def test_granted_access_lets_a_person_see_and_act(access_client: TestClient) -> None:
    secret = report(access_client, "ethical")
    assert not sees(access_client, secret["id"], "bob")
    # Someone who sees it (the owner, narrowed to her own view) invites bob.
    response = access_client.post(
        f"{API}/{secret['id']}/access", json={"by": "alice", "person": "bob"}, headers=as_person("alice")
    )
    assert response.status_code == 200, response.text
    assert sees(access_client, secret["id"], "bob")
    incident_action(access_client, secret["id"], "access", by="alice", person="bob")  # granted once only
    (event,) = incident_events(access_client, secret["id"], "access_granted")
    assert (event["actor"], event["data"]["person"]) == ("alice", "bob")
    response = access_client.post(
        f"{API}/{secret['id']}/notes", json={"by": "bob", "text": "looking"}, headers=as_person("bob")
    )
    assert response.status_code == 200, response.text
    assert not sees(access_client, secret["id"], "mallory")


def test_an_access_request_is_recorded_and_reveals_nothing(access_client: TestClient) -> None:
    secret = report(access_client, "fairness_violation")
    mallory = as_person("mallory")
    asked = access_client.post(
        f"{API}/{secret['id']}/access-requests", json={"by": "mallory"}, headers=mallory
    )
    unknown = access_client.post(f"{API}/999999/access-requests", json={"by": "mallory"}, headers=mallory)
    assert asked.status_code == unknown.status_code == 202
    assert asked.json() == unknown.json() == {"status": "received"}
    (event,) = incident_events(access_client, secret["id"], "access_requested")
    assert event["actor"] == "mallory"
    assert not sees(access_client, secret["id"], "mallory")  # asking is not being let in
    # The operator is told when there is no such incident.
    assert access_client.post(f"{API}/999999/access-requests", json={"by": "ops"}).status_code == 404


# --- the service functions pages call -----------------------------------------------------------------


def test_service_filters_for_pages(access_client: TestClient) -> None:
    public = report(access_client, "technical_failure")
    secret = report(access_client, "fairness_violation")
    db = access_client.app.state.runtime.db  # type: ignore[attr-defined]
    everything = service.IncidentFilter()
    with db.session() as session:
        rows, total = service.search(session, everything, 50, 0)  # today's callers: everything
        assert {public["id"], secret["id"]} <= {r.id for r in rows} and total >= 2
        rows, _ = service.search(session, everything, 50, 0, viewer_person="bob")
        assert [r.id for r in rows] == [public["id"]]
        rows, _ = service.search(session, everything, 50, 0, viewer_person="carol")  # paged
        assert {r.id for r in rows} == {public["id"], secret["id"]}
        ids = session.scalars(select(Incident.id).where(service.visible_to(session, "bob"))).all()
        assert list(ids) == [public["id"]]
        incident = service.get(session, secret["id"])
        assert service.can_see(session, incident, None)
        assert service.can_see(session, incident, "alice")
        assert service.can_see(session, incident, "carol")
        assert not service.can_see(session, incident, "bob")
