"""Communication fixtures: the paging test rig (a real HTTP receiver and SMTP server behind
every contact) with a communication protocol and a model registry of these tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.communications.service import Context
from app.config import Settings
from app.flows import communications
from app.main import create_app
from tests.paging.conftest import (  # noqa: F401  (fixtures)
    HttpReceiver,
    SmtpServer,
    oncall_person,
    oncall_yaml,
    receiver,
    smtp,
    wait_settled,
)

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
def protocol_settings(settings: Settings, rules_dir: Path, receiver: HttpReceiver, smtp: SmtpServer) -> Settings:
    (rules_dir / "oncall.yaml").write_text(protocol_oncall(receiver.url))
    (rules_dir / "communications.yaml").write_text(PROTOCOL_YAML)
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
    handled = communications.sweep(rt.db, lambda: Context(rt.catalog.current, rt.settings.public_url), rt.dispatcher.submit, now)
    wait_settled(client)
    return handled
