"""POST /webhooks/alertmanager is answered ahead of the middleware stack, with what the stack
does for it kept: the request id, errors answered by the app's handlers, bugs logged and counted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from app.alerts.writer import IntakeWriter
from app.api.errors import UNHANDLED
from app.config import Settings
from app.main import create_app
from tests.support import load_fixture_requests

URL = "/webhooks/alertmanager"


class Seen:
    """A middleware that notes the paths it sees."""

    paths: ClassVar[list[str]] = []

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            Seen.paths.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    app.add_middleware(Seen)
    Seen.paths = []
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_the_webhook_skips_the_middleware_stack_and_other_paths_do_not(app_client: TestClient) -> None:
    body = load_fixture_requests()[0]["body"]
    answer = app_client.post(URL, json=body, headers={"X-Request-ID": "abc-123"})
    assert answer.status_code == 200
    assert answer.headers.get_list("x-request-id") == ["abc-123"]
    assert app_client.get("/healthz").status_code == 200
    assert app_client.get(URL).status_code == 405  # not the webhook: the whole stack answers
    assert Seen.paths == ["GET /healthz", f"GET {URL}"]


def test_an_error_is_answered_by_the_apps_handler_with_one_request_id(app_client: TestClient) -> None:
    answer = app_client.post(URL, content=b"x", headers={"content-type": "text/plain"})
    assert answer.status_code == 415
    assert answer.json()["error"] == "unsupported_media_type"
    (request_id,) = answer.headers.get_list("x-request-id")
    assert len(request_id) == 32


def test_a_bug_is_answered_500_logged_counted_and_raised_to_the_server(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: IntakeWriter[Any], alerts: object) -> list[int]:
        raise RuntimeError("a bug in intake")

    monkeypatch.setattr(IntakeWriter, "submit", broken)
    before = UNHANDLED._value.get()
    answer = app_client.post(URL, json=load_fixture_requests()[0]["body"], headers={"X-Request-ID": "bug-1"})

    assert answer.status_code == 500
    assert answer.json() == {"error": "internal_error", "detail": "the request failed; the error is logged"}
    assert answer.headers.get_list("x-request-id") == ["bug-1"]
    assert UNHANDLED._value.get() == before + 1
    assert any(r.exc_info and "a bug in intake" in str(r.exc_info[1]) for r in caplog.records)
