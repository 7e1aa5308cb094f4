"""The webhook's OpenAPI description: its body, every answer, its security. The body is still read
by the endpoint itself, not parsed by FastAPI."""

from __future__ import annotations

from typing import Any

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from app.api import webhooks
from tests.support import load_fixture_requests

URL = "/webhooks/alertmanager"
STATUSES = ["200", "400", "401", "408", "413", "415", "422", "500", "503"]


def operation(client: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document, document["paths"][URL]["post"]


def test_request_body_is_the_alertmanager_webhook_with_a_captured_example(client: TestClient) -> None:
    _, op = operation(client)
    body = op["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == ["application/json"]
    media = body["content"]["application/json"]
    schema = media["schema"]
    assert schema["title"] == "AlertmanagerWebhook"
    assert set(schema["required"]) == {"version", "status", "alerts"}
    alert = schema["properties"]["alerts"]["items"]
    assert alert["title"] == "AmAlert"
    assert set(alert["required"]) == {"status", "labels", "startsAt"}
    assert "$ref" not in str(schema)  # self-contained: nothing points at an undefined component
    assert media["example"] == load_fixture_requests()[0]["body"]


def test_every_answer_is_documented_with_its_body(client: TestClient) -> None:
    document, op = operation(client)
    responses = op["responses"]
    assert sorted(responses) == STATUSES
    assert responses["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WebhookAccepted"
    }
    for status in STATUSES[1:]:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, status
        assert responses[status]["description"]
    error = document["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error", "detail"]
    assert error["properties"]["error"]["type"] == "string"
    assert error["properties"]["detail"]["type"] == "string"
    assert error["properties"]["errors"]["type"] == "array"  # present or absent, never null
    accepted = document["components"]["schemas"]["WebhookAccepted"]
    assert set(accepted["required"]) == {"status", "alerts", "incidents"}


def test_security_is_a_bearer_token_or_basic_auth(client: TestClient) -> None:
    document, op = operation(client)
    assert op["security"] == [{"webhookBearer": []}, {"webhookBasic": []}]
    schemes = document["components"]["securitySchemes"]
    assert schemes["webhookBearer"]["type"] == "http"
    assert schemes["webhookBearer"]["scheme"] == "bearer"
    assert schemes["webhookBasic"]["scheme"] == "basic"


def test_the_serving_route_resolves_nothing_per_request(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app serves the path ahead of its router; the router's one route only documents it.
    (documenting,) = [r for r in webhooks.router.routes if isinstance(r, Route) and r.path == URL]
    assert isinstance(documenting, APIRoute)
    assert documenting.include_in_schema and documenting.body_field is None

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("FastAPI's request handling ran")

    monkeypatch.setattr(webhooks._DocumentedBearer, "__call__", never)
    monkeypatch.setattr(webhooks._DocumentedBasic, "__call__", never)
    monkeypatch.setattr(fastapi.routing, "solve_dependencies", never)
    response = client.post(URL, json=load_fixture_requests()[0]["body"])
    assert response.status_code == 200, response.text
