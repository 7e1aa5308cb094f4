"""The incidents API: listing, filters, pagination, acknowledge, resolve, auth, errors."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cli import migrate
from app.config import Settings
from app.main import create_app
from tests.support import (
    BridgeProcess,
    free_port,
    list_incidents,
    load_fixture_requests,
    metric,
    metric_value,
)


def fire(client: TestClient, alertname: str, model: str, fp: str, **labels: str) -> int:
    body = copy.deepcopy(load_fixture_requests()[0]["body"])
    alert = body["alerts"][0]
    alert["labels"] = {"alertname": alertname, "model": model, **labels}
    alert["fingerprint"] = fp
    alert["annotations"] = {"summary": f"{alertname} on {model}"}
    response = client.post("/webhooks/alertmanager", json=body)
    assert response.status_code == 200, response.text
    [incident_id] = response.json()["incidents"]
    assert isinstance(incident_id, int)
    return incident_id


def test_filters_and_pagination(client: TestClient) -> None:
    accuracy = fire(client, "ModelAccuracyDrop", "fraud-scorer", "01")
    fairness = fire(client, "FairnessViolation", "credit-model", "02")
    serving = fire(client, "ModelServingErrors", "fraud-scorer", "03", severity="critical")
    client.post(f"/api/v1/incidents/{serving}/acknowledge", json={"by": "alice"})
    client.post(f"/api/v1/incidents/{accuracy}/resolve", json={"by": "bob"})

    everything = list_incidents(client)
    assert everything["total"] == 3
    assert [i["id"] for i in everything["items"]] == [serving, fairness, accuracy]  # newest first
    assert {i["id"] for i in list_incidents(client, status="open")["items"]} == {fairness, serving}
    assert [i["id"] for i in list_incidents(client, status="acknowledged")["items"]] == [serving]
    assert [i["id"] for i in list_incidents(client, status="resolved")["items"]] == [accuracy]
    assert [i["id"] for i in list_incidents(client, type="fairness_violation")["items"]] == [fairness]
    assert {i["id"] for i in list_incidents(client, model="fraud-scorer")["items"]} == {accuracy, serving}
    # A critical serving outage is SEV1; accuracy is SEV2 too, but resolved.
    assert [i["id"] for i in list_incidents(client, severity="SEV1")["items"]] == [serving]
    assert [i["id"] for i in list_incidents(client, severity="SEV2", status="open")["items"]] == [fairness]
    page = list_incidents(client, limit=1, offset=1)
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == [fairness]
    item = everything["items"][0]
    # No on-call file in these tests: the registry knows no model, so each incident is unowned.
    assert (item["owner"], item["escalation_policy"], item["unowned"]) == (None, None, True)
    for field in (
        "id",
        "key",
        "status",
        "type",
        "severity",
        "title",
        "model",
        "labels",
        "alert_count",
        "runbook",
        "opened_at",
        "acknowledged_at",
        "resolved_at",
    ):
        assert field in item


def test_bad_query_parameters_are_422(client: TestClient) -> None:
    for params in (
        {"status": "sleeping"},
        {"severity": "SEV9"},
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
    ):
        response = client.get("/api/v1/incidents", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"] == "invalid_request"


def test_acknowledge_and_resolve(client: TestClient) -> None:
    incident_id = fire(client, "ModelAccuracyDrop", "fraud-scorer", "01")
    ack = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "alice", "note": "on it"})
    assert ack.status_code == 200
    assert ack.json()["changed"] is True
    assert ack.json()["incident"]["status"] == "acknowledged"
    assert ack.json()["incident"]["acknowledged_by"] == "alice"
    again = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "bob"})
    assert again.status_code == 200 and again.json()["changed"] is False
    assert again.json()["incident"]["acknowledged_by"] == "alice"

    done = client.post(
        f"/api/v1/incidents/{incident_id}/resolve", json={"by": "alice", "note": "rolled back"}
    )
    assert done.json()["incident"]["status"] == "resolved"
    late_ack = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "carol"})
    assert late_ack.status_code == 409
    assert late_ack.json()["error"] == "invalid_transition"

    timeline = client.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]
    assert [(e["kind"], e["actor"]) for e in timeline if e["kind"] in ("acknowledged", "resolved")] == [
        ("acknowledged", "alice"),
        ("resolved", "alice"),
    ]
    assert [e["message"] for e in timeline if e["kind"] == "resolved"] == ["rolled back"]


def test_bad_action_calls_change_nothing(client: TestClient) -> None:
    incident_id = fire(client, "ModelAccuracyDrop", "fraud-scorer", "01")
    assert client.post("/api/v1/incidents/999/acknowledge", json={"by": "a"}).status_code == 404
    assert client.get("/api/v1/incidents/999").status_code == 404
    for body in ({}, {"by": ""}, {"by": "a", "extra": 1}, {"by": 5}):
        response = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json=body)
        assert response.status_code == 422, body
    response = client.post(
        f"/api/v1/incidents/{incident_id}/resolve", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "triggered"


def test_api_token_guards_every_api_call(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"api_token": "s3cret-api-token"}))
    with TestClient(app) as client:
        assert client.get("/api/v1/incidents").status_code == 401
        assert client.get("/api/v1/incidents", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/api/v1/incidents", headers={"Authorization": "Bearer s3cret-api-token"})
        assert ok.status_code == 200
        assert client.post("/-/reload").status_code == 401
        # Health and metrics stay open for probes and scrapers.
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_open_gauge_comes_from_the_database(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    fire(client, "ModelAccuracyDrop", "fraud-scorer", "01")
    churn = fire(client, "ModelAccuracyDrop", "churn-model", "02")
    labels = {"severity": "SEV2", "status": "triggered", "type": "performance_degradation"}
    assert metric(client, "bridge_incidents_open", **labels) == 2

    # Another process on the same database (a restart, another replica) has counted nothing
    # itself: its registry is its own, so what it reports can only come from the database.
    other = BridgeProcess(tmp_path, "other-replica").start(
        {
            "BRIDGE_DATABASE_URL": settings.database_url,
            "BRIDGE_RULES_DIR": str(settings.rules_dir),
            "BRIDGE_RUNBOOKS_DIR": str(settings.runbooks_dir),
            "BRIDGE_RUN_JOBS": "false",
            "BRIDGE_LOG_LEVEL": "warning",
        }
    )
    try:
        assert metric_value(other.metrics(), "bridge_incidents_open", **labels) == 2
        # A change made by the first process shows in the second one's next scrape.
        response = client.post(f"/api/v1/incidents/{churn}/resolve", json={"by": "alice"})
        assert response.status_code == 200, response.text
        assert metric_value(other.metrics(), "bridge_incidents_open", **labels) == 1
    finally:
        other.stop()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_readiness_is_503_when_the_database_is_unreachable(
    kind: str, rules_dir: Path, runbooks_dir: Path, tmp_path: Path
) -> None:
    sqlite_file = tmp_path / "data" / "bridge.db"
    url = {
        "sqlite": f"sqlite:///{sqlite_file}",
        "postgresql": f"postgresql://postgres@127.0.0.1:{free_port()}/bridge",  # nothing listens
    }[kind]
    if kind == "sqlite":
        migrate(url)
    settings = Settings(
        database_url=url,
        rules_dir=rules_dir,
        runbooks_dir=runbooks_dir,
        run_jobs=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    with TestClient(create_app(settings)) as client:
        if kind == "sqlite":  # it was there when the app started; now a directory stands in its place
            assert client.get("/readyz").status_code == 200
            shutil.rmtree(sqlite_file.parent)
            sqlite_file.mkdir(parents=True)
            client.app.state.runtime.db.dispose()  # type: ignore[attr-defined]  # no pooled handle
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200  # alive, but not ready
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["database"].startswith("not writable: ")
    assert body["checks"]["rules"] > 0


def test_reopening_clears_the_previous_acknowledgement(client: TestClient) -> None:
    firing = copy.deepcopy(load_fixture_requests()[0]["body"])  # FeatureDrift on churn-model
    resolved = copy.deepcopy(load_fixture_requests()[3]["body"])  # ... and its resolution
    (incident_id,) = post_webhook(client, firing)
    response = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "alice"})
    assert response.status_code == 200, response.text
    acknowledged = client.get(f"/api/v1/incidents/{incident_id}").json()
    assert (acknowledged["status"], acknowledged["acknowledged_by"]) == ("acknowledged", "alice")
    assert acknowledged["acknowledged_at"] is not None
    assert post_webhook(client, resolved) == [incident_id]
    assert client.get(f"/api/v1/incidents/{incident_id}").json()["status"] == "resolved"

    # The same alert fires again (a new episode, well within the rule's reopen window).
    firing["alerts"][0]["startsAt"] = "2026-11-27T05:30:00.000000000Z"
    assert post_webhook(client, firing) == [incident_id]

    detail = client.get(f"/api/v1/incidents/{incident_id}").json()
    assert (detail["status"], detail["flap_count"]) == ("triggered", 1)
    assert (detail["acknowledged_at"], detail["acknowledged_by"]) == (None, None)
    assert detail["resolved_at"] is None
    assert "reopened" in [event["kind"] for event in detail["timeline"]]
    # Nobody is on it any more: it can be acknowledged afresh, by someone else.
    again = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "bob"})
    assert again.json()["changed"] is True
    assert again.json()["incident"]["acknowledged_by"] == "bob"


def post_webhook(client: TestClient, body: dict[str, Any]) -> list[int]:
    response = client.post("/webhooks/alertmanager", json=body)
    assert response.status_code == 200, response.text
    incidents: list[int] = response.json()["incidents"]
    return incidents


def test_health_readiness_docs_and_runbook_page(client: TestClient) -> None:
    assert client.get("/healthz").text == "ok"
    ready = client.get("/readyz").json()
    assert ready["ready"] is True and ready["checks"]["rules"] > 0
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/webhooks/alertmanager" in spec["paths"]
    page = client.get("/runbooks/model-performance-degradation")
    assert page.status_code == 200 and "Containment" in page.text
    raw = client.get("/runbooks/model-performance-degradation", params={"format": "md"})
    assert raw.headers["content-type"].startswith("text/markdown")
    assert "## Containment" in raw.text and "<html" not in raw.text
    assert client.get("/runbooks/nope").status_code == 404
