"""Paging fixtures: a real HTTP receiver and a real SMTP server standing in for every contact
method, an on-call file whose contacts point at them, and the app wired to both.

Nothing here is mocked: pages leave the bridge over TCP, as they do in production, and the
tests look at what arrived.
"""

from __future__ import annotations

import copy
import email
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Escalation, Incident, Notification
from app.paging.delivery import LEASE, Dispatcher
from app.paging.jobs import escalate
from tests import support
from tests.support import free_port, load_fixture_requests

T = TypeVar("T")
WAIT_TIMEOUT = 10.0
PD_ROUTING_KEY = "0123456789abcdef0123456789abcdef"
POLICY = "risk-ml-default"
OWNER_POLICY = "owner-first"
TEAM = "risk-ml"


def wait_until(predicate: Callable[[], T], timeout: float = WAIT_TIMEOUT, what: str = "") -> T:
    """`tests.support.wait_until` with this package's timeout, polling every 20 ms."""
    return support.wait_until(predicate, timeout, interval=0.02, what=what)


# --- the HTTP receiver ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request as it reached the receiver, and the status it was answered with."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.perf_counter() on arrival
    status: int

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def delivery_id(self) -> str | None:
        return self.headers.get("x-incident-bridge-delivery")


Decide = Callable[[str, dict[str, str], bytes], int | None]


class HttpReceiver:
    """A ThreadingHTTPServer on 127.0.0.1 recording every request.

    Answers 200 unless told otherwise: `fail(path, 500, 500)` answers the next two requests
    for `path` with 500, `always(path, 410)` answers every one with 410, and `decide` may pick
    a status per request (None falls through to the rules above).
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.decide: Decide | None = None
        self._queued: dict[str, list[int]] = {}
        self._always: dict[str, int] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                arrived = time.perf_counter()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._status_for(self.path, headers, body)
                # Recorded before the answer goes out: once the sender has its answer (and may
                # have written the outcome to the database), the request is already in the list.
                receiver._record(Received("POST", self.path, headers, body, arrived, status))
                answer = b'{"status":"ok"}' if status < 400 else b'{"error":"try again"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test output stays readable

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="receiver", daemon=True
        )

    def start(self) -> HttpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def fail(self, path: str, *statuses: int) -> None:
        """Answer the next requests for `path` with these statuses, in order, then 200 again."""
        with self._lock:
            self._queued.setdefault(path, []).extend(statuses)

    def always(self, path: str, status: int) -> None:
        with self._lock:
            self._always[path] = status

    def _status_for(self, path: str, headers: dict[str, str], body: bytes) -> int:
        if self.decide is not None:
            chosen = self.decide(path, headers, body)
            if chosen is not None:
                return chosen
        with self._lock:
            queued = self._queued.get(path)
            if queued:
                return queued.pop(0)
            return self._always.get(path, 200)

    def _record(self, request: Received) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def at(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = WAIT_TIMEOUT) -> list[Received]:
        """Block until at least `count` requests (for `path`, if given) arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                got = [r for r in self.requests if path is None or r.path == path]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(r.path, r.status) for r in self.requests]
                    raise AssertionError(f"expected {count} request(s) for {path or 'any path'}, got {seen}")
                self._changed.wait(left)


# --- the SMTP server --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: Message
    at: float

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def delivery_id(self) -> str:
        return str(self.message["X-Incident-Bridge-Delivery"])

    def text(self) -> str:
        for part in self.message.walk():
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload.decode()
        raise AssertionError("no text/plain part")


@dataclass
class SmtpSink:
    """aiosmtpd handler keeping every envelope it accepts."""

    messages: list[Mail] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        mail = Mail(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            email.message_from_bytes(content),
            time.perf_counter(),
        )
        with self.changed:
            self.messages.append(mail)
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = WAIT_TIMEOUT) -> list[Mail]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} mail(s), got {len(self.messages)}")
                self.changed.wait(left)
            return list(self.messages)


@dataclass
class SmtpServer:
    sink: SmtpSink
    host: str
    port: int

    @property
    def messages(self) -> list[Mail]:
        return list(self.sink.messages)

    def wait_for(self, count: int, timeout: float = WAIT_TIMEOUT) -> list[Mail]:
        return self.sink.wait_for(count, timeout)


