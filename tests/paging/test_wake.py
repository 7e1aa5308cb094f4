"""Waking the worker: a process that commits pages tells the workers to claim them now.

On SQLite the word is a datagram on an abstract Unix socket named after the database file; on
PostgreSQL a NOTIFY. A web process that leaves the sending to workers writes its pages `pending`
and unclaimed; a worker's sweep claims and sends each of them once.

Runs against SQLite and, when BRIDGE_TEST_DATABASE_URL is set, PostgreSQL.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import Notification
from app.paging import delivery
from app.paging.wake import Alarm, Waker, socket_name
from app.worker import Worker
from tests.paging.conftest import (
    HttpReceiver,
    SmtpServer,
    alert_body,
    db_of,
    fire_one,
    fixture_body,
    notifications,
    wait_until,
)

WOKEN_WITHIN = 10.0  # seconds: generous, a loaded machine still wakes an alarm far sooner
QUIET_FOR = 0.3  # seconds an alarm that nobody woke is given to (wrongly) go off
HANG_GUARD = 60.0
ADOPTED_WITHIN = 30.0  # seconds: generous, and well short of a page's claim (LEASE, 60 s)
BACKLOG_WITHIN = 20.0  # seconds for ten pages to a local receiver: generous, and short of a claim


def sqlite_db(path: Path) -> Database:
    return Database(f"sqlite:///{path}")


def bound(name: bytes) -> bool:
    """Whether a socket of this process or another is bound to abstract Unix socket `name`."""
    listed = "@" + name.removeprefix(b"\0").decode()
    with open("/proc/net/unix") as table:
        return any(line.split()[-1] == listed for line in table if len(line.split()) >= 8)


def listening(alarm: Alarm, db: Database) -> Alarm:
    """`alarm`, once it hears wake-ups; nothing pending on it.

    A PostgreSQL alarm goes off once when its LISTEN is in place (for anything committed before
    that): that first ring says it listens. A SQLite alarm listens once it holds its socket, and
    may go off at once too (to look at what was handed over before). Either ring is consumed.
    """
    if db.is_sqlite:
        wait_until(lambda: bound(socket_name(db)), timeout=WOKEN_WITHIN, what="the alarm's socket bound")
        alarm.wait(0)
    else:
        assert alarm.wait(WOKEN_WITHIN), "the alarm never started listening (LISTEN)"
    return alarm


@pytest.fixture
def alarms() -> Iterator[list[Alarm]]:
    """Alarms the test builds; closed after it."""
    made: list[Alarm] = []
    yield made
    for alarm in made:
        alarm.close()


@pytest.fixture
def wakers() -> Iterator[list[Waker]]:
    made: list[Waker] = []
    yield made
    for waker in made:
        waker.close()


def pair(db: Database, alarms: list[Alarm], wakers: list[Waker]) -> tuple[Alarm, Waker]:
    """A listening alarm and a waker on one database, closed after the test."""
    alarm = listening(Alarm(db), db)
    alarms.append(alarm)
    waker = Waker(db)
    wakers.append(waker)
    return alarm, waker


# --- Waker and Alarm ------------------------------------------------------------------------------


def test_a_wake_rings_the_alarm_of_the_same_database(
    db: Database, alarms: list[Alarm], wakers: list[Waker]
) -> None:
    alarm, waker = pair(db, alarms, wakers)

    assert alarm.wait(QUIET_FOR) is False  # nobody woke it

    waker.wake()
    assert alarm.wait(WOKEN_WITHIN) is True
    assert alarm.wait(QUIET_FOR) is False  # one wake-up rings once

    waker.wake()  # and it keeps listening
    assert alarm.wait(WOKEN_WITHIN) is True


def test_a_waker_of_another_process_object_on_the_same_database_wakes_it(
    database_url: str, alarms: list[Alarm], wakers: list[Waker]
) -> None:
    """The web process and the worker each open the database themselves."""
    worker_db, web_db = Database(database_url), Database(database_url)
    try:
        alarm = listening(Alarm(worker_db), worker_db)
        alarms.append(alarm)
        waker = Waker(web_db)
        wakers.append(waker)
        assert alarm.wait(QUIET_FOR) is False
        waker.wake()
        assert alarm.wait(WOKEN_WITHIN) is True
    finally:
        worker_db.dispose()
        web_db.dispose()


def test_two_sqlite_files_do_not_wake_each_other(
    tmp_path: Path, alarms: list[Alarm], wakers: list[Waker]
) -> None:
    first, second = sqlite_db(tmp_path / "first.db"), sqlite_db(tmp_path / "second.db")
    try:
        assert socket_name(first) != socket_name(second)
        first_alarm, second_alarm = listening(Alarm(first), first), listening(Alarm(second), second)
        alarms.extend([first_alarm, second_alarm])
        first_waker, second_waker = Waker(first), Waker(second)
        wakers.extend([first_waker, second_waker])

        first_waker.wake()
        assert first_alarm.wait(WOKEN_WITHIN) is True
        assert second_alarm.wait(QUIET_FOR) is False

        second_waker.wake()
        assert second_alarm.wait(WOKEN_WITHIN) is True
        assert first_alarm.wait(QUIET_FOR) is False
    finally:
        first.dispose()
        second.dispose()


def test_one_sqlite_file_named_two_ways_is_one_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alarms: list[Alarm], wakers: list[Waker]
) -> None:
    """A relative URL and an absolute one of the same file reach the same workers."""
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    relative, absolute = Database("sqlite:///data/bridge.db"), sqlite_db(tmp_path / "data" / "bridge.db")
    try:
        assert socket_name(relative) == socket_name(absolute)
        alarm = listening(Alarm(absolute), absolute)
        alarms.append(alarm)
        waker = Waker(relative)
        wakers.append(waker)
        waker.wake()
        assert alarm.wait(WOKEN_WITHIN) is True
    finally:
        relative.dispose()
        absolute.dispose()


def test_a_second_alarm_on_one_sqlite_file_logs_and_keeps_going(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, alarms: list[Alarm], wakers: list[Waker]
) -> None:
    db = sqlite_db(tmp_path / "bridge.db")
    try:
        first = listening(Alarm(db), db)
        alarms.append(first)
        with caplog.at_level(logging.WARNING, logger="app.paging.wake"):
            second = Alarm(db)  # a second worker on this machine: the name is taken
        alarms.append(second)
        warnings = [r.getMessage() for r in caplog.records if r.name == "app.paging.wake"]
        assert any(re.search(r"another worker .*listens", m) for m in warnings), warnings
        assert first.listening and not second.listening

        waker = Waker(db)
        wakers.append(waker)
        waker.wake()
        assert first.wait(WOKEN_WITHIN) is True  # the first one still hears the wake-ups
        assert second.wait(QUIET_FOR) is False  # the second one sweeps on its interval instead
        second.ring()  # and can still be woken from inside its own process (stop, reload)
        assert second.wait(WOKEN_WITHIN) is True
        second.close()

        first.close()  # closing frees the name (once its listening thread let go): the next one listens
        wait_until(lambda: not bound(socket_name(db)), timeout=WOKEN_WITHIN, what="the socket name free")
        third = listening(Alarm(db), db)
        alarms.append(third)
        waker.wake()
        assert third.wait(WOKEN_WITHIN) is True
    finally:
        db.dispose()


def test_a_second_alarm_on_one_sqlite_file_listens_once_the_first_is_gone(
    tmp_path: Path, alarms: list[Alarm], wakers: list[Waker]
) -> None:
    """A restarted worker whose predecessor still held the socket for a moment (it was
    stopping) must not stay deaf to the pages handed over for the rest of its life."""
    db = sqlite_db(tmp_path / "bridge.db")
    try:
        first = listening(Alarm(db), db)
        alarms.append(first)
        second = Alarm(db)
        alarms.append(second)
        assert not second.listening
        first.close()

        wait_until(lambda: second.listening, timeout=WOKEN_WITHIN, what="the second alarm listening")
        waker = Waker(db)
        wakers.append(waker)
        waker.submit([11, 12])
        assert second.wait(WOKEN_WITHIN) is True
        handed: list[tuple[bool, list[int]]] = []

        def taken() -> bool:
            handed.extend(second.take())
            return bool(handed)

        wait_until(taken, timeout=WOKEN_WITHIN, what="the ids handed to the second alarm")
        assert handed == [(False, [11, 12])]
    finally:
        db.dispose()


def test_a_waker_with_nothing_to_send_wakes_nobody(
    db: Database, alarms: list[Alarm], wakers: list[Waker]
) -> None:
    alarm, waker = pair(db, alarms, wakers)

    waker.submit([])
    waker.submit(iter([]), quiet=True)
    assert alarm.wait(QUIET_FOR) is False

    waker.submit([1])
    assert alarm.wait(WOKEN_WITHIN) is True

    waker.submit(iter([7]), quiet=True)  # notices wake the worker too (it sends them)
    assert alarm.wait(WOKEN_WITHIN) is True


def test_on_sqlite_the_ids_are_handed_over_in_order(
    tmp_path: Path, alarms: list[Alarm], wakers: list[Waker]
) -> None:
    """The datagrams carry the committed ids, pages and notices apart, however many there are."""
    db = sqlite_db(tmp_path / "bridge.db")
    try:
        alarm = listening(Alarm(db), db)
        alarms.append(alarm)
        waker = Waker(db)
        wakers.append(waker)
        many = list(range(1, 2501))

        waker.submit([3, 1, 2])
        waker.submit(iter([7]), quiet=True)
        waker.submit(many)

        handed: list[tuple[bool, list[int]]] = []

        def all_taken() -> bool:
            handed.extend(alarm.take())
            return sum(len(ids) for _, ids in handed) >= 3 + 1 + len(many)

        wait_until(all_taken, timeout=WOKEN_WITHIN, what="every id handed over")
        # Commits handed over together may share a datagram; pages and notices never do.
        assert [i for quiet, ids in handed if not quiet for i in ids] == [3, 1, 2, *many]
        assert [i for quiet, ids in handed if quiet for i in ids] == [7]
        assert alarm.take() == []  # taken once
    finally:
        db.dispose()


def test_on_sqlite_a_burst_handed_to_a_busy_worker_loses_no_ids(tmp_path: Path, wakers: list[Waker]) -> None:
    db = sqlite_db(tmp_path / "bridge.db")
    busy = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # a worker not reading for a moment
    try:
        busy.bind(socket_name(db))
        waker = Waker(db)
        wakers.append(waker)
        burst = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text()) + 20

        def commit_burst() -> None:
            for notification_id in range(1, burst + 1):  # one commit each
                waker.submit([notification_id])

        committing = threading.Thread(target=commit_burst, name="commits", daemon=True)
        committing.start()
        committing.join(QUIET_FOR)  # the worker is busy for that long, then reads again
        busy.settimeout(QUIET_FOR)
        received: list[int] = []
        with contextlib.suppress(TimeoutError):
            while len(received) < burst:
                received += [int(i) for i in busy.recv(65536)[1:].split(b",")]
        committing.join(WOKEN_WITHIN)
        assert received == list(range(1, burst + 1))
    finally:
        busy.close()
        db.dispose()


def test_a_closed_alarm_returns_at_once(db: Database) -> None:
    """A worker told to stop is not held up by its alarm."""
    alarm = listening(Alarm(db), db)
    alarm.close()
    done = threading.Event()

    def wait() -> None:
        alarm.wait(3600)
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    assert done.wait(WOKEN_WITHIN), "wait() kept sleeping after close()"


# --- pages a web process leaves to the workers ----------------------------------------------------
#
# On PostgreSQL the web process writes its pages pending and unclaimed, for whichever worker claims
# them first. On SQLite (one machine, one worker) they are born claimed and their ids handed to
# the worker in the wake-up datagram: it sends them without a write first.


@pytest.fixture
def worker_settings(paging_settings: Settings) -> Settings:
    """A web process that leaves sending to worker processes (what `serve` runs by default); the
    sweep interval is an hour, so whatever a worker sends here it sends because it was woken."""
    return paging_settings.model_copy(update={"delivery": "worker", "sweep_interval_seconds": 3600.0})


@pytest.fixture
def web_client(worker_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(worker_settings)) as test_client:
        yield test_client


@pytest.fixture
def worker(worker_settings: Settings) -> Iterator[Worker]:
    """A worker of the same database, built as `incident-bridge worker` builds it (not running)."""
    built = Worker(worker_settings)
    yield built
    built.close()


def assert_waiting_for_a_worker(rows: list[Notification], db: Database) -> None:
    """Written, not sent: pending for any worker to claim (PostgreSQL), or born claimed for the
    one worker they were handed to (SQLite)."""
    assert rows
    if db.is_sqlite:
        assert {(r.status, r.attempts) for r in rows} == {("sending", 1)}
        assert all(r.claimed_until is not None and r.claimed_until > r.created_at for r in rows)
    else:
        assert {(r.status, r.attempts, r.claimed_until) for r in rows} == {("pending", 0, None)}
    assert all(r.delivered_at is None and r.next_attempt_at <= r.created_at for r in rows)


def wait_delivered(client: TestClient, incident_id: int) -> list[Notification]:
    def delivered() -> list[Notification] | None:
        rows = notifications(client, incident_id)
        return rows if rows and all(r.status == "delivered" for r in rows) else None

    rows = wait_until(delivered, timeout=HANG_GUARD, what="the pages recorded delivered")
    assert rows is not None
    return rows


def test_pages_of_a_web_process_wait_for_a_worker(
    web_client: TestClient, worker: Worker, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    alarm = listening(worker.alarm, worker.db)

    incident_id = fire_one(web_client, fixture_body(1))

    assert alarm.wait(WOKEN_WITHIN) is True  # the web process woke the worker after its commit
    rows = notifications(web_client, incident_id)
    assert sorted((r.recipient, r.channel, r.kind) for r in rows) == [
        ("alice", "email", "page"),
        ("alice", "webhook", "page"),
    ]
    assert_waiting_for_a_worker(rows, db_of(web_client))
    if worker.db.is_sqlite:  # handed over with the wake-up, pages first
        assert alarm.take() == [(False, [r.id for r in rows])]
    else:
        assert alarm.take() == []
    # The web process sends nothing itself.
    with pytest.raises(AssertionError):
        receiver.wait_for(1, timeout=QUIET_FOR)
    assert smtp.messages == []
    assert_waiting_for_a_worker(notifications(web_client, incident_id), db_of(web_client))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_worker_sweep_claims_and_delivers_the_pages_once(
    web_client: TestClient, worker: Worker, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    incident_id = fire_one(web_client, fixture_body(1))
    assert {(r.status, r.attempts) for r in notifications(web_client, incident_id)} == {("pending", 0)}

    assert worker.dispatcher.sweep() == 2  # claims both pages

    (hook,) = receiver.wait_for(1, "/alice", timeout=HANG_GUARD)
    (mail,) = smtp.wait_for(1, timeout=HANG_GUARD)
    rows = wait_delivered(web_client, incident_id)
    assert [(r.status, r.attempts, r.claimed_until) for r in rows] == [("delivered", 1, None)] * 2
    assert hook.json["event"] == "page" and hook.json["incident"]["id"] == incident_id
    assert {hook.delivery_id, mail.delivery_id} == {r.delivery_id for r in rows}

    assert worker.dispatcher.sweep() == 0  # nothing left to claim
    assert len(receiver.at()) == 1 and len(smtp.messages) == 1
    # The timeline says who was notified, as with pages the web process sends itself.
    detail = web_client.get(f"/api/v1/incidents/{incident_id}").json()
    assert sorted(e["data"]["channel"] for e in detail["timeline"] if e["kind"] == "notified") == [
        "email",
        "webhook",
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_a_worker_adopts_the_pages_handed_over_before_it_listened(
    web_client: TestClient, worker_settings: Settings, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    """No worker listened when they were committed (it was starting, or restarting): the outbox
    kept them, born claimed for a worker that never heard of them. The worker that then listens
    takes them over as it starts, without waiting for their claim to run out; another one, which
    could not listen, leaves them alone."""
    incident_id = fire_one(web_client, fixture_body(1))  # its hand-over reached nobody
    rows = notifications(web_client, incident_id)
    assert_waiting_for_a_worker(rows, db_of(web_client))

    late = Worker(worker_settings)
    other = Worker(worker_settings)  # a second worker of the file: not the one pages are handed to
    loop = threading.Thread(target=late.run, name="worker-loop", daemon=True)
    try:
        assert late.alarm.listening and not other.alarm.listening
        assert other.dispatcher.sweep() == 0  # claimed for another worker: not its to take
        loop.start()
        # Well within the claim's 60 seconds: the worker did not wait for it to run out.
        (hook,) = receiver.wait_for(1, "/alice", timeout=ADOPTED_WITHIN)
        (mail,) = smtp.wait_for(1, timeout=ADOPTED_WITHIN)
        rows = wait_delivered(web_client, incident_id)
        assert {hook.delivery_id, mail.delivery_id} == {r.delivery_id for r in rows}
        assert other.dispatcher.sweep() == 0
    finally:
        late.stop.set()
        late.alarm.ring()
        if loop.is_alive():
            loop.join(HANG_GUARD)
        else:
            late.close()
        other.close()
    assert len(receiver.at()) == 1 and len(smtp.messages) == 1


def test_a_running_worker_is_woken_by_the_web_process_and_sends(
    web_client: TestClient, worker: Worker, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    """The worker's loop sends the pages as soon as it is woken (its sweep interval is an hour)."""
    listening(worker.alarm, worker.db)
    loop = threading.Thread(target=worker.run, name="worker-loop", daemon=True)
    loop.start()
    try:
        incident_id = fire_one(web_client, fixture_body(1))

        (hook,) = receiver.wait_for(1, "/alice", timeout=HANG_GUARD)
        smtp.wait_for(1, timeout=HANG_GUARD)
        assert hook.json["incident"]["id"] == incident_id
        rows = wait_delivered(web_client, incident_id)
        assert {hook.delivery_id} < {r.delivery_id for r in rows}
    finally:
        worker.stop.set()
        worker.alarm.ring()
        loop.join(HANG_GUARD)
    assert not loop.is_alive()
    assert len(receiver.at("/alice")) == 1 and len(smtp.messages) == 1


