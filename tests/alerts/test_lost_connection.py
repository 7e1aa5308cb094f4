"""The intake writer does not ping its connection before each batch: a batch whose connection
was lost (the server restarted, a proxy dropped it) is retried on a new one, never answered 5xx."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.db import normalize_url
from tests.conftest import is_postgres
from tests.support import load_fixture_requests

URL = "/webhooks/alertmanager"


def _drop_other_connections(database_url: str) -> int:
    """Terminate every server connection to this database but the one asking."""
    engine = create_engine(normalize_url(database_url))
    with engine.begin() as conn:
        dropped = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    engine.dispose()
    return int(dropped)


def test_a_lost_intake_connection_is_replaced_and_the_webhook_stored(
    client: TestClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if not is_postgres(database_url):
        pytest.skip("SQLite has no connection to lose")
    first, second = (r["body"] for r in load_fixture_requests()[:2])
    assert client.post(URL, json=first).status_code == 200  # the writer's connection is pooled now

    assert _drop_other_connections(database_url) >= 1
    with caplog.at_level(logging.INFO, logger="app.alerts.writer"):
        response = client.post(URL, json=second)

    assert response.status_code == 200, response.text
    assert any("lost its database connection" in r.getMessage() for r in caplog.records)
    stored = client.get("/api/v1/incidents").json()
    assert stored["total"] >= 1