# --- the on-call file ---------------------------------------------------------------------------------


def oncall_yaml(
    base: str,
    on_call: str = "alice",
    step2: str = "person:bob",
    carol_urgency: str = "[low]",
    fraud_owner: str = "alice",
) -> str:
    """People whose contacts all point at the local receivers; `on_call` holds the rotation."""
    return f"""\
people:
  - id: alice
    name: Alice Example
    timezone: Europe/Amsterdam
    contact:
      - {{type: email, address: alice@example.com}}
      - {{type: webhook, url: {base}/alice}}
  - id: bob
    name: Bob Example
    contact:
      - {{type: webhook, url: {base}/bob}}
      - {{type: slack, webhook_url: {base}/slack/bob}}
      - {{type: pagerduty, routing_key: {PD_ROUTING_KEY}}}
  - id: carol
    name: Carol Example
    contact:
      - {{type: webhook, url: {base}/carol, urgency: {carol_urgency}}}
rotations:
  - id: risk-ml-primary
    members: [alice, bob, carol]
    shift: weekly
    handoff: "Mon 09:00"
    timezone: Europe/Amsterdam
    overrides:
      # Pins who is on call, whatever the date the tests run on.
      - {{person: {on_call}, start: "2020-01-01T00:00:00Z", end: "2100-01-01T00:00:00Z"}}
escalation_policies:
  - id: {POLICY}
    steps:
      - {{notify: ["rotation:risk-ml-primary"], after: 0m}}
      - {{notify: ["{step2}"], after: 10m}}
    repeat: 1
  - id: {OWNER_POLICY}
    steps:
      - {{notify: [owner], after: 0m}}
      - {{notify: ["rotation:risk-ml-primary"], after: 30m}}
models:
  - id: fraud-scorer
    owner: {fraud_owner}
    team: {TEAM}
    escalation_policy: {POLICY}
    tier: production
  - id: churn-model
    owner: bob
    team: {TEAM}
    escalation_policy: {OWNER_POLICY}
    tier: production
teams:
  - id: {TEAM}
    name: Risk ML
    fallback:
      - {{type: webhook, url: {base}/fallback}}
default_escalation_policy: {POLICY}
"""


# --- Alertmanager webhooks ----------------------------------------------------------------------------

FIXTURES = load_fixture_requests()


def fixture_body(index: int) -> dict[str, Any]:
    """A captured Alertmanager 0.25 webhook body: 0 FeatureDrift churn-model, 1 ModelAccuracyDrop
    fraud-scorer (two alerts), 2 its resolution, 3 the FeatureDrift resolution."""
    return copy.deepcopy(FIXTURES[index]["body"])


def alert_body(
    alertname: str = "ModelAccuracyDrop",
    model: str = "fraud-scorer",
    severity: str = "critical",
    status: str = "firing",
    fingerprint: str | None = None,
    **labels: str,
) -> dict[str, Any]:
    """A webhook of the captured shape holding one alert with these labels."""
    body = fixture_body(0)
    alert = body["alerts"][0]
    alert_labels = {"alertname": alertname, "model": model, "severity": severity, "team": TEAM, **labels}
    alert["labels"] = alert_labels
    alert["status"] = status
    digest = hashlib.sha256(orjson.dumps(alert_labels, option=orjson.OPT_SORT_KEYS)).hexdigest()
    alert["fingerprint"] = fingerprint or digest[:16]
    alert["annotations"]["summary"] = f"{alertname} on {model}"
    if status == "resolved":
        alert["endsAt"] = "2026-11-27T05:16:00.049512928Z"
    body["status"] = status
    body["groupLabels"] = {"alertname": alertname, "model": model}
    body["commonLabels"] = dict(alert_labels)
    body["commonAnnotations"] = dict(alert["annotations"])
    body["groupKey"] = f'{{}}:{{alertname="{alertname}", model="{model}"}}'
    return body


