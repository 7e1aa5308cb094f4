"""The signed webhook a ticket tracker calls to close (or reopen) an improvement action:
HMAC-SHA256 of the exact body with the tracker key, in `X-Hub-Signature-256` or
`X-Bridge-Signature`; on both databases."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.cli import print_key
from app.config import Settings
from tests.reviews.conftest import (
    action_of,
    add_action,
    entries,
    patch_action,
    resolved_incident,
    runtime,
)

TRACKER = "ticket tracker"


def sign(key: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def tracker_key(client: TestClient) -> str:
    key: str = runtime(client).keys.trackers
    return key


def call(
    client: TestClient, action_id: int, body: bytes, signature: str | None, header: str = "X-Bridge-Signature"
) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[header] = signature
    return client.post(f"/webhooks/actions/{action_id}", content=body, headers=headers)


@pytest.fixture
def action(review_client: TestClient) -> dict[str, Any]:
    incident = resolved_incident(review_client, severity="SEV2")
    made: dict[str, Any] = add_action(
        review_client, incident["id"], ticket_url="https://github.example/risk-ml/feeds/issues/7"
    )
    return made


def unchanged(client: TestClient, action: dict[str, Any]) -> None:
    now = action_of(client, action["id"])
    assert (now["status"], now["done_at"], now["reason"]) == ("open", None, None)
    assert entries(client, action["incident_id"], "action_updated") == []


def test_a_signed_status_closes_the_action(review_client: TestClient, action: dict[str, Any]) -> None:
    body = orjson.dumps({"status": "done"})

    response = call(review_client, action["id"], body, sign(tracker_key(review_client), body))

    assert response.status_code == 200, response.text
    assert (response.json()["id"], response.json()["status"]) == (action["id"], "done")
    stored = action_of(review_client, action["id"])
    assert stored["status"] == "done"
    assert stored["done_at"] is not None
    (entry,) = entries(review_client, action["incident_id"], "action_updated")
    assert entry["actor"] == TRACKER
    assert entry["data"] == {"action": action["id"], "from": "open", "to": "done"}


def test_a_signed_wont_do_carries_its_reason(review_client: TestClient, action: dict[str, Any]) -> None:
    body = orjson.dumps({"status": "wont_do", "reason": "closed as not planned"})
    response = call(review_client, action["id"], body, sign(tracker_key(review_client), body))
    assert response.status_code == 200, response.text
    stored = action_of(review_client, action["id"])
    assert (stored["status"], stored["reason"]) == ("wont_do", "closed as not planned")

    no_reason = orjson.dumps({"status": "wont_do"})
    other = add_action(review_client, action["incident_id"])
    response = call(review_client, other["id"], no_reason, sign(tracker_key(review_client), no_reason))
    assert response.status_code == 422, response.text
    assert action_of(review_client, other["id"])["status"] == "open"


def test_a_github_closed_event_closes_and_reopened_reopens(
    review_client: TestClient, action: dict[str, Any]
) -> None:
    key = tracker_key(review_client)
    closed = orjson.dumps({"action": "closed", "issue": {"number": 7, "state": "closed"}})

    response = call(review_client, action["id"], closed, sign(key, closed), header="X-Hub-Signature-256")

    assert response.status_code == 200, response.text
    assert action_of(review_client, action["id"])["status"] == "done"
    (entry,) = entries(review_client, action["incident_id"], "action_updated")
    assert entry["actor"] == TRACKER

    reopened = orjson.dumps({"action": "reopened", "issue": {"number": 7, "state": "open"}})
    response = call(review_client, action["id"], reopened, sign(key, reopened), header="X-Hub-Signature-256")
    assert response.status_code == 200, response.text
    stored = action_of(review_client, action["id"])
    assert (stored["status"], stored["done_at"]) == ("open", None)

    # Another GitHub event says nothing about the action.
    labeled = orjson.dumps({"action": "labeled", "issue": {"number": 7}})
    response = call(review_client, action["id"], labeled, sign(key, labeled), header="X-Hub-Signature-256")
    assert response.status_code == 422, response.text
    assert action_of(review_client, action["id"])["status"] == "open"


def test_a_wrong_or_missing_signature_is_401_and_changes_nothing(
    review_client: TestClient, action: dict[str, Any]
) -> None:
    key = tracker_key(review_client)
    body = orjson.dumps({"status": "done"})
    good = sign(key, body)
    wrong = [
        None,
        "",
        "sha256=",
        sign(key + "x", body),
        good.removeprefix("sha256="),  # the hex alone
        "sha1=" + hmac.new(key.encode(), body, hashlib.sha1).hexdigest(),
        good[:-1] + ("0" if good[-1] != "0" else "1"),
        good.upper(),
    ]
    for signature in wrong:
        for header in ("X-Bridge-Signature", "X-Hub-Signature-256"):
            response = call(review_client, action["id"], body, signature, header)
            assert response.status_code == 401, (signature, header, response.text)
            assert response.json()["error"] == "unauthorized"
    unchanged(review_client, action)


def test_a_body_changed_after_signing_is_401(review_client: TestClient, action: dict[str, Any]) -> None:
    key = tracker_key(review_client)
    signed = orjson.dumps({"status": "in_progress"})
    for tampered in (
        orjson.dumps({"status": "done"}),
        signed + b" ",
        orjson.dumps({"status": "in_progress", "reason": "x"}),
    ):
        response = call(review_client, action["id"], tampered, sign(key, signed))
        assert response.status_code == 401, response.text
    unchanged(review_client, action)


def test_an_unknown_action_is_404(review_client: TestClient) -> None:
    body = orjson.dumps({"status": "done"})
    response = call(review_client, 999999, body, sign(tracker_key(review_client), body))
    assert response.status_code == 404, response.text


def test_a_signed_body_that_is_not_a_status_is_refused(
    review_client: TestClient, action: dict[str, Any]
) -> None:
    key = tracker_key(review_client)
    for body, status in (
        (b"not json", 400),
        (b"[1, 2]", 400),
        (orjson.dumps({"status": "finished"}), 422),
    ):
        response = call(review_client, action["id"], body, sign(key, body))
        assert response.status_code == status, (body, response.text)
    unchanged(review_client, action)


def test_the_tracker_key_is_its_own_and_the_cli_prints_it(
    review_client: TestClient,
    review_settings: Settings,
    action: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys = runtime(review_client).keys
    assert keys.trackers
    assert len({keys.trackers, keys.webhooks, keys.links}) == 3
    body = orjson.dumps({"status": "done"})
    for other in (keys.webhooks, keys.links):
        response = call(review_client, action["id"], body, sign(other, body))
        assert response.status_code == 401, response.text
    unchanged(review_client, action)

    assert print_key(review_settings, "trackers") == 0
    printed = capsys.readouterr().out.strip()
    assert printed == keys.trackers
    response = call(review_client, action["id"], body, sign(printed, body))
    assert response.status_code == 200, response.text
    assert action_of(review_client, action["id"])["status"] == "done"


def test_a_person_patch_and_the_tracker_agree(review_client: TestClient, action: dict[str, Any]) -> None:
    """The tracker's `done` after a person's `done` changes nothing and adds no entry."""
    patch_action(review_client, action["id"], status="done", by="alice")
    body = orjson.dumps({"action": "closed"})
    response = call(review_client, action["id"], body, sign(tracker_key(review_client), body))
    assert response.status_code == 200, response.text
    (entry,) = entries(review_client, action["incident_id"], "action_updated")
    assert entry["actor"] == "alice"
