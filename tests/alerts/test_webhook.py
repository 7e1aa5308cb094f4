"""The Alertmanager webhook over HTTP: status codes, auth, idempotence, limits."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.cli import migrate
from app.config import Settings
from app.main import create_app
from app.models import Alert
from tests.support import (
    PG_SERVER_URL,
    PgServer,
    list_incidents,
    load_fixture_requests,
    metric,
    require_postgres,
)

URL = "/webhooks/alertmanager"


def bodies() -> list[dict[str, Any]]:
    return [r["body"] for r in load_fixture_requests()]


def test_fixture_sequence_opens_groups_and_resolves(client: TestClient) -> None:
    firing_drift, firing_accuracy, resolved_accuracy, resolved_drift = bodies()

    first = client.post(URL, json=firing_drift)
    assert first.status_code == 200
    assert first.json()["alerts"] == 1
    second = client.post(URL, json=firing_accuracy)
    assert second.status_code == 200
    listed = list_incidents(client, status="open")
    assert listed["total"] == 2
    accuracy = next(i for i in listed["items"] if i["model"] == "fraud-scorer")
    assert accuracy["type"] == "performance_degradation"
    assert accuracy["severity"] == "SEV2"
    assert accuracy["alert_count"] == 2
    assert accuracy["runbook"]["id"] == "model-performance-degradation"
    assert accuracy["runbook"]["url"] == "http://bridge.test/runbooks/model-performance-degradation"
    assert second.json()["incidents"] == [accuracy["id"]]

    assert client.post(URL, json=resolved_accuracy).status_code == 200
    detail = client.get(f"/api/v1/incidents/{accuracy['id']}").json()
    assert detail["status"] == "resolved"
    assert detail["resolved_by"] == "alertmanager"
    assert detail["acknowledged_at"] is None
    assert {a["status"] for a in detail["alerts"]} == {"resolved"}
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[0] == "opened"
    assert kinds.count("alert_resolved") == 2
    assert kinds[-2:] == ["resolved", "review_started"]  # a SEV2 needs a post-incident review

    assert client.post(URL, json=resolved_drift).status_code == 200
    assert list_incidents(client, status="open")["total"] == 0
    assert list_incidents(client, status="resolved")["total"] == 2


def test_retries_and_ha_duplicates_change_only_last_seen(client: TestClient) -> None:
    body = bodies()[1]
    before = metric(client, "bridge_alerts_deduplicated_total", reason="duplicate")
    for _ in range(5):
        assert client.post(URL, json=body).status_code == 200
    listed = list_incidents(client)
    assert listed["total"] == 1
    incident = listed["items"][0]
    assert incident["alert_count"] == 2
    detail = client.get(f"/api/v1/incidents/{incident['id']}").json()
    assert [a["receive_count"] for a in detail["alerts"]] == [5, 5]
    assert [e["kind"] for e in detail["timeline"]].count("alert_added") == 2
    assert metric(client, "bridge_alerts_deduplicated_total", reason="duplicate") - before == 8


def test_endsat_before_startsat_is_accepted(client: TestClient) -> None:
    body = bodies()[2]  # a real capture: endsAt earlier than the firing startsAt
    received = metric(client, "bridge_alerts_received_total", source="alertmanager", status="resolved")
    response = client.post(URL, json=body)
    assert response.status_code == 200
    # A resolve for alerts never seen firing opens nothing and is still kept.
    assert list_incidents(client)["total"] == 0
    assert response.json()["incidents"] == []
    db = client.app.state.runtime.db  # type: ignore[attr-defined]
    with db.session() as session:
        kept = session.scalars(select(Alert).order_by(Alert.fingerprint)).all()
        stored = [(a.incident_id, a.fingerprint, a.status, a.receive_count) for a in kept]
    assert stored == sorted((None, alert["fingerprint"], "resolved", 1) for alert in body["alerts"])
    after = metric(client, "bridge_alerts_received_total", source="alertmanager", status="resolved")
    assert after - received == len(body["alerts"]) == 2


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"", 400, "malformed_json"),
        (b"[]", 422, "invalid_payload"),
        (b'{"version": "4"}', 422, "invalid_payload"),
    ],
)
def test_malformed_bodies_store_nothing(client: TestClient, raw: bytes, status: int, error: str) -> None:
    response = client.post(URL, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["error"] == error
    assert list_incidents(client)["total"] == 0


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(version="3"),
        lambda b: b["alerts"][0].update(status="pending"),
        lambda b: b["alerts"][0].update(startsAt="yesterday"),
        lambda b: b["alerts"][0].update(startsAt="2026-11-27T05:06:00"),  # no time zone
        lambda b: b["alerts"][0].update(labels={"alertname": 5}),
        lambda b: b["alerts"][0].pop("labels"),
    ],
)
def test_wrong_shape_is_422_and_nothing_of_the_batch_is_stored(client: TestClient, mutate: Any) -> None:
    body = copy.deepcopy(bodies()[1])
    mutate(body)
    response = client.post(URL, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
    assert list_incidents(client)["total"] == 0


def test_unknown_fields_from_newer_alertmanagers_are_tolerated(client: TestClient) -> None:
    body = copy.deepcopy(bodies()[0])
    body["notification_reason"] = "new"
    body["routeLabels"] = {"team": "risk-ml"}
    body["alerts"][0]["silencedBy"] = []
    assert client.post(URL, json=body).status_code == 200
    assert list_incidents(client)["total"] == 1


def test_alert_without_a_matching_rule_opens_an_unclassified_incident(client: TestClient) -> None:
    body = copy.deepcopy(bodies()[0])
    body["alerts"][0]["labels"] = {"alertname": "DiskFull", "severity": "critical"}
    body["alerts"][0]["fingerprint"] = "0000000000000001"
    assert client.post(URL, json=body).status_code == 200
    item = list_incidents(client)["items"][0]
    assert item["type"] == "unclassified"
    assert item["severity"] == "SEV2"
    assert item["model"] is None
    # No rule names a runbook: the library's triage runbook comes before the alert's own URL.
    runbook = item["runbook"]
    assert (runbook["id"], runbook["reason"]) == ("unclassified-alert", "written for unclassified incidents")
    assert runbook["url"].endswith("/runbooks/unclassified-alert") and len(runbook["revision"]) == 12


def _settings_with(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


def test_webhook_token_bearer_and_basic(settings: Settings) -> None:
    app = create_app(_settings_with(settings, webhook_token="am-secret-token"))
    body = bodies()[0]
    with TestClient(app) as client:
        assert client.post(URL, json=body).status_code == 401
        wrong = client.post(URL, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
        assert list_incidents(client)["total"] == 0
        fixture_headers = load_fixture_requests()[0]["headers"]
        ok = client.post(URL, json=body, headers={"Authorization": fixture_headers["Authorization"]})
        assert ok.status_code == 200
        basic = base64.b64encode(b"alertmanager:am-secret-token").decode()
        assert client.post(URL, json=body, headers={"Authorization": f"Basic {basic}"}).status_code == 200
        bad_basic = base64.b64encode(b"alertmanager:wrong").decode()
        response = client.post(URL, json=body, headers={"Authorization": f"Basic {bad_basic}"})
        assert response.status_code == 401


def test_body_over_the_limit_is_413(settings: Settings) -> None:
    app = create_app(_settings_with(settings, max_body_bytes=2048))
    body = copy.deepcopy(bodies()[1])
    with TestClient(app) as client:
        assert client.post(URL, json=body).status_code == 200
        body["alerts"][0]["annotations"]["description"] = "x" * 4096
        response = client.post(URL, content=json.dumps(body), headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"

        def chunks() -> Any:  # no Content-Length: the limit holds while streaming
            data = json.dumps(body).encode()
            for i in range(0, len(data), 512):
                yield data[i : i + 512]

        response = client.post(URL, content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_database_failure_answers_503_so_alertmanager_retries(
    kind: str, settings: Settings, tmp_path: Path, pg_server: PgServer | None
) -> None:
    # A database of its own: this test breaks it on purpose.
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'broken.db'}"
    else:
        require_postgres(PG_SERVER_URL)
        assert pg_server is not None
        url = pg_server.create()
    migrate(url)
    with TestClient(create_app(settings.model_copy(update={"database_url": url}))) as client:
        db = client.app.state.runtime.db  # type: ignore[attr-defined]
        with db.writer.begin() as conn:
            conn.exec_driver_sql("DROP TABLE incident_event")
        response = client.post(URL, json=bodies()[0])
        assert response.status_code == 503
        assert response.json()["error"] == "unavailable"
