"""Time to resolve beside time to acknowledge: a person's acknowledge is observed at once in
bridge_time_to_acknowledge_seconds; a resolve shows in bridge_time_to_resolve_seconds (computed
from the database, so every replica and a restarted process agree), in the same buckets."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from app.models import Incident
from app.stats import metrics as stats_metrics
from tests.metrics.conftest import samples
from tests.paging.conftest import alert_body, db_of, fire_one
from tests.support import incident_detail, metric_value

TTA = "bridge_time_to_acknowledge_seconds"
TTR = "bridge_time_to_resolve_seconds"


def opened_ago(client: TestClient, incident_id: int, seconds: int) -> None:
    """Move the incident's opening back, as if it had been open that long."""
    with db_of(client).session(write=True) as session:
        detail = session.get(Incident, incident_id)
        assert detail is not None
        session.execute(
            update(Incident)
            .where(Incident.id == incident_id)
            .values(opened_at=detail.opened_at - timedelta(seconds=seconds))
        )


def scrape(client: TestClient) -> str:
    stats_metrics.HISTOGRAMS.forget()  # cached 30 s: read the database now
    return client.get("/metrics").text


def test_resolve_is_observed_in_its_bucket(client: TestClient) -> None:
    incident_id = fire_one(client, alert_body("ModelAccuracyDrop", "fraud-scorer", "critical"))
    detail = incident_detail(client, incident_id)
    kind = {"type": detail["type"], "severity": detail["severity"]}
    opened_ago(client, incident_id, 400)  # acknowledged after 400 s, resolved after 400 s and more
    before = scrape(client)
    assert metric_value(before, f"{TTR}_count", **kind) == 0
    acked_before = metric_value(before, f"{TTA}_count", **kind)

    response = client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "alice"})
    assert response.status_code == 200, response.text
    acked = scrape(client)
    assert metric_value(acked, f"{TTA}_count", **kind) == acked_before + 1
    assert metric_value(acked, f"{TTR}_count", **kind) == 0

    response = client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "alice"})
    assert response.status_code == 200, response.text
    resolved = scrape(client)
    assert metric_value(resolved, f"{TTR}_count", **kind) == 1
    assert metric_value(resolved, f"{TTR}_bucket", le="300.0", **kind) == 0
    assert metric_value(resolved, f"{TTR}_bucket", le="600.0", **kind) == 1
    assert 400 <= metric_value(resolved, f"{TTR}_sum", **kind) < 600
    other = {**kind, "severity": "SEV4" if kind["severity"] != "SEV4" else "SEV1"}
    assert metric_value(resolved, f"{TTR}_count", **other) == 0  # there, at 0


def test_the_two_histograms_share_their_buckets(client: TestClient) -> None:
    text = client.get("/metrics").text
    kind = {"type": "safety", "severity": "SEV1"}

    def bounds(name: str) -> list[str]:
        return [
            labels["le"]
            for sample, labels, _ in samples(text)
            if sample == f"{name}_bucket" and kind.items() <= labels.items()
        ]

    assert bounds(TTA) == bounds(TTR)
    assert bounds(TTR)[:4] == ["30.0", "60.0", "120.0", "300.0"] and bounds(TTR)[-1] == "+Inf"
