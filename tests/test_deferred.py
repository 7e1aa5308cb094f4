"""Writes deferred to the commit: on PostgreSQL sent together in one pipeline after the unit of
work's flush, in the same transaction; on SQLite run at once. A failing one fails the commit
as a SQLAlchemy error, and nothing of the transaction is kept."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import deferred
from app.alerts.schemas import AlertIn
from app.catalog.loader import load_catalog
from app.db import Database, is_conflict
from app.flows.intake import ingest
from app.incidents import repository
from app.incidents import service as incidents
from app.incidents.service import line
from app.models import Alert, Incident, IncidentEvent
from tests.conftest import is_postgres
from tests.support import ROOT, open_one_incident

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@contextmanager
def statements() -> Iterator[list[tuple[str, bool]]]:
    """Each statement sent, and whether it went in a pipeline (PostgreSQL)."""
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        pgconn = getattr(dbapi, "pgconn", None)
        seen.append((" ".join(statement.split()), bool(pgconn is not None and pgconn.pipeline_status)))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def firing(fingerprint: str = "f1") -> AlertIn:
    return AlertIn(
        fingerprint=fingerprint,
        status="firing",
        labels={"alertname": "ModelAccuracyDrop", "model": "fraud-scorer"},
        annotations={},
        starts_at=T0,
        ends_at=None,
    )


def _incident(db: Database) -> int:
    return open_one_incident(db, T0)


def test_a_batch_sends_its_last_writes_in_one_pipeline_on_postgresql(db: Database) -> None:
    incident_id = _incident(db)
    catalog = load_catalog(ROOT / "rules", ROOT / "runbooks")
    with statements() as seen, db.session(write=True) as session:
        # A repeat (the alert row's UPDATE) and a new series (its INSERT, the incident's counters).
        ingest(session, catalog, [[firing("f1")], [firing("f2")]], T0, "http://bridge.test")
        waiting = deferred.pending(session)
    writes = [(s, piped) for s, piped in seen if s.startswith(("UPDATE", "INSERT"))]
    assert {" ".join(s.split()[:3]) for s, _ in writes} >= {"UPDATE alert SET", "INSERT INTO alert"}
    assert any(s.startswith("UPDATE incident SET alert_count") for s, _ in writes)
    if is_postgres(db.url):
        assert waiting >= 2  # the alert rows' writes waited for the commit
        assert all(piped for _, piped in writes)  # all sent together, one round trip
    else:
        assert waiting == 0 and not any(piped for _, piped in writes)  # SQLite: at once
    with db.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and (incident.alert_count, incident.firing_count) == (2, 2)
        fingerprints = session.scalars(select(Alert.fingerprint).order_by(Alert.id)).all()
    assert fingerprints == ["f1", "f2"]


def test_deferred_writes_go_after_the_flush_and_commit_with_it(db: Database) -> None:
    incident_id = _incident(db)
    with db.session(write=True) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        incident.title = "renamed"  # flushed by the unit of work, before the deferred write
        lines = [line(incident_id, "note", "tester", T0, "deferred line")]
        repository.insert_events(session, lines, at_commit=True)
    with db.session() as session:
        assert session.get(Incident, incident_id).title == "renamed"  # type: ignore[union-attr]
        messages = session.scalars(select(IncidentEvent.message).where(IncidentEvent.kind == "note")).all()
    assert messages == ["deferred line"]


@pytest.mark.parametrize("failing", ["first", "last"])
def test_a_failing_deferred_write_fails_the_commit_and_keeps_nothing(db: Database, failing: str) -> None:
    if not is_postgres(db.url):
        pytest.skip("SQLite runs them at once: the statement itself raises")
    incident_id = _incident(db)
    bad = update(Incident).where(Incident.id == incident_id).values(alert_count=text("1 / 0"))
    good = update(Incident).where(Incident.id == incident_id).values(title="changed")
    with pytest.raises(DBAPIError) as raised, db.session(write=True) as session:
        session.get(Incident, incident_id).title = "renamed"  # type: ignore[union-attr]
        for statement in [bad, good] if failing == "first" else [good, good, bad]:
            deferred.write(session, statement, {})
    assert "division by zero" in str(raised.value)
    with db.session() as session:
        assert session.get(Incident, incident_id).title != "renamed"  # type: ignore[union-attr]
        assert session.get(Incident, incident_id).title != "changed"  # type: ignore[union-attr]


def test_a_rollback_drops_the_deferred_writes(db: Database) -> None:
    incident_id = _incident(db)
    changed = update(Incident).where(Incident.id == incident_id).values(title="changed")
    with db.session(write=True) as session:
        deferred.write(session, changed, {})
        session.rollback()
        assert deferred.pending(session) == 0
    with db.session() as session:
        title = session.get(Incident, incident_id).title  # type: ignore[union-attr]
    assert title != "changed"


def _pipeline_on(conn: Any) -> bool:
    return bool(conn.connection.dbapi_connection.pgconn.pipeline_status)


def test_the_commit_goes_last_in_the_pipeline_of_the_deferred_writes(db: Database, pg: str) -> None:
    incident_id = _incident(db)
    sent: list[tuple[str, bool]] = []
    at_commit: list[Any] = []  # the transaction's state when SQLAlchemy commits

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append((statement.split()[0], _pipeline_on(conn)))

    event.listen(db.engine, "before_cursor_execute", record)
    event.listen(
        db.engine,
        "commit",
        lambda conn: at_commit.append(conn.connection.dbapi_connection.info.transaction_status),
    )
    changed = update(Incident).where(Incident.id == incident_id).values(title="changed")
    with db.session(write=True) as session:
        session.execute(select(Incident.id))  # the transaction has begun
        deferred.write(session, changed, {})
    assert sent == [("SELECT", False), ("UPDATE", True), ("COMMIT", True)]
    # Ended by the COMMIT of the pipeline: the driver's commit has nothing left to send.
    assert at_commit == [psycopg.pq.TransactionStatus.IDLE]
    sent.clear()
    with db.session(write=True) as session:
        deferred.write(session, changed.values(title="again"), {})  # nothing sent before: BEGIN joins
    assert sent == [("UPDATE", True), ("COMMIT", True)]
    with db.session() as session:
        assert session.get(Incident, incident_id).title == "again"  # type: ignore[union-attr]


def test_a_change_after_the_commit_went_out_is_refused(db: Database, pg: str) -> None:
    incident_id = _incident(db)
    changed = update(Incident).where(Incident.id == incident_id).values(title="changed")

    def late_change(session: Any) -> None:
        session.get(Incident, incident_id).title = "too late"

    event.listen(Session, "before_commit", late_change)  # runs after the deferred writes' hook
    try:
        with (
            pytest.raises(RuntimeError, match="after the deferred writes"),
            db.session(write=True) as session,
        ):
            deferred.write(session, changed, {})
    finally:
        event.remove(Session, "before_commit", late_change)
    with db.session() as session:
        assert session.get(Incident, incident_id).title == "changed"  # type: ignore[union-attr]


def test_the_key_lock_goes_with_begin_in_one_round_trip(db: Database, pg: str) -> None:
    locks: list[tuple[bool, Any]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "pg_advisory_xact_lock" in statement:
            dbapi = conn.connection.dbapi_connection
            locks.append((_pipeline_on(conn), dbapi.info.transaction_status))

    event.listen(db.engine, "before_cursor_execute", record)
    with db.session(write=True) as session:
        incidents.lock_keys(session, ["a-key", "another"])
    # Sent in a pipeline before the transaction began: psycopg's BEGIN went with it.
    assert locks == [(True, psycopg.pq.TransactionStatus.IDLE)]


@pytest.mark.parametrize("failing", ["first", "last"])
def test_a_conflict_in_a_deferred_write_is_one_to_retry(db: Database, pg: str, failing: str) -> None:
    incident_id = _incident(db)
    with db.session(write=True) as session:
        session.execute(
            text(
                "CREATE OR REPLACE FUNCTION conflicted() RETURNS int LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'lost a race' USING ERRCODE = '40001'; END $$"
            )
        )
    bad = update(Incident).where(Incident.id == incident_id).values(alert_count=text("conflicted()"))
    good = update(Incident).where(Incident.id == incident_id).values(title="changed")
    with pytest.raises(DBAPIError) as raised, db.session(write=True) as session:
        session.execute(select(Incident.id))
        for statement in [bad, good] if failing == "first" else [good, bad]:
            deferred.write(session, statement, {})
    assert is_conflict(raised.value), raised.value  # the writer retries it, as any conflict
    with db.session(write=True) as session:  # the connection is fit for the next transaction
        session.execute(text("DROP FUNCTION conflicted()"))
        assert session.get(Incident, incident_id).title != "changed"  # type: ignore[union-attr]


def test_changes_pending_before_a_pipeline_are_flushed_first(db: Database, pg: str) -> None:
    incident_id = _incident(db)
    with db.session(write=True) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        incident.title = "pending"  # would autoflush inside the pipeline, where no result is read
        incidents.lock_keys(session, [incident.key])
        assert (
            session.execute(select(Incident.title).where(Incident.id == incident_id)).scalar_one()
            == "pending"
        )


def test_a_deferred_write_with_an_expanding_in_is_refused_before_anything_is_sent(
    db: Database, pg: str
) -> None:
    incident_id = _incident(db)
    renamed = update(Incident).where(Incident.id.in_([incident_id])).values(title="changed")
    with pytest.raises(ValueError, match="as arrays"), db.session(write=True) as session:
        deferred.write(session, renamed, {})
    with db.session() as session:
        assert session.get(Incident, incident_id).title != "changed"  # type: ignore[union-attr]