def fire(client: TestClient, body: dict[str, Any]) -> list[int]:
    """POST one Alertmanager webhook; returns the ids of the incidents it touched."""
    response = client.post("/webhooks/alertmanager", json=body)
    assert response.status_code == 200, response.text
    incidents: list[int] = response.json()["incidents"]
    return incidents


def fire_one(client: TestClient, body: dict[str, Any]) -> int:
    (incident_id,) = fire(client, body)
    return incident_id


# --- reading state ------------------------------------------------------------------------------------


def db_of(client: TestClient) -> Database:
    db: Database = client.app.state.runtime.db  # type: ignore[attr-defined]
    return db


def dispatcher_of(client: TestClient) -> Dispatcher:
    dispatcher: Dispatcher = client.app.state.runtime.dispatcher  # type: ignore[attr-defined]
    return dispatcher


def notifications(client: TestClient, incident_id: int | None = None, **where: Any) -> list[Notification]:
    """Notification rows, oldest first, optionally of one incident and matching `where`."""
    query = select(Notification).order_by(Notification.id)
    if incident_id is not None:
        query = query.where(Notification.incident_id == incident_id)
    for name, value in where.items():
        query = query.where(getattr(Notification, name) == value)
    with db_of(client).session() as session:
        return list(session.scalars(query))


def incident_row(client: TestClient, incident_id: int) -> Incident:
    with db_of(client).session() as session:
        row = session.get(Incident, incident_id)
        assert row is not None
        return row


def escalation_row(client: TestClient, incident_id: int) -> Escalation:
    with db_of(client).session() as session:
        row = session.get(Escalation, incident_id)
        assert row is not None
        return row


def timeline(client: TestClient, incident_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/incidents/{incident_id}")
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["timeline"]
    return events


def kinds(client: TestClient, incident_id: int) -> list[str]:
    return [e["kind"] for e in timeline(client, incident_id)]


def settled(client: TestClient) -> bool:
    """Nothing is being sent and nothing due is waiting (by the dispatcher's clock)."""
    now = dispatcher_of(client).clock()
    for row in notifications(client):
        if row.status == "sending" or (row.status == "pending" and row.next_attempt_at <= now):
            return False
    return True


def wait_settled(client: TestClient) -> None:
    wait_until(lambda: settled(client), what="every due notification sent")


def set_clock(client: TestClient, when: datetime) -> None:
    dispatcher_of(client).clock = lambda: when


def escalate_at(client: TestClient, when: datetime) -> int:
    """Run the escalation job as the scheduler would, with the clock at `when`; wait for sends."""
    set_clock(client, when)
    app_state = client.app.state.runtime  # type: ignore[attr-defined]
    count = escalate(app_state.db, lambda: app_state.catalog.current, app_state.dispatcher)
    wait_settled(client)
    return count


def sweep_at(client: TestClient, when: datetime) -> int:
    """Run the retry sweeper with the clock at `when`; wait for what it claimed to be sent."""
    set_clock(client, when)
    claimed = dispatcher_of(client).sweep()

    def done() -> bool:  # rows this sweep leased carry its lease end; others are not ours to wait for
        return not any(n.claimed_until == when + LEASE for n in notifications(client, status="sending"))

    wait_until(done, what="the swept notifications sent")
    return claimed


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield SmtpServer(sink, "127.0.0.1", controller.port)
    controller.stop()


@pytest.fixture
def oncall_person() -> str:
    """Who the rotation has on call; a test may parametrize it."""
    return "alice"


@pytest.fixture
def oncall_rules_dir(rules_dir: Path, receiver: HttpReceiver, oncall_person: str) -> Path:
    (rules_dir / "oncall.yaml").write_text(oncall_yaml(receiver.url, on_call=oncall_person))
    return rules_dir


@pytest.fixture
def paging_settings(
    settings: Settings, oncall_rules_dir: Path, receiver: HttpReceiver, smtp: SmtpServer
) -> Settings:
    return settings.model_copy(
        update={
            "rules_dir": oncall_rules_dir,
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "pagerduty_events_url": f"{receiver.url}/pagerduty",
            "page_max_attempts": 3,
            "outbound_timeout_seconds": 5.0,
        }
    )


@pytest.fixture
def paging_client(paging_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(paging_settings)) as test_client:
        yield test_client
