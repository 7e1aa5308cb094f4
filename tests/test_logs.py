"""Log lines an operator can ship: JSON lines with the fields a shipper needs, the request id of
every request (echoed, generated, or replaced when unsafe) on the lines written while handling
it, and one line per incident lifecycle event. Pages, secrets and a real serve process: tests/logs/.

The app-level tests run against SQLite and, when BRIDGE_TEST_DATABASE_URL is set, PostgreSQL.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgi_correlation_id.context import correlation_id
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app import logs
from app.config import Settings
from app.main import create_app
from tests.logs.capture import Captured, capturing
from tests.paging.conftest import alert_body
from tests.support import ROOT, incident_detail, wait_until

GENERATED = re.compile(r"[0-9a-f]{32}")
REQUIRED = ("timestamp", "level", "logger", "message")


@pytest.fixture
def json_log() -> Iterator[Captured]:
    """JSON lines of every logger at INFO and above while the test runs."""
    with capturing() as captured:
        yield captured


def emit(captured: Captured, name: str, level: int, msg: str, *args: object, **kwargs: Any) -> None:
    """Log one record through the captured handler only."""
    logger = logging.getLogger(name)
    logger.addHandler(captured.handler)
    logger.propagate, old_level = False, logger.level
    logger.setLevel(logging.DEBUG)
    try:
        logger.log(level, msg, *args, **kwargs)
    finally:
        logger.removeHandler(captured.handler)
        logger.propagate = True
        logger.setLevel(old_level)


# --- the formats ---------------------------------------------------------------------------------


def test_json_lines_carry_timestamp_level_logger_message_ids_and_the_traceback() -> None:
    captured = Captured("json")
    before = datetime.now(UTC)
    emit(captured, "incident_bridge.probe", logging.INFO, "incident %s opened", 42, extra={"incident_id": 42})
    try:
        raise ValueError("boom")
    except ValueError:
        emit(captured, "incident_bridge.probe", logging.ERROR, "a job failed\nsecond line", exc_info=True)
    # uvicorn hands a coloured copy of its messages to its own formatter: not a field of ours.
    emit(captured, "uvicorn.error", logging.INFO, "Started", extra={"color_message": "\x1b[32mStarted"})
    with logs.bound(notification_id=7):
        emit(captured, "incident_bridge.probe", logging.WARNING, "sending")

    opened, failed, started, sending = captured.lines()  # four records, four lines
    for line in (opened, failed, started, sending):
        assert all(line.get(name) for name in REQUIRED), line
        moment = datetime.fromisoformat(line["timestamp"])
        assert line["timestamp"].endswith("Z") and moment.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= moment <= datetime.now(UTC) + timedelta(seconds=1)
    assert (opened["level"], opened["logger"], opened["message"]) == (
        "INFO",
        "incident_bridge.probe",
        "incident 42 opened",
    )
    assert opened["incident_id"] == 42 and "exception" not in opened and "request_id" not in opened
    assert failed["level"] == "ERROR" and failed["message"] == "a job failed\nsecond line"
    assert failed["exception"].startswith("Traceback (most recent call last)")
    assert failed["exception"].rstrip().endswith("ValueError: boom")
    assert started == {k: started[k] for k in ("timestamp", "level", "logger", "message")}
    assert sending["notification_id"] == 7


def test_text_lines_end_with_the_request_id_and_a_message_cannot_forge_a_line() -> None:
    captured = Captured("text")

    def in_request() -> None:
        correlation_id.set("req-7")
        emit(captured, "incident_bridge.probe", logging.INFO, "value %s", "x\n2026-01-01 ERROR forged: y")

    contextvars.copy_context().run(in_request)
    emit(captured, "incident_bridge.probe", logging.INFO, "outside any request")

    first, second = captured.text().splitlines()
    assert first.endswith(
        " INFO incident_bridge.probe: value x\\n2026-01-01 ERROR forged: y request_id=req-7"
    )
    assert second.endswith(" INFO incident_bridge.probe: outside any request")


@pytest.mark.parametrize(
    ("candidate", "kept"),
    [
        ("3f2a9c1e-7b4d-4e8a-9f00-123456789abc", True),
        ("Root=1-5759e988-bd862e3fe1be46a994272793", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("x" * 10_240, False),
        ("", False),
        ("abc\r\nX-Injected: 1", False),
        ("abc def", False),
        ('"quoted"', False),
        ("-starts-with-a-dash", False),
    ],
)
def test_which_client_request_ids_are_kept(candidate: str, kept: bool) -> None:
    assert logs.valid_request_id(candidate) is kept


# --- request ids ---------------------------------------------------------------------------------


def test_the_request_id_is_echoed_generated_when_absent_and_replaced_when_unsafe(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "req-42.a"}).headers["x-request-id"] == "req-42.a"

    made = [client.get("/healthz").headers["x-request-id"] for _ in range(2)]
    assert all(GENERATED.fullmatch(rid) for rid in made) and made[0] != made[1]

    for unsafe in ("abc\r\nX-Injected: 1", "x" * 10_240, "a b", '"quoted"'):
        response = client.get("/healthz", headers={"X-Request-ID": unsafe})
        assert response.status_code == 200
        assert GENERATED.fullmatch(response.headers["x-request-id"]), unsafe
        assert "x-injected" not in response.headers

    # Outermost: answers of the other middleware (a body too large) carry it too.
    large = client.post("/api/v1/incidents", content=b"x" * (2 << 20), headers={"X-Request-ID": "big-1"})
    assert (large.status_code, large.headers["x-request-id"]) == (413, "big-1")


def test_lines_written_while_handling_a_request_carry_its_id(settings: Settings, json_log: Captured) -> None:
    app = create_app(settings)

    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/test-boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        opened = client.post("/webhooks/alertmanager", json=alert_body())
        (incident_id,) = opened.json()["incidents"]
        acknowledged = client.post(
            f"/api/v1/incidents/{incident_id}/acknowledge",
            json={"by": "alice"},
            headers={"X-Request-ID": "ack-1"},
        )
        assert acknowledged.status_code == 200, acknowledged.text
        failed = client.get("/test-boom", headers={"X-Request-ID": "boom-1"})
        assert failed.status_code == 500
        assert failed.headers["X-Request-ID"] == "boom-1"  # the caller can quote it

    lines = json_log.lines()
    (ack,) = [ln for ln in lines if ln.get("event") == "acknowledged"]
    assert (ack["incident_id"], ack["request_id"]) == (incident_id, "ack-1")
    (bug,) = [ln for ln in lines if ln.get("request_id") == "boom-1"]
    assert bug["level"] == "ERROR" and "RuntimeError: a bug" in bug["exception"]
    # The incident was opened by the intake writer, in a batch of requests: no request's id.
    (opening,) = [ln for ln in lines if ln.get("event") == "opened"]
    assert "request_id" not in opening and opening["incident_id"] == incident_id


# --- incident lifecycle lines --------------------------------------------------------------------


def test_one_line_per_lifecycle_event_with_the_incident_id_never_per_alert(
    client: TestClient, json_log: Captured
) -> None:
    def fire(body: dict[str, Any]) -> int:
        response = client.post("/webhooks/alertmanager", json=body)
        assert response.status_code == 200, response.text
        (incident_id,) = response.json()["incidents"]
        return int(incident_id)

    drift = {"alertname": "FeatureDrift", "model": "churn-model"}
    incident_id = fire(alert_body(**drift, severity="warning"))
    for _ in range(3):  # Alertmanager repeats what still fires: no line for those
        assert fire(alert_body(**drift, severity="warning")) == incident_id
    assert fire(alert_body(**drift, severity="critical")) == incident_id  # raises it in place
    assert client.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={"by": "bob"}).status_code == 200
    fire(alert_body(**drift, severity="warning", status="resolved"))
    fire(alert_body(**drift, severity="critical", status="resolved"))  # the last one: resolved
    again = alert_body(**drift, severity="warning")
    again["alerts"][0]["startsAt"] = datetime.now(UTC).isoformat()  # a new episode of the alert
    assert fire(again) == incident_id  # within its reopen window

    detail = incident_detail(client, incident_id)
    wait_until(lambda: len(json_log.events(incident_id)) >= 5, what="five lifecycle lines")
    events = json_log.events(incident_id)
    assert [e["event"] for e in events] == ["opened", "raised", "acknowledged", "resolved", "reopened"]
    opened, raised = events[0], events[1]
    assert raised["severity"] == detail["severity"] != opened["severity"]
    assert opened["message"] == (
        f"incident {incident_id} opened {opened['severity']} performance_degradation key={detail['key']}"
    )
    for line in events:
        assert (line["level"], line["logger"], line["type"]) == (
            "INFO",
            "incident_bridge.incidents",
            "performance_degradation",
        )
        assert line["message"].startswith(f"incident {incident_id} {line['event']} {line['severity']} ")


def test_a_lifecycle_line_is_written_when_its_transaction_commits_and_never_when_it_rolls_back() -> None:
    engine = create_engine("sqlite://")
    with capturing() as captured:
        with contextlib.suppress(RuntimeError), Session(engine) as session, session.begin():
            logs.incident_event(session, "opened", 7, "SEV2", "data_quality", "k")
            raise RuntimeError("rolled back, then tried again")  # e.g. a conflict with another writer
        assert captured.lines() == []
        with Session(engine) as session, session.begin():
            logs.incident_event(session, "opened", 8, "SEV2", "data_quality", "k")
            logs.incident_event(session, "alert_refired", 8, "SEV2", "data_quality", "k")  # not an event
            assert captured.lines() == []  # not yet committed
        with Session(engine) as session, session.begin():  # a new session has nothing left over
            session.execute(text("select 1"))
    assert [(ln["incident_id"], ln["event"]) for ln in captured.lines()] == [(8, "opened")]


def test_a_configured_process_logs_its_crashes_as_json_too() -> None:
    """A thread that dies and an uncaught exception: tracebacks as JSON lines, not bare text."""
    script = (
        "import threading, warnings\n"
        "from app import logs\n"
        "logs.configure('info', 'json')\n"
        "warnings.warn('old call')\n"
        "worker = threading.Thread(target=lambda: 1 / 0, name='sender')\n"
        "worker.start(); worker.join()\n"
        "raise RuntimeError('at start')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 1 and done.stdout == ""
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    warned, thread, crash = lines
    assert (warned["logger"], warned["level"]) == ("py.warnings", "WARNING") and "old call" in warned[
        "message"
    ]
    assert thread["message"] == "thread sender failed" and "ZeroDivisionError" in thread["exception"]
    assert crash["level"] == "CRITICAL" and crash["exception"].rstrip().endswith("RuntimeError: at start")
