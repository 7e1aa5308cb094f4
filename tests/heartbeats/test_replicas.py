"""Two replicas run the heartbeat check at the same moment on one database: each silence opens
one incident and pages once, and each beat resolves it once. SQLite and PostgreSQL (where the
replicas really run side by side: the row claims and the incident key keep them apart)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.catalog.loader import Catalog, load_catalog
from app.db import Database, utcnow
from app.flows import heartbeats as flows
from app.models import Incident, Notification
from tests.heartbeats.conftest import PLATFORM_YAML, write_heartbeats
from tests.paging.conftest import oncall_yaml

NAMES = [f"job-{n:02d}" for n in range(12)]
REPLICAS = 2
ROUNDS = 3


@pytest.fixture
def catalog(rules_dir: Path, runbooks_dir: Path) -> Catalog:
    items = "".join(f"  - name: {name}\n    interval: 10m\n" for name in NAMES)
    write_heartbeats(rules_dir, "heartbeats:\n" + items)
    # Contacts nobody listens on: these replicas write pages and send none.
    (rules_dir / "oncall.yaml").write_text(oncall_yaml("http://127.0.0.1:9"))
    (rules_dir / "61-platform.yaml").write_text(PLATFORM_YAML)
    return load_catalog(rules_dir, runbooks_dir)


@pytest.fixture
def replicas(database_url: str) -> Iterator[list[Database]]:
    # Pages wait in the outbox for a worker, as on PostgreSQL with workers: nothing is sent here.
    dbs = [Database(database_url, pages_born_claimed=False) for _ in range(REPLICAS)]
    yield dbs
    for db in dbs:
        db.dispose()


def all_at_once(dbs: list[Database], catalog: Catalog, when: datetime) -> int:
    """Every replica runs the check at `when` at the same moment; how many changes in all."""
    start = threading.Barrier(len(dbs))
    changed: list[int] = []

    def run(db: Database) -> None:
        start.wait()
        changed.append(flows.check(db, lambda: catalog, "http://bridge.test", None, lambda: when))

    threads = [threading.Thread(target=run, args=(db,)) for db in dbs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(changed) == len(dbs)
    return sum(changed)


def counts(db: Database) -> tuple[int, int, int]:
    """Incidents, open incidents, and page rows."""
    with db.session() as session:
        incidents = session.scalar(select(func.count()).select_from(Incident)) or 0
        open_ = session.scalar(select(func.count()).where(Incident.status == "triggered")) or 0
        pages = session.scalar(select(func.count()).where(Notification.kind == "page")) or 0
    return incidents, open_, pages


def test_replicas_open_one_incident_per_silence_and_resolve_it_once(
    replicas: list[Database], catalog: Catalog
) -> None:
    start = utcnow()
    assert all_at_once(replicas, catalog, start) == 0  # declared by whichever came first
    flows.record_beats(replicas[0], NAMES, start)  # armed by a first beat
    moment = start
    for round_ in range(1, ROUNDS + 1):
        moment += timedelta(minutes=10, seconds=1)
        assert all_at_once(replicas, catalog, moment) == len(NAMES)
        incidents, open_, pages = counts(replicas[0])
        # Each silence opens (the first round) or reopens (a flap, later rounds) one incident,
        # and pages alice by email and webhook once.
        assert (incidents, open_, pages) == (len(NAMES), len(NAMES), 2 * len(NAMES) * round_)

        moment += timedelta(minutes=1)
        for db in replicas:
            flows.record_beats(db, NAMES, moment)
        assert all_at_once(replicas, catalog, moment + timedelta(seconds=1)) == len(NAMES)
        assert counts(replicas[0])[:2] == (len(NAMES), 0)
