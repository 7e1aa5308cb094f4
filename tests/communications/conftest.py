"""Communication fixtures: the paging test rig (a real HTTP receiver and SMTP server behind
every contact) with a communication protocol and a model registry of these tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.communications.service import Context
from app.config import Settings
from app.flows import communications
from app.main import create_app
from tests.paging import conftest as paging_rig
from tests.paging.conftest import (
    HttpReceiver,
    SmtpServer,
    notifications,
    oncall_yaml,
    timeline,
    wait_settled,
)

# The paging rig's fixtures, reused here: a real HTTP receiver and SMTP server behind every contact.
receiver = paging_rig.receiver
smtp = paging_rig.smtp
oncall_person = paging_rig.oncall_person

PROTOCOL_YAML = """\
communications:
  contact: "the model risk desk, risk-desk@example.org"
  audiences:
    ml-lead: {name: ML lead, people: [carol]}
    legal: {name: Legal, people: [bob]}
    support: {teams: [risk-ml]}
    affected-users: {name: Affected users, channel: "letter from the customer team"}
    regulator: {channel: "authority portal"}
  policies:
    - name: outage
      when: {types: [technical_failure, performance_degradation], severities: [SEV1, SEV2]}
      notify:
        - {audience: ml-lead, within: 15m, from: opened}
        - {audience: support, within: 1h, from: acknowledged}
    - name: sev1-updates
      when: {severities: [SEV1]}
      notify:
        - {audience: ml-lead, within: 30m, from: opened, every: 30m, template: stakeholders-update}
    - name: fairness
      when: {types: [fairness_violation]}
      notify:
        - {audience: legal, within: 4h, from: opened, approval: true}
    - name: fairness-users
      when: {types: [fairness_violation], harm_levels: [harm_event, serious]}
      notify:
        - audience: affected-users
          within: 72h
          from: aware
          holding: {template: affected-users-holding, within: 24h}
"""

REGISTRY = """\
  - id: credit-scorer
    owner: alice
    team: risk-ml
    escalation_policy: risk-ml-default
    description: Consumer credit scoring
    decisions: whether a loan application is approved
    risk_tier: high
  - id: vendor-cv-screen
    owner: alice
    team: risk-ml
    escalation_policy: risk-ml-default
    risk_tier: high
    role: deployer
"""


def protocol_oncall(base: str) -> str:
    """The paging tests' on-call file with two high-risk models added to its registry."""
    text = oncall_yaml(base)
    return text.replace("models:\n", "models:\n" + REGISTRY, 1)


@pytest.fixture
def protocol_yaml() -> str:
    """The communications section the app starts with; a module or test may override it."""
    return PROTOCOL_YAML


@pytest.fixture
def oncall_text(receiver: HttpReceiver) -> str:
    """The on-call file the app starts with; a module or test may override it."""
    return protocol_oncall(receiver.url)


@pytest.fixture
def protocol_settings(
    settings: Settings,
    rules_dir: Path,
    receiver: HttpReceiver,
    smtp: SmtpServer,
    protocol_yaml: str,
    oncall_text: str,
) -> Settings:
    (rules_dir / "oncall.yaml").write_text(oncall_text)
    (rules_dir / "communications.yaml").write_text(protocol_yaml)
    return settings.model_copy(
        update={
            "rules_dir": rules_dir,
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "pagerduty_events_url": f"{receiver.url}/pagerduty",
            "outbound_timeout_seconds": 5.0,
        }
    )


@pytest.fixture
def protocol_client(protocol_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(protocol_settings)) as test_client:
        yield test_client


def run_sweep(client: TestClient, now: datetime) -> int:
    """The communications job as the scheduler runs it, with the clock at `now`; waits for sends."""
    rt: Any = client.app.state.runtime  # type: ignore[attr-defined]
    handled = communications.sweep(
        rt.db, lambda: Context(rt.catalog.current, rt.settings.public_url), rt.dispatcher.submit, now
    )
    wait_settled(client)
    return handled


# --- protocol variants ------------------------------------------------------------------------------

# Affected users reached through the risk-ml team's fallback webhook: a holding statement can
# then go out by itself through paging.
TEAMS_YAML = PROTOCOL_YAML.replace(
    'affected-users: {name: Affected users, channel: "letter from the customer team"}',
    "affected-users: {name: Affected users, teams: [risk-ml]}",
)
assert TEAMS_YAML != PROTOCOL_YAML

