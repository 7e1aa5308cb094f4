"""Concurrent deliveries of one alert group, to one process or to two replicas sharing PostgreSQL.

Alertmanager retries, HA pairs and load balancers deliver the same notification many times and
in parallel; whatever the interleaving, the bridge must keep one incident per key, one alert row
per fingerprint, and count every delivery.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from app.alerts.schemas import labelset_fingerprint
from tests.e2e.conftest import Bridge
from tests.support import load_fixture_requests, metric_value

pytestmark = pytest.mark.e2e

DELIVERIES = 50
KEY = 'accuracy-drop:{alertname="ModelAccuracyDrop",model="fraud-scorer"}'


def accuracy_drop_body() -> dict[str, Any]:
    """The second captured webhook: two ModelAccuracyDrop alerts for fraud-scorer."""
    body: dict[str, Any] = load_fixture_requests()[1]["body"]
    assert [a["labels"]["alertname"] for a in body["alerts"]] == ["ModelAccuracyDrop"] * 2
    assert {a["labels"]["model"] for a in body["alerts"]} == {"fraud-scorer"}
    return body


def deliver_concurrently(bridges: list[Bridge], bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST each body to the bridges in turn, all requests released at the same moment."""
    barrier = threading.Barrier(len(bodies))
    clients = [httpx.Client(base_url=bridges[i % len(bridges)].url, timeout=60.0) for i in range(len(bodies))]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bridges[0].token}"}
    payloads = [json.dumps(body).encode() for body in bodies]

    def send(i: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return clients[i].post("/webhooks/alertmanager", content=payloads[i], headers=headers)

    try:
        with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
            return list(pool.map(send, range(len(bodies))))
    finally:
        for client in clients:
            client.close()


def summed(bridges: list[Bridge], sample: str, **labels: str) -> float:
    return sum(metric_value(b.metrics(), sample, **labels) for b in bridges)


def check_identical_deliveries(bridges: list[Bridge]) -> None:
    body = accuracy_drop_body()
    responses = deliver_concurrently(bridges, [body] * DELIVERIES)

    assert [r.status_code for r in responses] == [200] * DELIVERIES, [r.text for r in responses]
    answers = [r.json() for r in responses]
    assert all(a["status"] == "accepted" and a["alerts"] == 2 for a in answers)
    assert len({tuple(a["incidents"]) for a in answers}) == 1
    (incident_id,) = answers[0]["incidents"]

    page = bridges[0].page()
    assert page["total"] == 1
    incident = page["items"][0]
    assert incident["id"] == incident_id
    assert incident["key"] == KEY
    assert incident["status"] == "triggered"
    assert incident["alert_count"] == 2
    assert incident["firing_count"] == 2
    detail = bridges[-1].incident(incident_id)
    assert sorted(a["fingerprint"] for a in detail["alerts"]) == sorted(
        a["fingerprint"] for a in body["alerts"]
    )
    assert [a["receive_count"] for a in detail["alerts"]] == [DELIVERIES, DELIVERIES]
    timeline = [e["kind"] for e in detail["timeline"]]
    assert timeline.count("opened") == 1
    assert timeline.count("alert_added") == 2

    # Every process answered only after its commit and counted before answering.
    assert summed(bridges, "bridge_alerts_received_total", status="firing") == 2 * DELIVERIES
    assert summed(bridges, "bridge_alerts_received_total") == 2 * DELIVERIES
    assert summed(bridges, "bridge_incidents_opened_total") == 1
    assert summed(bridges, "bridge_alerts_deduplicated_total", reason="grouped") == 1
    assert summed(bridges, "bridge_alerts_deduplicated_total", reason="duplicate") == 2 * DELIVERIES - 2
    if len(bridges) > 1:
        # Both replicas took part (the deliveries alternate between them).
        assert all(metric_value(b.metrics(), "bridge_alerts_received_total") > 0 for b in bridges)


def test_identical_deliveries_to_two_replicas(
    start_bridge: Callable[[str], Bridge], pg_database_url: str
) -> None:
    first = start_bridge(pg_database_url)  # migrates the new database
    second = start_bridge(pg_database_url)
    check_identical_deliveries([first, second])


def test_distinct_alerts_of_one_key_to_two_replicas(
    start_bridge: Callable[[str], Bridge], pg_database_url: str
) -> None:
    bridges = [start_bridge(pg_database_url), start_bridge(pg_database_url)]
    template = accuracy_drop_body()
    bodies = []
    for n in range(DELIVERIES):
        body = copy.deepcopy(template)
        alert = body["alerts"][0]
        alert["labels"]["instance"] = f"replica-{n:02d}"
        alert["fingerprint"] = labelset_fingerprint(alert["labels"])
        body["alerts"] = [alert]
        body["commonLabels"] = dict(alert["labels"])
        bodies.append(body)

    responses = deliver_concurrently(bridges, bodies)

    assert [r.status_code for r in responses] == [200] * DELIVERIES, [r.text for r in responses]
    assert len({tuple(r.json()["incidents"]) for r in responses}) == 1
    page = bridges[1].page()
    assert page["total"] == 1
    incident = page["items"][0]
    assert incident["key"] == KEY
    assert incident["alert_count"] == DELIVERIES
    assert incident["firing_count"] == DELIVERIES
    detail = bridges[0].incident(incident["id"])
    assert len(detail["alerts"]) == DELIVERIES
    assert sorted(a["fingerprint"] for a in detail["alerts"]) == sorted(
        b["alerts"][0]["fingerprint"] for b in bodies
    )
    assert {a["receive_count"] for a in detail["alerts"]} == {1}
    timeline = [e["kind"] for e in detail["timeline"]]
    assert timeline.count("opened") == 1
    assert timeline.count("alert_added") == DELIVERIES
    assert summed(bridges, "bridge_alerts_received_total") == DELIVERIES
    assert summed(bridges, "bridge_incidents_opened_total") == 1
    assert summed(bridges, "bridge_alerts_deduplicated_total", reason="grouped") == DELIVERIES - 1
    assert summed(bridges, "bridge_alerts_deduplicated_total", reason="duplicate") == 0


def test_identical_deliveries_to_one_process_on_sqlite(
    start_bridge: Callable[[str], Bridge], fresh_database: Callable[[str], str]
) -> None:
    check_identical_deliveries([start_bridge(fresh_database("sqlite"))])
