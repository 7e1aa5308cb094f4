"""Two bridge processes on one PostgreSQL database: every page goes out exactly once.

Both replicas take webhooks, send pages right after commit, and run their own escalation and
retry sweepers every half second. The receiver fails the first attempt of every page, so the
sweepers of both processes race for each retry; the claims must let exactly one of them send it.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from app.cli import migrate
from app.db import normalize_url
from app.models import Notification
from tests.paging.conftest import HttpReceiver, SmtpServer, alert_body, wait_until
from tests.support import PG_SERVER_URL, BridgeProcess, PgServer, metric_value, require_postgres

INCIDENTS = 30


@pytest.fixture
def replica_database(pg_server: PgServer | None) -> Iterator[str]:
    """A fresh database created on the server for this test, dropped afterwards."""
    require_postgres(PG_SERVER_URL)
    assert pg_server is not None
    url = pg_server.create("bridge_replicas")
    try:
        migrate(url)  # once, before the replicas start, so they do not race on the schema
        yield url
    finally:
        pg_server.drop(url)


@pytest.fixture
def replica_engine(replica_database: str) -> Iterator[Engine]:
    engine = create_engine(normalize_url(replica_database))
    yield engine
    engine.dispose()


@pytest.fixture
def replicas(
    replica_database: str,
    oncall_rules_dir: Path,
    receiver: HttpReceiver,
    smtp: SmtpServer,
    runbooks_dir: Path,
    tmp_path: Path,
) -> Iterator[list[BridgeProcess]]:
    settings = {
        "BRIDGE_DATABASE_URL": replica_database,
        "BRIDGE_RULES_DIR": str(oncall_rules_dir),
        "BRIDGE_RUNBOOKS_DIR": str(runbooks_dir),
        "BRIDGE_PUBLIC_URL": "http://bridge.test",
        "BRIDGE_ESCALATION_INTERVAL_SECONDS": "0.5",
        "BRIDGE_SWEEP_INTERVAL_SECONDS": "0.5",
        "BRIDGE_LOG_LEVEL": "warning",
        "BRIDGE_SMTP_HOST": smtp.host,
        "BRIDGE_SMTP_PORT": str(smtp.port),
        "BRIDGE_PAGERDUTY_EVENTS_URL": f"{receiver.url}/pagerduty",
        "BRIDGE_PAGE_MAX_ATTEMPTS": "3",
    }
    started = [BridgeProcess(tmp_path, f"replica-{index}") for index in range(2)]
    try:
        for replica in started:  # both start at once, then both must become ready
            replica.start(settings, wait=False)
        for replica in started:
            replica.wait_ready()
        yield started
    finally:
        for replica in started:
            replica.stop()


def test_every_page_is_delivered_exactly_once_across_two_replicas(
    replicas: list[BridgeProcess], receiver: HttpReceiver, smtp: SmtpServer, replica_engine: Engine
) -> None:
    seen: set[str] = set()
    lock = threading.Lock()

    def fail_first_attempt(path: str, headers: dict[str, str], body: bytes) -> int | None:
        delivery = headers.get("x-incident-bridge-delivery")
        if delivery is None:
            return None
        with lock:
            if delivery in seen:
                return None
            seen.add(delivery)
            return 500

    receiver.decide = fail_first_attempt
    barrier = threading.Barrier(INCIDENTS)

    def open_incident(i: int) -> list[int]:
        body = alert_body(model=f"replica-model-{i:02d}")
        with httpx.Client(base_url=replicas[i % 2].url, timeout=30) as client:
            barrier.wait(10)
            response = client.post("/webhooks/alertmanager", json=body)
        assert response.status_code == 200, response.text
        incidents: list[int] = response.json()["incidents"]
        return incidents

    with ThreadPoolExecutor(INCIDENTS) as pool:
        opened = list(pool.map(open_incident, range(INCIDENTS)))
    assert sorted(len(ids) for ids in opened) == [1] * INCIDENTS
    assert len({ids[0] for ids in opened}) == INCIDENTS

    def rows() -> list[Notification]:
        with Session(replica_engine) as session:
            return list(session.scalars(select(Notification)))

    def settled() -> bool:
        current = rows()
        return len(current) == 2 * INCIDENTS and all(r.status == "delivered" for r in current)

    wait_until(settled, timeout=60, what="every page delivered")
    wait_until(lambda: len(receiver.at("/alice")) >= 2 * INCIDENTS, what="every retry at the receiver")

    # Counted while both processes still serve; a page sent twice would show up in the sum.
    for outcome in ("retried", "delivered"):
        per_replica = [
            metric_value(r.metrics(), "bridge_notifications_total", channel="webhook", outcome=outcome)
            for r in replicas
        ]
        print(f"webhook pages {outcome} per replica: {per_replica}")
        assert sum(per_replica) == INCIDENTS
    # Then both stop gracefully: shutdown waits for the schedulers and drains the dispatchers,
    # so once they have exited, every send either replica ever started has reached the receiver.
    for replica in replicas:
        assert replica.running(), replica.output()
    for replica in replicas:
        output = replica.stop()
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete; SIGKILL means it hung.
        assert replica.returncode in (0, -signal.SIGTERM), output

    requests = receiver.at("/alice")
    statuses: dict[str, list[int]] = {}
    for request in requests:
        assert request.delivery_id is not None
        statuses.setdefault(request.delivery_id, []).append(request.status)
    delivered = [r for r in rows() if r.channel == "webhook"]
    assert len(delivered) == INCIDENTS
    assert all((r.status, r.attempts) == ("delivered", 2) for r in delivered)
    assert {r.delivery_id for r in delivered} == set(statuses)
    assert all(s == [500, 200] for s in statuses.values()), statuses
    ok = Counter(r.delivery_id for r in requests if r.status == 200)
    assert ok and max(ok.values()) == 1 and len(ok) == INCIDENTS

    mails = smtp.messages
    email_rows = [r for r in rows() if r.channel == "email"]
    assert len(mails) == INCIDENTS
    assert sorted(m.delivery_id for m in mails) == sorted(r.delivery_id for r in email_rows)