# An organisation regime shaped like NIS2 Art. 23, started by the moment `significant`.
REGIME_YAML = (
    PROTOCOL_YAML
    + """\
  regimes:
    - name: nis2_art23
      basis: "NIS2 Directive, Art. 23(4)"
      when: {moments: [significant]}
      stages:
        - {name: early_warning, within: 24h, from: aware}
        - {name: notification, within: 72h, from: aware}
        - {name: final_report, within: 1mo, from: previous}
"""
)


# --- helpers --------------------------------------------------------------------------------------


def at(text: str | None) -> datetime | None:
    """An API timestamp (`...Z`) as an aware datetime."""
    return None if text is None else datetime.fromisoformat(text)


def when(text: str | None) -> datetime:
    moment = at(text)
    assert moment is not None
    return moment


def past(**delta: float) -> datetime:
    """A moment `delta` ago, to the second (what the API stores and gives back exactly)."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def report_incident(
    client: TestClient,
    type_: str = "technical_failure",
    severity: str = "SEV1",
    model: str = "fraud-scorer",
    by: str = "dave",
) -> dict[str, Any]:
    """POST /api/v1/incidents (an incident a person found); returns it."""
    response = client.post(
        "/api/v1/incidents",
        json={
            "title": f"{type_} on {model}",
            "type": type_,
            "severity": severity,
            "model": model,
            "reported_by": by,
        },
    )
    assert response.status_code == 201, response.text
    incident: dict[str, Any] = response.json()
    return incident


def incident_of(client: TestClient, incident_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/incidents/{incident_id}")
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def notices(client: TestClient, incident_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/incidents/{incident_id}/communications")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def notices_of(
    client: TestClient, incident_id: int, policy: str, audience: str, holding: bool = False
) -> list[dict[str, Any]]:
    """The notices of one policy and audience (holding statements or full ones), by sequence."""
    found = [
        n
        for n in notices(client, incident_id)
        if n["policy"] == policy and n["audience"] == audience and n["holding"] == holding
    ]
    return sorted(found, key=lambda n: n["sequence"])


def notice(
    client: TestClient, incident_id: int, policy: str, audience: str, sequence: int = 1, holding: bool = False
) -> dict[str, Any]:
    found = [
        n for n in notices_of(client, incident_id, policy, audience, holding) if n["sequence"] == sequence
    ]
    assert len(found) == 1, notices(client, incident_id)
    return found[0]


def notice_action(
    client: TestClient, incident_id: int, cid: int, action: str, expect: int = 200, **body: Any
) -> dict[str, Any]:
    """POST .../communications/{cid}/{action} (or PUT for `edit`); asserts the status."""
    url = f"/api/v1/incidents/{incident_id}/communications/{cid}"
    response = client.put(url, json=body) if action == "edit" else client.post(f"{url}/{action}", json=body)
    assert response.status_code == expect, response.text
    answer: dict[str, Any] = response.json()
    return answer


def obligations(client: TestClient, incident_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/incidents/{incident_id}/obligations")
    assert response.status_code == 200, response.text
    listing: dict[str, Any] = response.json()
    return listing


def obligation(client: TestClient, incident_id: int, regime: str, stage: str) -> dict[str, Any]:
    found = [
        o for o in obligations(client, incident_id)["items"] if (o["regime"], o["stage"]) == (regime, stage)
    ]
    assert len(found) == 1, obligations(client, incident_id)
    item: dict[str, Any] = found[0]
    return item


def assess(
    client: TestClient, incident_id: int, level: str, by: str = "alice", **harm: Any
) -> dict[str, Any]:
    """PUT .../harm: a new version of the assessment."""
    response = client.put(f"/api/v1/incidents/{incident_id}/harm", json={"by": by, "level": level, **harm})
    assert response.status_code == 200, response.text
    assessed: dict[str, Any] = response.json()
    return assessed


def act(client: TestClient, incident_id: int, action: str, by: str = "alice") -> dict[str, Any]:
    """Acknowledge or resolve through the API."""
    response = client.post(f"/api/v1/incidents/{incident_id}/{action}", json={"by": by})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["incident"]
    return result


def reclassify(client: TestClient, incident_id: int, severity: str, by: str = "alice") -> dict[str, Any]:
    response = client.post(
        f"/api/v1/incidents/{incident_id}/reclassify",
        json={"by": by, "reason": f"impact re-assessed as {severity}", "severity": severity},
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def entries(client: TestClient, incident_id: int, kind: str) -> list[dict[str, Any]]:
    """Timeline entries of one kind, oldest first."""
    return [e for e in timeline(client, incident_id) if e["kind"] == kind]


def reminders(client: TestClient, incident_id: int) -> list[tuple[str, str]]:
    """(recipient, channel) of every reminder notification of the incident."""
    return sorted((n.recipient, n.channel) for n in notifications(client, incident_id, kind="reminder"))
