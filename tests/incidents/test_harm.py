"""Harm assessment through the API: versions with actor and reason, the timeline, the current
version on the incident, and the regulatory clocks it starts; on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

API = "/api/v1/incidents"
NOWHERE = "http://127.0.0.1:9"  # pages are rows first; nobody listens here

ONCALL = f"""\
people:
  - {{id: alice, name: Alice, contact: [{{type: webhook, url: {NOWHERE}/alice}}]}}
escalation_policies:
  - id: default
    steps:
      - {{notify: ["person:alice"], after: 0m}}
models:
  - {{id: credit-scorer, owner: alice, escalation_policy: default, risk_tier: high}}
  - {{id: credit-bought, owner: alice, escalation_policy: default, risk_tier: high, role: deployer}}
  - {{id: recommender, owner: alice, escalation_policy: default}}
default_escalation_policy: default
"""


@pytest.fixture
def harm_client(settings: Settings) -> Iterator[TestClient]:
    (settings.rules_dir / "oncall.yaml").write_text(ONCALL)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def report(client: TestClient, model: str = "credit-scorer") -> int:
    body = {
        "title": "Loan applications from one region all refused",
        "type": "fairness_violation",
        "severity": "SEV2",
        "model": model,
        "reported_by": "support-desk",
    }
    response = client.post(API, json=body)
    assert response.status_code == 201, response.text
    incident_id: int = response.json()["id"]
    return incident_id


def assess(client: TestClient, incident_id: int, expect: int = 200, **body: Any) -> dict[str, Any]:
    response = client.put(f"{API}/{incident_id}/harm", json={"by": "alice", **body})
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


def obligations(client: TestClient, incident_id: int) -> list[dict[str, Any]]:
    response = client.get(f"{API}/{incident_id}/obligations")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_every_version_is_kept_with_its_actor_and_reason(harm_client: TestClient) -> None:
    incident_id = report(harm_client)
    assert harm_client.get(f"{API}/{incident_id}").json()["harm"] is None

    first = assess(harm_client, incident_id, level="issue", reason="first look")
    assert first["version"] == 1
    assert first["causal_link"] == "suspected"
    second = assess(
        harm_client,
        incident_id,
        by="bob",
        level="harm_event",
        domains=["fundamental_rights"],
        affected_groups=["applicants from one region"],
        persons_affected=1200,
        causal_link="established",
        reason="the refusals are the model's",
    )
    assert second["version"] == 2

    detail = harm_client.get(f"{API}/{incident_id}").json()
    assert detail["harm"]["version"] == 2
    assert detail["harm"]["level"] == "harm_event"
    assert detail["harm"]["by"] == "bob"
    assert detail["harm"]["persons_affected"] == 1200
    entries = [e for e in detail["timeline"] if e["kind"] == "harm_assessed"]
    assert [(e["actor"], e["data"]["version"]) for e in entries] == [("alice", 1), ("bob", 2)]
    assert "the refusals are the model's" in entries[1]["message"]

    history = harm_client.get(f"{API}/{incident_id}/harm/history").json()["items"]
    assert [(v["version"], v["level"], v["by"], v["reason"]) for v in history] == [
        (1, "issue", "alice", "first look"),
        (2, "harm_event", "bob", "the refusals are the model's"),
    ]


def test_a_serious_harm_to_a_high_risk_model_starts_the_ai_act_clock(harm_client: TestClient) -> None:
    incident_id = report(harm_client)
    aware = datetime.now(UTC) - timedelta(days=1)
    assess(harm_client, incident_id, level="serious", aware_at=aware.isoformat(), death=True)
    [report_due] = obligations(harm_client, incident_id)
    assert report_due["regime"] == "eu_ai_act_art73"
    assert report_due["stage"] == "report"
    assert report_due["status"] == "open"
    assert at(report_due["due_at"]) == aware + timedelta(days=10)
    assert "Art. 73(4)" in report_due["basis"]

    # A reassessment moves the clock: widespread, across member states, is 2 days.
    assess(
        harm_client,
        incident_id,
        level="serious",
        aware_at=aware.isoformat(),
        death=True,
        widespread=True,
        member_states=["DE", "FR"],
        personal_data_breach=True,
    )
    items = {(o["regime"], o["stage"]): o for o in obligations(harm_client, incident_id)}
    assert set(items) == {("eu_ai_act_art73", "report"), ("gdpr_art33", "notify_authority")}
    assert at(items[("eu_ai_act_art73", "report")]["due_at"]) == aware + timedelta(days=2)
    assert at(items[("gdpr_art33", "notify_authority")]["due_at"]) == aware + timedelta(hours=72)
    assert all(o["status"] == "open" for o in items.values())


def test_past_due_is_overdue_and_a_deployer_informs_the_provider(harm_client: TestClient) -> None:
    incident_id = report(harm_client, "credit-bought")
    aware = datetime.now(UTC) - timedelta(days=4)
    assess(harm_client, incident_id, level="serious", aware_at=aware.isoformat(), personal_data_breach=True)
    items = {(o["regime"], o["stage"]): o for o in obligations(harm_client, incident_id)}
    assert set(items) == {
        ("eu_ai_act_art73", "inform_provider"),
        ("eu_ai_act_art73", "report"),
        ("gdpr_art33", "notify_authority"),
    }
    inform = items[("eu_ai_act_art73", "inform_provider")]
    assert (inform["status"], inform["overdue"]) == ("open", True)
    assert "Art. 26(5)" in inform["basis"]
    gdpr = items[("gdpr_art33", "notify_authority")]
    assert (gdpr["status"], gdpr["overdue"]) == ("open", True)
    art73 = items[("eu_ai_act_art73", "report")]
    assert (art73["status"], art73["overdue"]) == ("open", False)


def test_a_minimal_risk_model_starts_no_ai_act_clock(harm_client: TestClient) -> None:
    incident_id = report(harm_client, "recommender")
    assert obligations(harm_client, incident_id) == []
    assess(harm_client, incident_id, level="serious", death=True)
    assert obligations(harm_client, incident_id) == []


def test_what_cannot_be_stored_is_refused(harm_client: TestClient) -> None:
    incident_id = report(harm_client)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assess(harm_client, incident_id, 422, level="serious", aware_at=future)
    assess(harm_client, incident_id, 422, level="catastrophic")
    assess(harm_client, incident_id, 422, level="issue", domains=["weather"])
    assess(harm_client, incident_id, 422, level="issue", persons_affected=-1)
    assess(harm_client, incident_id, 422, level="issue", member_states=["germany"])
    assess(harm_client, incident_id, 422, level="issue", causal_link="likely")
    assert harm_client.get(f"{API}/{incident_id}/harm/history").json()["items"] == []
    for path in ("harm/history", "obligations"):
        assert harm_client.get(f"{API}/999999/{path}").status_code == 404
    assert harm_client.put(f"{API}/999999/harm", json={"by": "a", "level": "issue"}).status_code == 404


def test_the_registry_shows_risk_tier_and_role(harm_client: TestClient) -> None:
    models = {m["id"]: m for m in harm_client.get("/api/v1/models").json()["items"]}
    assert (models["credit-scorer"]["risk_tier"], models["credit-scorer"]["role"]) == ("high", "provider")
    assert (models["credit-bought"]["risk_tier"], models["credit-bought"]["role"]) == ("high", "deployer")
    assert (models["recommender"]["risk_tier"], models["recommender"]["role"]) == ("minimal", "provider")


def test_a_restricted_incident_keeps_its_harm_from_people_who_may_not_see_it(harm_client: TestClient) -> None:
    incident_id = report(harm_client)
    restrict = {"by": "alice", "restricted": True, "reason": "applicants' data"}
    assert harm_client.post(f"{API}/{incident_id}/restrict", json=restrict).status_code == 200
    outsider = {"X-Bridge-Person": "mallory"}
    body = {"by": "mallory", "level": "serious"}
    assert harm_client.put(f"{API}/{incident_id}/harm", json=body, headers=outsider).status_code == 404
    for path in ("harm/history", "obligations"):
        assert harm_client.get(f"{API}/{incident_id}/{path}", headers=outsider).status_code == 404
    assess(harm_client, incident_id, level="issue")
    owner = {"X-Bridge-Person": "alice"}
    assert (
        harm_client.get(f"{API}/{incident_id}/harm/history", headers=owner).json()["items"][0]["by"]
        == "alice"
    )
