"""A Watchdog alert through the Alertmanager webhook is a beat: committed before the answer, never
an incident (not even unclassified); the other alerts of the body go on as before. SQLite and
PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from app.db import utcnow
from app.models import Alert, Incident
from tests.heartbeats.conftest import heartbeat_row, reload_heartbeats
from tests.paging.conftest import alert_body, db_of

WEBHOOK = "/webhooks/alertmanager"


def watchdog(status: str = "firing") -> dict[str, Any]:
    """Alertmanager's Watchdog as kube-prometheus defines it (no model label)."""
    body = alert_body(alertname="Watchdog", status=status, severity="none")
    for labels in (body["alerts"][0]["labels"], body["commonLabels"]):
        del labels["model"], labels["team"]
    body["groupLabels"] = {"alertname": "Watchdog"}
    return body


def with_accuracy_drop(body: dict[str, Any]) -> dict[str, Any]:
    """The same notification carrying a model's accuracy drop after the Watchdog."""
    mixed = copy.deepcopy(body)
    mixed["alerts"].append(alert_body()["alerts"][0])
    return mixed


def counts(client: TestClient) -> tuple[int, int]:
    """Alerts stored, incidents opened."""
    with db_of(client).session() as session:
        alerts = session.scalar(select(func.count()).select_from(Alert)) or 0
        incidents = session.scalar(select(func.count()).select_from(Incident)) or 0
    return alerts, incidents


def test_a_watchdog_alert_is_a_beat_and_opens_nothing(client: TestClient) -> None:
    before = utcnow()
    answer = client.post(WEBHOOK, json=watchdog())

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "accepted", "alerts": 1, "incidents": []}
    row = heartbeat_row(client, "watchdog")
    assert row is not None and row.beats == 1
    assert row.last_beat_at is not None and before <= row.last_beat_at <= utcnow()
    assert counts(client) == (0, 0)

    # Alertmanager repeats it every minute: each repeat beats again, none opens anything.
    for _ in range(3):
        assert client.post(WEBHOOK, json=watchdog()).json()["incidents"] == []
    row = heartbeat_row(client, "watchdog")
    assert row is not None and row.beats == 4
    assert counts(client) == (0, 0)


def test_the_other_alerts_of_the_body_go_on_unchanged(client: TestClient) -> None:
    answer = client.post(WEBHOOK, json=with_accuracy_drop(watchdog()))

    assert answer.status_code == 200, answer.text
    assert answer.json()["alerts"] == 2
    (incident_id,) = answer.json()["incidents"]
    with db_of(client).session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.rule == "accuracy-drop"
        stored = list(session.scalars(select(Alert.labels)))
    assert [labels["alertname"] for labels in stored] == ["ModelAccuracyDrop"]
    row = heartbeat_row(client, "watchdog")
    assert row is not None and row.beats == 1


def test_a_resolved_watchdog_is_no_beat_and_opens_nothing(client: TestClient) -> None:
    """Resolved, the Watchdog says its sender stopped: the silence that follows is what counts."""
    answer = client.post(WEBHOOK, json=watchdog("resolved"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["incidents"] == []
    assert heartbeat_row(client, "watchdog") is None
    assert counts(client) == (0, 0)


def test_without_heartbeats_a_watchdog_is_an_alert_like_any_other(
    client: TestClient, rules_dir: Path
) -> None:
    reload_heartbeats(client, rules_dir, "")

    answer = client.post(WEBHOOK, json=watchdog())

    (incident_id,) = answer.json()["incidents"]
    with db_of(client).session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.type == "unclassified"
    assert heartbeat_row(client, "watchdog") is None


@pytest.fixture
def heartbeat_table_gone(client: TestClient) -> Iterator[None]:
    """The beats cannot be stored (the table is renamed away) until the test ends."""
    with db_of(client).session(write=True) as session:
        session.execute(text("ALTER TABLE heartbeat RENAME TO heartbeat_away"))
    yield
    with db_of(client).session(write=True) as session:
        session.execute(text("ALTER TABLE heartbeat_away RENAME TO heartbeat"))


def test_a_beat_that_cannot_be_stored_is_a_503_and_stores_nothing_else(
    client: TestClient, heartbeat_table_gone: None
) -> None:
    """Alertmanager retries a 503 with the whole body: nothing of it may be half taken."""
    answer = client.post(WEBHOOK, json=with_accuracy_drop(watchdog()))

    assert answer.status_code == 503
    assert answer.json()["error"] == "unavailable"
    assert counts(client) == (0, 0)
