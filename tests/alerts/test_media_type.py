"""Only JSON is taken: what a browser may post across origins without a preflight (text/plain,
forms, multipart) is refused, so no web page can open incidents when the token is unset."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import Database
from app.models import Alert
from tests.support import list_incidents, load_fixture_requests, metric

URL = "/webhooks/alertmanager"


def body() -> bytes:
    return json.dumps(load_fixture_requests()[0]["body"]).encode()


def alert_rows(client: TestClient) -> int:
    db: Database = client.app.state.runtime.db  # type: ignore[attr-defined]
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Alert)) or 0)


@pytest.mark.parametrize(
    "request_args",
    [
        {"content": body(), "headers": {"content-type": "text/plain"}},
        {"content": body(), "headers": {"content-type": "text/plain;charset=UTF-8"}},
        {"data": {"version": "4"}},  # application/x-www-form-urlencoded
        {"files": {"body": ("alerts.json", body(), "application/json")}},  # multipart/form-data
        {"content": body()},  # no content type at all
        {"content": body(), "headers": {"content-type": "application/problem+json"}},
        {"content": body(), "headers": {"content-type": "application/jsonx"}},
    ],
    ids=["text", "text-charset", "form", "multipart", "none", "plus-json", "jsonx"],
)
def test_anything_but_json_is_415_and_stores_nothing(
    client: TestClient, request_args: dict[str, Any]
) -> None:
    refused = metric(client, "bridge_webhook_requests_total", source="alertmanager", code="415")
    response = client.post(URL, **request_args)
    assert response.status_code == 415, response.text
    answer = response.json()
    assert answer["error"] == "unsupported_media_type"
    assert "application/json" in answer["detail"]
    assert list_incidents(client)["total"] == 0
    assert alert_rows(client) == 0
    assert metric(client, "bridge_webhook_requests_total", source="alertmanager", code="415") == refused + 1


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON ;charset=UTF-8"]
)
def test_json_with_or_without_parameters_is_taken(client: TestClient, content_type: str) -> None:
    response = client.post(URL, content=body(), headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert list_incidents(client)["total"] == 1
