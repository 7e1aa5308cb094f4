"""Clients that go away mid-body, or trickle it, against a real uvicorn server: a disconnect is the
client's error (499, no traceback); a body that takes too long is a 408 and the connection is
closed. Neither stores anything."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Alert
from tests.support import free_port, list_incidents, load_fixture_requests, metric_value, wait_until

URL = "/webhooks/alertmanager"
BODY_TIMEOUT = 0.5  # seconds; BRIDGE_WEBHOOK_BODY_TIMEOUT_SECONDS, 30 s by default, shortened
WAIT = 10.0  # a safety net against a hung test, never a timing assertion
ANSWERS = "bridge_webhook_requests_total"


@dataclass
class Server:
    app: FastAPI
    port: int
    http: httpx.Client

    def answers(self, code: str) -> float:
        return metric_value(self.http.get("/metrics").text, ANSWERS, source="alertmanager", code=code)

    def unhandled(self) -> float:
        return metric_value(self.http.get("/metrics").text, "bridge_http_unhandled_errors_total")

    def alert_rows(self) -> int:
        db: Database = self.app.state.runtime.db
        with db.session() as session:
            return int(session.scalar(select(func.count()).select_from(Alert)) or 0)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)


@pytest.fixture
def server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """The app under uvicorn (uvloop and httptools when installed, as `serve` runs it) in a thread."""
    app = create_app(settings.model_copy(update={"webhook_body_timeout_seconds": BODY_TIMEOUT}))
    port = free_port()
    # log_config=None: uvicorn's loggers propagate to the root logger, where caplog sees them.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="uvicorn", daemon=True)
    thread.start()
    wait_until(lambda: uv.started, timeout=WAIT, what="uvicorn started")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as http:
        yield Server(app, port, http)
    uv.should_exit = True
    thread.join(WAIT)
    assert not thread.is_alive()


def head(length: int) -> bytes:
    return (
        f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def webhook_body() -> bytes:
    return json.dumps(load_fixture_requests()[0]["body"]).encode()


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_client_gone_mid_body_is_a_499_without_a_traceback(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    body = webhook_body()
    gone, failed, unhandled = server.answers("499"), server.answers("500"), server.unhandled()
    caplog.set_level(logging.INFO)
    with server.connect() as sock:
        sock.sendall(head(len(body)) + body[: len(body) // 2])
    wait_until(lambda: server.answers("499") == gone + 1, timeout=WAIT, what="the 499 counted")
    assert server.answers("500") == failed
    assert server.unhandled() == unhandled
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert problems == []
    assert server.alert_rows() == 0
    assert list_incidents(server.http)["total"] == 0
    # The server is fine: the whole body goes through.
    response = server.http.post(URL, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200


def test_a_trickled_body_is_cut_off_with_408_and_the_connection_closed(server: Server) -> None:
    body = webhook_body()
    timed_out, failed = server.answers("408"), server.answers("500")
    with server.connect() as sock:
        sock.sendall(head(len(body)) + body[:10])
        started = time.monotonic()
        sent = 10
        sock.settimeout(0.1)
        answer = b""
        # A byte every 100 ms: never idle for long, yet the body is far from complete in time.
        while not answer and time.monotonic() - started < WAIT:
            with contextlib.suppress(OSError):  # the server may have answered and closed already
                sock.sendall(body[sent : sent + 1])
            sent += 1
            with contextlib.suppress(TimeoutError):
                answer = sock.recv(65536)
        elapsed = time.monotonic() - started
        sock.settimeout(WAIT)
        with contextlib.suppress(ConnectionResetError):  # closed with trickled bytes unread
            answer += read_all(sock)  # ends when the server closes the connection
    assert sent < len(body)
    assert elapsed >= BODY_TIMEOUT - 0.05  # clocks of two processes: a few ms either way
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout"
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    assert json.loads(payload) == {
        "error": "request_timeout",
        "detail": f"the body did not arrive within {BODY_TIMEOUT:g} seconds",
    }
    assert server.answers("408") == timed_out + 1
    assert server.answers("500") == failed
    assert server.alert_rows() == 0
    assert list_incidents(server.http)["total"] == 0


def test_a_body_that_never_comes_is_cut_off_too(server: Server) -> None:
    body = webhook_body()
    timed_out = server.answers("408")
    with server.connect() as sock:
        sock.sendall(head(len(body)))
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert server.answers("408") == timed_out + 1
    assert server.alert_rows() == 0