def send_backlog(settings: Settings, receiver: HttpReceiver, smtp: SmtpServer) -> None:
    """Five incidents (ten pages: alice's email and webhook) committed while no worker listened,
    more than a worker with one sending thread takes in one sweep (four); then a worker starts.
    It sends them all, one sweep after another, without waiting for its sweep interval (an
    hour) or for a claim to run out (60 s)."""
    settings = settings.model_copy(update={"dispatch_workers": 1})
    with TestClient(create_app(settings)) as web:
        opened = [fire_one(web, alert_body(model=f"backlog-model-{i}")) for i in range(5)]
        assert len(notifications(web)) == 10

        late = Worker(settings)
        loop = threading.Thread(target=late.run, name="worker-loop", daemon=True)
        loop.start()
        try:
            hooks = receiver.wait_for(5, "/alice", timeout=BACKLOG_WITHIN)
            smtp.wait_for(5, timeout=BACKLOG_WITHIN)
            assert sorted(h.json["incident"]["id"] for h in hooks) == sorted(opened)
        finally:
            late.stop.set()
            late.alarm.ring()
            loop.join(HANG_GUARD)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_a_worker_adopts_more_pages_than_it_takes_in_one_sweep(
    worker_settings: Settings, receiver: HttpReceiver, smtp: SmtpServer
) -> None:
    send_backlog(worker_settings, receiver, smtp)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_worker_comes_back_for_the_rest_of_a_backlog(
    worker_settings: Settings, receiver: HttpReceiver, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Here the outcomes of the sends take a while to be recorded (a busy database): the sends
    are done, and the worker has room for more, before they are."""
    monkeypatch.setattr(delivery, "RECORD_LINGER", 2.0)
    send_backlog(worker_settings, receiver, smtp)
