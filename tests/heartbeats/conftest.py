"""Heartbeat fixtures: the paging test rig (a real HTTP receiver and SMTP server behind every
contact), heartbeats of these tests in the rules directory, and helpers that beat and run the
check job with a clock the test sets.

`check_at(client, when)` runs the heartbeat check as the scheduler does, with its clock at `when`,
and waits for the pages it wrote to be sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.catalog.loader import Catalog
from app.config import Settings
from app.flows import heartbeats as flows
from app.main import create_app
from app.models import Heartbeat, Incident
from tests.paging import conftest as paging_rig
from tests.paging.conftest import HttpReceiver, SmtpServer, db_of, dispatcher_of, oncall_yaml, wait_settled

# The paging rig's fixtures, reused here: a real HTTP receiver and SMTP server behind every contact.
receiver = paging_rig.receiver
smtp = paging_rig.smtp

HOUR = timedelta(hours=1)

HEARTBEATS_YAML = """\
heartbeats:
  - name: watchdog
    matchers: ['alertname="Watchdog"']
    interval: 1h
"""
# A second heartbeat, beaten by POST only, with a severity and a policy of its own.
NIGHTLY_YAML = """\
  - name: nightly-scoring
    interval: 1h
    escalation_policy: platform
    severity: SEV1
"""
# A policy of its own for `nightly-scoring`: it pages bob, where the default policy pages alice.
PLATFORM_YAML = """\
escalation_policies:
  - id: platform
    steps:
      - {notify: ["person:bob"], after: 0m}
"""


def write_heartbeats(rules_dir: Path, text: str = HEARTBEATS_YAML) -> None:
    """Replace the shipped heartbeats with these (the file keeps its name, so its place in order)."""
    (rules_dir / "60-heartbeats.yaml").write_text(text)


@pytest.fixture
def heartbeat_settings(
    settings: Settings, rules_dir: Path, receiver: HttpReceiver, smtp: SmtpServer
) -> Settings:
    """The test settings with the heartbeats above and an on-call file whose contacts are local."""
    (rules_dir / "oncall.yaml").write_text(oncall_yaml(receiver.url))
    (rules_dir / "61-platform.yaml").write_text(PLATFORM_YAML)
    write_heartbeats(rules_dir)
    return settings.model_copy(
        update={
            "rules_dir": rules_dir,
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "pagerduty_events_url": f"{receiver.url}/pagerduty",
            "page_max_attempts": 3,
            "outbound_timeout_seconds": 5.0,
        }
    )


@pytest.fixture
def client(heartbeat_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(heartbeat_settings)) as test_client:
        yield test_client


def reload_heartbeats(client: TestClient, rules_dir: Path, text: str) -> None:
    """Declare these heartbeats instead, as an SRE's edit and a reload do."""
    write_heartbeats(rules_dir, text)
    answer = client.post("/-/reload")
    assert answer.status_code == 200, answer.text


def catalog_of(client: TestClient) -> Catalog:
    current: Catalog = client.app.state.runtime.catalog.current  # type: ignore[attr-defined]
    return current


def check_at(client: TestClient, when: datetime) -> int:
    """Run the heartbeat check with the clock at `when`; wait for what it sent."""
    dispatcher = dispatcher_of(client)
    dispatcher.clock = lambda: when
    changed = flows.check(
        db_of(client), lambda: catalog_of(client), "http://bridge.test", dispatcher.submit, lambda: when
    )
    wait_settled(client)
    return changed


def beat_at(client: TestClient, name: str, when: datetime) -> None:
    """One beat at `when`, as POST /heartbeats/{name} records it."""
    flows.beat(db_of(client), catalog_of(client), name, when)


def heartbeat_row(client: TestClient, name: str) -> Heartbeat | None:
    with db_of(client).session() as session:
        return session.get(Heartbeat, name)


def incidents_of(client: TestClient, key: str) -> list[Incident]:
    with db_of(client).session() as session:
        return list(session.scalars(select(Incident).where(Incident.key == key).order_by(Incident.id)))
