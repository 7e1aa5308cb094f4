"""The intake writer does not ping its connection before each batch. A connection the server
closed is seen before use (its socket is readable) and replaced; one lost after that look (the
server restarted, a proxy dropped it) fails its batch, which is retried on a new connection.
Neither is answered 5xx."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from app import connections
from tests.conftest import is_postgres
from tests.support import drop_other_connections, load_fixture_requests

URL = "/webhooks/alertmanager"


def _post_after_drop(client: TestClient, database_url: str) -> int:
    first, second = (r["body"] for r in load_fixture_requests()[:2])
    assert client.post(URL, json=first).status_code == 200  # the writer's connection is pooled now
    assert drop_other_connections(database_url) >= 1
    response = client.post(URL, json=second)
    assert response.status_code == 200, response.text
    stored = client.get("/api/v1/incidents").json()
    return int(stored["total"])


def test_a_closed_intake_connection_is_replaced_before_use(
    client: TestClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if not is_postgres(database_url):
        pytest.skip("SQLite has no connection to lose")
    with caplog.at_level(logging.INFO, logger="app.alerts.writer"):
        assert _post_after_drop(client, database_url) >= 1
    assert not any("lost its database connection" in r.getMessage() for r in caplog.records)


def test_a_lost_intake_connection_is_replaced_and_the_webhook_stored(
    client: TestClient, database_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not is_postgres(database_url):
        pytest.skip("SQLite has no connection to lose")
    # Lost after the look before use: the batch fails on it and is retried on a new connection.
    looked: list[object] = []
    real = connections.readable

    def misses_once(connection: object) -> bool:
        looked.append(connection)
        return False if len(looked) == 1 else real(connection)

    monkeypatch.setattr(connections, "readable", misses_once)
    with caplog.at_level(logging.INFO, logger="app.alerts.writer"):
        assert _post_after_drop(client, database_url) >= 1
    assert any("lost its database connection" in r.getMessage() for r in caplog.records)
