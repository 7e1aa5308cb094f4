"""On-call fixtures: a database, intake and escalation driven at chosen instants (night, working
hours), and a dispatcher whose clock the tests set. Nothing is mocked: pages go by the `log`
channel, which writes them to the service's log."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.alerts.schemas import AlertIn, labelset_fingerprint
from app.catalog.loader import Catalog
from app.config import Settings
from app.db import Database
from app.flows.intake import ingest
from app.instance.keys import derive
from app.models import Escalation, Incident, IncidentEvent, Notification
from app.paging import service as paging
from app.paging.delivery import Dispatcher

PAGE_LOGGER = "incident_bridge.page"
PUBLIC_URL = "http://bridge.test"


def alert(alertname: str, model: str, severity: str, starts: datetime, **labels: str) -> AlertIn:
    merged = {"alertname": alertname, "model": model, "severity": severity, **labels}
    return AlertIn(
        fingerprint=labelset_fingerprint(merged),
        status="firing",
        labels=merged,
        annotations={"summary": f"{alertname} on {model}"},
        starts_at=starts,
        ends_at=None,
    )


def open_at(db: Database, catalog: Catalog, now: datetime, *alerts: AlertIn) -> int:
    """Ingest one webhook of these alerts at `now`; the id of the one incident they touched."""
    with db.session(write=True) as session:
        outcome = ingest(session, catalog, [list(alerts)], now, PUBLIC_URL)
    (incident_id,) = outcome.incident_ids[0]
    return incident_id


def escalate_at(db: Database, catalog: Catalog, now: datetime) -> list[int]:
    """Run the escalation job's logic at `now`; the ids of the pages it wrote."""
    with db.session(write=True) as session:
        rows = paging.run_escalations(session, catalog.oncall, now)
        session.flush()
        return [row.id for row in rows]


def pages(db: Database, incident_id: int) -> list[Notification]:
    """Pages (kind page or severity) of an incident, oldest first."""
    with db.session() as session:
        query = (
            select(Notification)
            .where(Notification.incident_id == incident_id, Notification.kind.in_(("page", "severity")))
            .order_by(Notification.id)
        )
        return list(session.scalars(query))


def escalation(db: Database, incident_id: int) -> Escalation:
    with db.session() as session:
        row = session.get(Escalation, incident_id)
        assert row is not None
        return row


def incident(db: Database, incident_id: int) -> Incident:
    with db.session() as session:
        row = session.get(Incident, incident_id)
        assert row is not None
        return row


def events(db: Database, incident_id: int, kind: str) -> list[str]:
    with db.session() as session:
        query = (
            select(IncidentEvent.message)
            .where(IncidentEvent.incident_id == incident_id, IncidentEvent.kind == kind)
            .order_by(IncidentEvent.id)
        )
        return list(session.scalars(query))


class Clock:
    """The dispatcher's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def dispatcher(db: Database, catalog: Catalog, clock: Clock, database_url: str) -> Dispatcher:
    settings = Settings(
        database_url=database_url,
        public_url=PUBLIC_URL,
        run_jobs=False,
        _env_file=None,
    )
    keys = derive("on-call tests master key, long enough 0123456789")
    return Dispatcher(db, lambda: catalog, settings, httpx.Client(), lambda: keys, clock=clock)


@pytest.fixture
def page_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=PAGE_LOGGER)
    return caplog


def logged_pages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The first line of each page written to the log: `page for alice: ...`."""
    return [
        r.getMessage() for r in caplog.records if r.name == PAGE_LOGGER and not r.getMessage().startswith(" ")
    ]


def shipped_copy(tmp_path: Path, root: Path) -> Path:
    """The shipped rules directory, copied so a test may edit it."""
    target = tmp_path / "rules"
    shutil.copytree(root / "rules", target)
    return target
