"""The outbox sweep claims due pages with one statement: the oldest first, at most `limit`,
retries once due and pages a crashed sender left (its lease ran out); on PostgreSQL, two
claimers at once take different rows (SKIP LOCKED)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from app.db import Database
from app.models import Notification
from app.paging import repository
from app.paging.repository import LEASE
from app.vocabulary import DELIVERED, PENDING, SENDING
from tests.conftest import is_postgres
from tests.support import open_one_incident, statements

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _incident(db: Database) -> int:
    incident_id = open_one_incident(db, T0)
    with db.session(write=True) as session:
        session.execute(delete(Notification))  # the pages it wrote: each test writes its own
    return incident_id


def _pages(db: Database, incident_id: int, *rows: tuple[str, timedelta, timedelta | None]) -> list[int]:
    """Pages of (status, next attempt after T0, lease end after T0); their ids in that order."""
    with db.session(write=True) as session:
        made = [
            Notification(
                incident_id=incident_id,
                delivery_id=str(uuid.uuid4()),
                recipient="alice",
                channel="webhook",
                contact_ref={"person": "alice", "channel": "webhook"},
                kind="page",
                status=status,
                attempts=0,
                next_attempt_at=T0 + due,
                claimed_until=None if lease is None else T0 + lease,
                created_at=T0,
            )
            for status, due, lease in rows
        ]
        session.add_all(made)
        session.flush()
        return [n.id for n in made]


def test_the_oldest_due_pages_are_claimed_first_and_no_more_than_asked(db: Database) -> None:
    incident_id = _incident(db)
    late, early, later, future = _pages(
        db,
        incident_id,
        (PENDING, timedelta(seconds=-10), None),
        (PENDING, timedelta(seconds=-30), None),
        (PENDING, timedelta(seconds=-5), None),
        (PENDING, timedelta(seconds=30), None),  # a retry not due yet
    )
    with statements() as seen, db.session(write=True) as session:
        claimed = repository.claim_due(session, T0, LEASE, limit=2)
    assert [i for i, _ in claimed] == [early, late]
    assert [kind for _, kind in claimed] == ["page", "page"]
    assert [s.split()[0] for s in seen if s.startswith(("SELECT", "UPDATE"))] == [
        "UPDATE"
    ]  # chosen and claimed at once
    with db.session() as session:
        rows = {n.id: n for n in session.scalars(select(Notification))}
    assert {i: (rows[i].status, rows[i].attempts) for i in (early, late)} == {
        early: (SENDING, 1),
        late: (SENDING, 1),
    }
    assert rows[early].claimed_until == T0 + LEASE
    assert (rows[later].status, rows[future].status) == (PENDING, PENDING)
    with db.session(write=True) as session:
        assert [i for i, _ in repository.claim_due(session, T0, LEASE, limit=10)] == [later]


def test_a_lapsed_lease_is_claimed_and_a_live_one_only_when_adopting(db: Database) -> None:
    incident_id = _incident(db)
    lapsed, live, done = _pages(
        db,
        incident_id,
        (SENDING, timedelta(seconds=-120), timedelta(seconds=-1)),  # its sender crashed
        (SENDING, timedelta(seconds=-60), timedelta(seconds=50)),  # being sent right now
        (DELIVERED, timedelta(seconds=-90), None),
    )
    with db.session(write=True) as session:
        assert [i for i, _ in repository.claim_due(session, T0, LEASE, limit=10)] == [lapsed]
    with db.session(write=True) as session:
        adopted = repository.claim_due(session, T0, LEASE, limit=10, adopt=True)
    assert [i for i, _ in adopted] == [lapsed, live]  # the one starting worker of a SQLite file
    with db.session() as session:
        assert session.get(Notification, done).status == DELIVERED  # type: ignore[union-attr]


def test_two_claimers_at_once_take_different_pages(db: Database) -> None:
    if not is_postgres(db.url):
        pytest.skip("SQLite has one writer at a time")
    incident_id = _incident(db)
    ids = _pages(db, incident_id, *[(PENDING, timedelta(seconds=-i), None) for i in range(1, 5)])
    other = Database(db.url)
    try:
        with db.session(write=True) as first:
            mine = repository.claim_due(first, T0, LEASE, limit=2)  # locked until this commits
            with other.session(write=True) as second:
                theirs = repository.claim_due(second, T0, LEASE, limit=10)
    finally:
        other.dispose()
    assert len(mine) == 2 and len(theirs) == 2
    assert sorted(i for i, _ in mine + theirs) == sorted(ids)


def test_a_claimed_page_is_read_with_its_incident_in_one_statement(db: Database) -> None:
    incident_id = _incident(db)
    (page,) = _pages(db, incident_id, (SENDING, timedelta(0), LEASE))
    with db.session() as session, statements() as sent:
        found = repository.with_incident(session, page)
        missing = repository.with_incident(session, page + 1000)
    assert found is not None and missing is None
    row, incident = found
    assert (row.id, row.status, incident.id, incident.model) == (page, SENDING, incident_id, "fraud-scorer")
    assert [s.split()[0] for s in sent if not s.startswith("BEGIN")] == ["SELECT", "SELECT"], sent
