"""POST /heartbeats/{name}: checked as the webhooks are, committed before 200; unknown names are
404; GET /api/v1/heartbeats lists them. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.config import Settings
from app.db import utcnow
from app.flows import heartbeats as flows
from app.main import create_app
from app.models import Heartbeat
from tests.heartbeats.conftest import catalog_of, heartbeat_row
from tests.paging.conftest import db_of

WEBHOOK_TOKEN = "heartbeat-webhook-token"
API_TOKEN = "heartbeat-api-token"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def guarded(heartbeat_settings: Settings) -> Iterator[TestClient]:
    """The app with both tokens set."""
    configured = heartbeat_settings.model_copy(
        update={"webhook_token": WEBHOOK_TOKEN, "api_token": API_TOKEN}
    )
    with TestClient(create_app(configured)) as test_client:
        yield test_client


def rows(client: TestClient) -> int:
    with db_of(client).session() as session:
        return session.scalar(select(func.count()).select_from(Heartbeat)) or 0


def test_a_beat_is_stored_before_the_answer(client: TestClient) -> None:
    before = utcnow()
    answer = client.post("/heartbeats/watchdog", headers=JSON)
    after = utcnow()

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "accepted"
    assert body["heartbeat"]["name"] == "watchdog"
    assert body["heartbeat"]["beats"] == 1 and body["heartbeat"]["silent"] is False
    row = heartbeat_row(client, "watchdog")  # read in a session of its own: committed
    assert row is not None and row.last_beat_at is not None
    assert before <= row.last_beat_at <= after
    assert row.beats == 1

    again = client.post("/heartbeats/watchdog", headers=JSON, json={"anything": "is ignored"})
    assert again.status_code == 200
    row = heartbeat_row(client, "watchdog")
    assert row is not None and row.beats == 2


def test_an_unknown_heartbeat_is_404_and_stores_nothing(client: TestClient) -> None:
    answer = client.post("/heartbeats/nightly-batch", headers=JSON)

    assert answer.status_code == 404
    assert answer.json() == {
        "error": "not_found",
        "detail": "no heartbeat named 'nightly-batch' is declared in the rules directory",
    }
    assert rows(client) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic " + base64.b64encode(b"am:wrong-token").decode()},
        {"Authorization": f"Token {WEBHOOK_TOKEN}"},
        {"Authorization": f"Bearer {API_TOKEN}"},  # the API's token is not the webhooks'
    ],
    ids=["none", "wrong-bearer", "wrong-basic", "unknown-scheme", "api-token"],
)
def test_a_beat_without_the_webhook_token_is_401(guarded: TestClient, headers: dict[str, str]) -> None:
    answer = guarded.post("/heartbeats/watchdog", headers={**JSON, **headers})

    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"
    assert WEBHOOK_TOKEN not in answer.text
    assert rows(guarded) == 0


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {WEBHOOK_TOKEN}", "Basic " + base64.b64encode(f"cron:{WEBHOOK_TOKEN}".encode()).decode()],
    ids=["bearer", "basic"],
)
def test_a_beat_with_the_webhook_token_is_taken(guarded: TestClient, authorization: str) -> None:
    answer = guarded.post("/heartbeats/watchdog", headers={**JSON, "Authorization": authorization})

    assert answer.status_code == 200, answer.text
    row = heartbeat_row(guarded, "watchdog")
    assert row is not None and row.beats == 1


def test_unknown_names_are_only_told_to_authenticated_senders(guarded: TestClient) -> None:
    assert guarded.post("/heartbeats/nightly-batch", headers=JSON).status_code == 401


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_beat_a_browser_could_send_is_refused(client: TestClient, content_type: str | None) -> None:
    """A web page can post forms and text across origins without asking: such a beat could hide a
    silence, so a beat must be JSON, as a webhook must."""
    headers = {"Content-Type": content_type} if content_type else {}
    answer = client.post("/heartbeats/watchdog", headers=headers, content=b"")

    assert answer.status_code == 415
    assert answer.json()["error"] == "unsupported_media_type"
    assert rows(client) == 0


def test_the_api_lists_the_heartbeats(guarded: TestClient) -> None:
    assert guarded.get("/api/v1/heartbeats").status_code == 401
    token = {"Authorization": f"Bearer {API_TOKEN}"}
    (item,) = guarded.get("/api/v1/heartbeats", headers=token).json()["items"]
    assert item["name"] == "watchdog"
    assert (item["last_beat_at"], item["beats"], item["silent"], item["incident_id"]) == (
        None,
        0,
        False,
        None,
    )
    assert item["matchers"] == ['alertname="Watchdog"']
    assert item["interval_seconds"] == 3600.0
    assert (item["severity"], item["escalation_policy"]) == ("SEV2", None)

    beat = {**JSON, "Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    assert guarded.post("/heartbeats/watchdog", headers=beat).status_code == 200
    listed = guarded.get("/api/v1/heartbeats", headers=token).json()
    assert listed["total"] == 1
    assert listed["items"][0]["beats"] == 1
    assert listed["items"][0]["last_beat_at"] is not None


def test_the_api_says_which_heartbeat_is_silent(client: TestClient) -> None:
    flows.beat(db_of(client), catalog_of(client), "watchdog", utcnow() - timedelta(hours=2))

    (item,) = client.get("/api/v1/heartbeats").json()["items"]
    assert item["silent"] is True
