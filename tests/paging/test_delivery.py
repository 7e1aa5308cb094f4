"""Delivering pages: retries with backoff, giving up to the team's fallback, the outbox surviving a
crash, and a notification claimed by exactly one sender.

Runs against SQLite and, when BRIDGE_TEST_DATABASE_URL is set, PostgreSQL.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import utcnow
from app.main import create_app
from app.models import Notification
from app.oncall.schemas import WebhookContact
from app.paging import repository
from app.paging.delivery import LEASE, Dispatcher
from app.paging.message import Message
from tests.paging.conftest import (
    TEAM,
    HttpReceiver,
    SmtpServer,
    alert_body,
    db_of,
    dispatcher_of,
    fire_one,
    fixture_body,
    kinds,
    notifications,
    set_clock,
    sweep_at,
    timeline,
    wait_settled,
    wait_until,
)
from tests.support import metric

SECOND = timedelta(seconds=1)


@pytest.fixture
def outbox_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """While active, pages are written to the outbox but nothing sends them (a crash after commit)."""
    with monkeypatch.context() as patch:
        patch.setattr(Dispatcher, "submit", lambda self, ids, claimed=False: None)
        yield


def webhook_page(client: TestClient, incident_id: int) -> Notification:
    (row,) = notifications(client, incident_id, channel="webhook", kind="page")
    return row


def record_arrivals(receiver: HttpReceiver) -> list[str]:
    """Paths of the requests reaching `receiver`, noted before it answers: once a sender has
    its answer, the request is in this list."""
    arrived: list[str] = []

    def note(path: str, headers: dict[str, str], body: bytes) -> None:
        arrived.append(path)
        return None  # answer as configured

    receiver.decide = note
    return arrived


def test_retries_with_backoff_until_delivered(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    receiver.fail("/alice", 500, 500)
    retried_before = metric(paging_client, "bridge_notifications_total", channel="webhook", outcome="retried")
    dispatcher_of(paging_client).jitter = lambda: 1.1  # the top of the +-10 % jitter
    first_try = utcnow()
    set_clock(paging_client, first_try)
    incident_id = fire_one(paging_client, fixture_body(1))
    receiver.wait_for(1, "/alice")
    smtp.wait_for(1)
    wait_settled(paging_client)

    first = webhook_page(paging_client, incident_id)
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.last_error is not None and "HTTP 500" in first.last_error
    assert first.next_attempt_at == first_try + timedelta(seconds=5 * 1.1)

    assert sweep_at(paging_client, first.next_attempt_at - SECOND) == 0  # not due yet
    assert len(receiver.at("/alice")) == 1
    second_try = first.next_attempt_at + SECOND
    assert sweep_at(paging_client, second_try) == 1
    receiver.wait_for(2, "/alice")

    second = webhook_page(paging_client, incident_id)
    assert (second.status, second.attempts) == ("pending", 2)
    assert second.next_attempt_at == second_try + timedelta(seconds=15 * 1.1)
    third_try = second.next_attempt_at + SECOND
    assert sweep_at(paging_client, third_try) == 1
    requests = receiver.wait_for(3, "/alice")

    done = webhook_page(paging_client, incident_id)
    assert (done.status, done.attempts, done.last_error) == ("delivered", 3, None)
    assert done.delivered_at == third_try
    assert [r.status for r in requests] == [500, 500, 200]
    assert {r.delivery_id for r in requests} == {done.delivery_id}  # one delivery id across retries
    assert (
        metric(paging_client, "bridge_notifications_total", channel="webhook", outcome="retried")
        == retried_before + 2
    )
    assert sweep_at(paging_client, third_try + timedelta(hours=1)) == 0
    assert len(receiver.at("/alice")) == 3 and len(smtp.messages) == 1
    names = kinds(paging_client, incident_id)
    assert names.count("notified") == 2 and "page_failed" not in names


def test_gives_up_after_max_attempts_and_pages_the_team_fallback(
    paging_client: TestClient, receiver: HttpReceiver
) -> None:
    receiver.always("/alice", 500)
    failed_before = metric(paging_client, "bridge_notifications_total", channel="webhook", outcome="failed")
    incident_id = fire_one(paging_client, fixture_body(1))
    receiver.wait_for(1, "/alice")
    wait_settled(paging_client)
    for _ in range(2):
        assert sweep_at(paging_client, webhook_page(paging_client, incident_id).next_attempt_at + SECOND) == 1

    assert len(receiver.wait_for(3, "/alice")) == 3
    (fallback,) = receiver.wait_for(1, "/fallback")
    wait_settled(paging_client)
    assert fallback.json["event"] == "fallback"
    assert fallback.json["recipient"] == f"team:{TEAM}"
    assert fallback.json["incident"]["id"] == incident_id

    given_up = webhook_page(paging_client, incident_id)
    assert (given_up.status, given_up.attempts) == ("failed", 3)
    assert given_up.last_error is not None and "HTTP 500" in given_up.last_error
    rows = notifications(paging_client, incident_id, kind="fallback")
    assert [(n.recipient, n.channel, n.step, n.status) for n in rows] == [
        (f"team:{TEAM}", "webhook", 0, "delivered")
    ]
    events = timeline(paging_client, incident_id)
    (failed,) = [e for e in events if e["kind"] == "page_failed"]
    assert failed["data"]["recipient"] == "alice" and failed["data"]["channel"] == "webhook"
    assert "after 3 attempt(s)" in failed["message"]
    assert any(e["kind"] == "notified" and e["data"]["recipient"] == f"team:{TEAM}" for e in events)
    assert (
        metric(paging_client, "bridge_notifications_total", channel="webhook", outcome="failed")
        == failed_before + 1
    )
    assert sweep_at(paging_client, utcnow() + timedelta(hours=2)) == 0  # no fourth attempt
    assert len(receiver.at("/alice")) == 3


def test_a_permanent_error_is_not_retried(paging_client: TestClient, receiver: HttpReceiver) -> None:
    receiver.always("/alice", 410)
    incident_id = fire_one(paging_client, fixture_body(1))
    receiver.wait_for(1, "/alice")
    receiver.wait_for(1, "/fallback")
    wait_settled(paging_client)

    row = webhook_page(paging_client, incident_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None and "HTTP 410" in row.last_error
    assert kinds(paging_client, incident_id).count("page_failed") == 1
    assert sweep_at(paging_client, utcnow() + timedelta(hours=2)) == 0
    assert len(receiver.at("/alice")) == 1


def test_pages_written_but_never_sent_are_delivered_once_by_the_next_process(
    paging_settings: Settings, receiver: HttpReceiver, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        # The process dies right after commit: its pages are in the outbox, none went out.
        patch.setattr(Dispatcher, "submit", lambda self, ids, claimed=False: None)
        with TestClient(create_app(paging_settings)) as first:
            opened = [
                fire_one(first, fixture_body(1)),  # alice: email + webhook
                fire_one(first, alert_body(model="mystery-model")),  # alice: email + webhook
                fire_one(first, fixture_body(0)),  # owner bob, SEV4: webhook + slack
            ]
            written = notifications(first)
    assert len(set(opened)) == 3
    # Born claimed by the process that died: nobody else may send them until the lease runs out.
    assert len(written) == 6 and {(n.status, n.attempts) for n in written} == {("sending", 1)}
    assert receiver.at() == [] and smtp.messages == []
    born = max(n.created_at for n in written)

    arrived = record_arrivals(receiver)
    with TestClient(create_app(paging_settings)) as second:
        assert sweep_at(second, born + LEASE - SECOND) == 0
        assert sweep_at(second, born + LEASE + SECOND) == 6
        wait_until(
            lambda: all(n.status == "delivered" for n in notifications(second)), what="every page delivered"
        )
        assert sweep_at(second, born + LEASE * 3) == 0
        rows = notifications(second)
        dispatcher_of(second).shutdown()  # every send it started has had its answer
    assert {n.attempts for n in rows} == {2}

    receiver.wait_for(4)
    mails = smtp.wait_for(2)
    assert sorted(arrived) == ["/alice", "/alice", "/bob", "/slack/bob"]
    assert len(smtp.messages) == 2
    assert sorted(r.path for r in receiver.at()) == ["/alice", "/alice", "/bob", "/slack/bob"]
    hook_ids = [r.delivery_id for r in receiver.at() if r.delivery_id]
    mail_ids = [m.delivery_id for m in smtp.messages]
    assert len(mails) == 2 and len(set(mail_ids)) == 2
    expected = {n.delivery_id for n in rows if n.channel in ("webhook", "email")}
    assert sorted(hook_ids + mail_ids) == sorted(expected)


def test_a_sender_that_died_mid_send_loses_its_lease_to_the_sweeper(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(Dispatcher, "submit", lambda self, ids, claimed=False: None)
        incident_id = fire_one(paging_client, fixture_body(1))
    rows = notifications(paging_client, incident_id)
    assert len(rows) == 2
    # The rows were born claimed by this sender, which then died before sending.
    assert {(n.status, n.attempts) for n in rows} == {("sending", 1)}
    died_at = max(n.created_at for n in rows)

    assert sweep_at(paging_client, died_at + LEASE - SECOND) == 0  # the lease still holds
    assert receiver.at() == [] and smtp.messages == []
    assert {n.status for n in notifications(paging_client, incident_id)} == {"sending"}

    assert sweep_at(paging_client, died_at + LEASE + SECOND) == 2
    receiver.wait_for(1, "/alice")
    smtp.wait_for(1)
    taken_over = notifications(paging_client, incident_id)
    assert {(n.status, n.attempts) for n in taken_over} == {("delivered", 2)}
    assert sweep_at(paging_client, died_at + LEASE * 3) == 0
    assert len(receiver.at("/alice")) == 1 and len(smtp.messages) == 1


def test_a_notification_is_claimed_by_one_sender_only(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer, outbox_only: None
) -> None:
    arrived = record_arrivals(receiver)
    incident_id = fire_one(paging_client, fixture_body(1))
    hook = webhook_page(paging_client, incident_id)
    db = db_of(paging_client)
    barrier = threading.Barrier(2)
    won: list[bool] = []

    later = utcnow() + LEASE + SECOND  # the lease of the process that wrote the page ran out

    def claim() -> None:
        barrier.wait(5)
        with db.session(write=True) as session:
            won.append(repository.claim(session, hook.id, later, LEASE) is not None)
            time.sleep(0.2)  # keep the transaction open while the other one tries

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert sorted(won) == [False, True]
    (claimed,) = notifications(paging_client, incident_id, channel="webhook")
    assert (claimed.status, claimed.attempts) == ("sending", 2)

    set_clock(paging_client, later)
    dispatcher = dispatcher_of(paging_client)
    assert dispatcher.deliver(hook.id) is None  # someone else holds it
    (mail_row,) = notifications(paging_client, incident_id, channel="email")
    assert dispatcher.deliver(mail_row.id) == "delivered"
    assert dispatcher.deliver(mail_row.id) is None  # already delivered: not sent again
    assert len(smtp.wait_for(1)) == 1
    assert receiver.at() == []

    dispatcher.clock = lambda: later + LEASE + SECOND  # the winner never finished
    assert dispatcher.deliver(hook.id) == "delivered"
    assert dispatcher.deliver(hook.id) is None
    assert len(receiver.wait_for(1, "/alice")) == 1
    dispatcher.shutdown()  # nothing left running that could still send
    assert arrived == ["/alice"] and len(smtp.messages) == 1


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_a_page_in_flight_when_the_incident_is_handled_is_not_retried(
    paging_client: TestClient, receiver: HttpReceiver, smtp: SmtpServer, action: str
) -> None:
    arrived, release = threading.Event(), threading.Event()

    def slow_failure(path: str, headers: dict[str, str], body: bytes) -> int | None:
        if path == "/alice" and orjson.loads(body)["event"] == "page" and not release.is_set():
            arrived.set()
            release.wait(10)
            return 503
        return None

    receiver.decide = slow_failure
    incident_id = fire_one(paging_client, fixture_body(1))
    assert arrived.wait(10)
    assert webhook_page(paging_client, incident_id).status == "sending"

    response = paging_client.post(f"/api/v1/incidents/{incident_id}/{action}", json={"by": "alice"})
    assert response.status_code == 200 and response.json()["changed"] is True
    release.set()
    wait_until(lambda: webhook_page(paging_client, incident_id).status != "sending", what="send finished")
    wait_settled(paging_client)

    swept = sweep_at(paging_client, utcnow() + timedelta(minutes=1))
    pages_to_alice = [r for r in receiver.at("/alice") if r.json["event"] == "page"]
    assert (swept, len(pages_to_alice)) == (0, 1), "paged again after the incident was handled"
    assert webhook_page(paging_client, incident_id).status in ("cancelled", "failed")


def rewrite_row(client: TestClient, notification_id: int, **values: Any) -> None:
    with db_of(client).session(write=True) as session:
        row = session.get(Notification, notification_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


def test_the_dispatcher_hands_each_channel_its_typed_contact(
    paging_client: TestClient, receiver: HttpReceiver, outbox_only: None
) -> None:
    sent: list[tuple[object, Message]] = []

    class Recording:
        channel = "webhook"

        def send(self, contact: WebhookContact, message: Message) -> None:
            sent.append((contact, message))

    incident_id = fire_one(paging_client, fixture_body(1))
    hook = webhook_page(paging_client, incident_id)
    dispatcher = dispatcher_of(paging_client)
    dispatcher._notifiers = {**dispatcher.notifiers(), "webhook": Recording()}
    set_clock(paging_client, utcnow() + LEASE + SECOND)

    assert dispatcher.deliver(hook.id) == "delivered"

    ((contact, message),) = sent
    assert contact == WebhookContact(type="webhook", url=f"{receiver.url}/alice")
    assert (message.delivery_id, message.kind, message.incident_id) == (hook.delivery_id, "page", incident_id)
    assert receiver.at() == []


def test_an_unknown_channel_is_a_permanent_failure(
    paging_client: TestClient, receiver: HttpReceiver, outbox_only: None
) -> None:
    incident_id = fire_one(paging_client, fixture_body(1))
    hook = webhook_page(paging_client, incident_id)
    rewrite_row(paging_client, hook.id, channel="pigeon")
    set_clock(paging_client, utcnow() + LEASE + SECOND)

    assert dispatcher_of(paging_client).deliver(hook.id) == "failed"

    (row,) = notifications(paging_client, incident_id, channel="pigeon")
    assert (row.status, row.attempts, row.last_error) == ("failed", 2, "unknown channel 'pigeon'")
    fallback = notifications(paging_client, incident_id, kind="fallback")
    assert [(n.recipient, n.channel) for n in fallback] == [(f"team:{TEAM}", "webhook")]
    assert receiver.at() == []


@pytest.mark.parametrize(
    ("contact", "error"),
    [
        ({"type": "webhook", "url": "ftp://secret-host.test/hook"}, "invalid contact: webhook.url: "),
        ({"type": "slack", "webhook_url": "https://secret-host.test/hook"}, "a slack contact cannot go by"),
    ],
    ids=["invalid", "other-channel"],
)
def test_a_contact_that_cannot_go_by_its_channel_is_a_permanent_failure(
    paging_client: TestClient, receiver: HttpReceiver, outbox_only: None, contact: dict[str, Any], error: str
) -> None:
    incident_id = fire_one(paging_client, fixture_body(1))
    hook = webhook_page(paging_client, incident_id)
    rewrite_row(paging_client, hook.id, contact_ref=contact)
    set_clock(paging_client, utcnow() + LEASE + SECOND)

    assert dispatcher_of(paging_client).deliver(hook.id) == "failed"

    row = webhook_page(paging_client, incident_id)
    assert row.status == "failed" and row.last_error is not None
    assert row.last_error.startswith(error)
    assert "secret-host" not in row.last_error  # a contact's URL is a secret
    assert receiver.at() == []


def test_delivery_latency_from_webhook_answer_to_page(
    paging_client: TestClient, receiver: HttpReceiver
) -> None:
    """Prints p50/p99 from the webhook's 2xx to the page reaching the receiver (no timing asserts)."""
    answered: dict[int, float] = {}
    for i in range(20):
        incident_id = fire_one(paging_client, alert_body(model=f"latency-model-{i:02d}"))
        answered[incident_id] = time.perf_counter()
    pages = receiver.wait_for(20, "/alice")
    wait_settled(paging_client)
    arrived = {p.json["incident"]["id"]: p.at for p in receiver.at("/alice")}
    assert len(answered) == 20 and len(receiver.at("/alice")) == 20 and sorted(arrived) == sorted(answered)
    assert len({p.delivery_id for p in pages}) == 20
    # The page may beat the HTTP answer back to the client: that counts as zero.
    latencies = sorted(max(0.0, arrived[i] - answered[i]) * 1000 for i in answered)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    db = "postgresql" if not db_of(paging_client).is_sqlite else "sqlite"
    print(f"\npage delivery latency ({db}, n=20): p50 {cuts[49]:.1f} ms, p99 {cuts[98]:.1f} ms")
