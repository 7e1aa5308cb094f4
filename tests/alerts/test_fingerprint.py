"""An alert is identified by its labels, as Alertmanager identifies it; the sent fingerprint is
only data. A sender cannot move one model's alert onto another's incident, nor resolve it."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.alerts.schemas import AlertmanagerWebhook, from_alertmanager, labelset_fingerprint
from app.db import Database
from app.models import Alert
from tests.support import list_incidents, load_fixture_requests, metric

URL = "/webhooks/alertmanager"
MISMATCHES = "bridge_alerts_fingerprint_mismatch_total"


def test_reproduces_every_fingerprint_alertmanager_computed() -> None:
    sent = [(a["labels"], a["fingerprint"]) for r in load_fixture_requests() for a in r["body"]["alerts"]]
    assert len({fp for _, fp in sent}) == 3  # three distinct series in the capture
    assert [labelset_fingerprint(labels) for labels, _ in sent] == [fp for _, fp in sent]


def test_fingerprint_does_not_depend_on_the_order_of_the_labels() -> None:
    labels = load_fixture_requests()[0]["body"]["alerts"][0]["labels"]
    reversed_labels = dict(reversed(list(labels.items())))
    assert list(reversed_labels) != list(labels)
    assert labelset_fingerprint(reversed_labels) == labelset_fingerprint(labels) == "a47d95dceb4671a0"


def test_empty_label_set_is_the_fnv_offset_basis() -> None:
    assert labelset_fingerprint({}) == "cbf29ce484222325"  # Prometheus' emptyLabelSignature


def test_a_value_cannot_pose_as_a_name() -> None:
    # The separator byte keeps {"a": "b"} and {"ab": ""} apart.
    assert labelset_fingerprint({"a": "b"}) != labelset_fingerprint({"ab": ""})


def test_large_label_sets_are_computed_each_time_and_stay_right() -> None:
    labels = {"alertname": "Big", "description": "x" * 5000}
    first = labelset_fingerprint(labels)
    assert labelset_fingerprint(dict(labels)) == first
    assert labelset_fingerprint({**labels, "description": "x" * 4999 + "y"}) != first


def test_the_stored_identity_is_computed_and_the_sent_fingerprint_kept() -> None:
    body = copy.deepcopy(load_fixture_requests()[0]["body"])
    body["alerts"][0]["fingerprint"] = "0000000000000001"
    [alert] = from_alertmanager(AlertmanagerWebhook.model_validate(body))
    assert alert.fingerprint == "a47d95dceb4671a0"
    assert alert.sent_fingerprint == "0000000000000001"


def accuracy_drop(model: str, fingerprint: str, status: str = "firing") -> dict[str, Any]:
    """A real captured notification, narrowed to one alert about `model`."""
    body = copy.deepcopy(load_fixture_requests()[1 if status == "firing" else 2]["body"])
    alert = body["alerts"][0]
    alert["labels"]["model"] = model
    alert["fingerprint"] = fingerprint
    body["alerts"] = [alert]
    body["commonLabels"] = dict(alert["labels"])
    body["groupLabels"] = {"alertname": "ModelAccuracyDrop", "model": model}
    return body


def stored_fingerprints(client: TestClient) -> dict[str, str]:
    db: Database = client.app.state.runtime.db  # type: ignore[attr-defined]
    with db.session() as session:
        return {a.labels["model"]: a.fingerprint for a in session.scalars(select(Alert))}


def test_one_sent_fingerprint_for_two_models_opens_two_incidents(client: TestClient) -> None:
    fc_a = accuracy_drop("fc-a", "")["alerts"][0]["labels"]
    x = labelset_fingerprint(fc_a)  # the true fingerprint of fc-a's alert
    mismatches = metric(client, MISMATCHES)

    assert client.post(URL, json=accuracy_drop("fc-a", x)).status_code == 200
    assert metric(client, MISMATCHES) == mismatches  # fc-a's own: no mismatch
    assert client.post(URL, json=accuracy_drop("fc-b", x)).status_code == 200
    assert metric(client, MISMATCHES) == mismatches + 1

    opened = list_incidents(client, status="open")
    assert sorted(i["model"] for i in opened["items"]) == ["fc-a", "fc-b"]
    assert all(i["alert_count"] == 1 for i in opened["items"])
    fc_b = accuracy_drop("fc-b", "")["alerts"][0]["labels"]
    assert stored_fingerprints(client) == {"fc-a": x, "fc-b": labelset_fingerprint(fc_b)}

    # X with fc-b's labels resolves fc-b's incident only.
    resolve = client.post(URL, json=accuracy_drop("fc-b", x, status="resolved"))
    assert resolve.status_code == 200
    assert metric(client, MISMATCHES) == mismatches + 2
    still_open = list_incidents(client, status="open")["items"]
    assert [i["model"] for i in still_open] == ["fc-a"]
    resolved = list_incidents(client, status="resolved")["items"]
    assert [i["model"] for i in resolved] == ["fc-b"]
    assert resolve.json()["incidents"] == [resolved[0]["id"]]
