"""Reads sent in a pipeline (`deferred.read`): on PostgreSQL the statement goes with the others of
the block and its rows are there once the block ends, with the columns' types applied as
SQLAlchemy applies them; without a pipeline, and on SQLite, it runs at once. Intake sends the
batch's key lock and its alert rows' read together, with BEGIN: one round trip."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, Integer, bindparam, event, literal_column, select, text
from sqlalchemy.exc import DBAPIError

from app import deferred
from app.alerts import repository as alert_rows
from app.alerts.schemas import AlertIn
from app.catalog.loader import load_catalog
from app.communications import facts
from app.communications import repository as communications_repo
from app.db import Database, track
from app.flows.intake import ingest
from app.incidents import harm
from app.incidents import repository as incidents_repo
from app.incidents import service as incidents
from app.models import Alert, Incident, IncidentMoment
from tests.support import ROOT

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@contextmanager
def sent() -> Iterator[list[tuple[str, object | None, Any]]]:
    """Each statement sent: its SQL, the pipeline it went in (None: none) and the transaction's
    state before it (PostgreSQL)."""
    seen: list[tuple[str, object | None, Any]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        status = dbapi.info.transaction_status if hasattr(dbapi, "info") else None
        seen.append((" ".join(statement.split()), getattr(dbapi, "_pipeline", None), status))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def alert(fingerprint: str, annotations: dict[str, str] | None = None) -> AlertIn:
    return AlertIn(
        fingerprint=fingerprint,
        status="firing",
        labels={"alertname": "ModelAccuracyDrop", "model": "fraud-scorer"},
        annotations=annotations or {},
        starts_at=T0,
        ends_at=None,
    )


def _store(db: Database, *alerts: AlertIn) -> None:
    catalog = load_catalog(ROOT / "rules", ROOT / "runbooks")
    with db.session(write=True) as session:
        ingest(session, catalog, [list(alerts)], T0, "http://bridge.test")


def test_a_read_gives_the_rows_sqlalchemy_gives_in_a_pipeline_or_not(db: Database) -> None:
    _store(db, alert("f1", {"summary": "accuracy fell", "nested": "ok"}), alert("f2"))
    statement = alert_rows._NEWEST if db.is_sqlite else alert_rows._NEWEST_PG
    params = {"fingerprints": ["f1", "f2", "unknown"]}
    with db.session(write=True) as session:
        expected = sorted(tuple(r) for r in session.execute(statement, params))
        outside = deferred.read(session, statement, params)
        with deferred.pipeline(session):
            inside = deferred.read(session, statement, params)
        rows = sorted(inside.rows())
    assert len(expected) == 2
    assert rows == expected
    assert sorted(outside.rows()) == expected
    by_fingerprint = {r[2]: r for r in rows}
    assert by_fingerprint["f1"][6] == {"summary": "accuracy fell", "nested": "ok"}  # JSON, decoded
    assert by_fingerprint["f1"][4] == T0 and by_fingerprint["f1"][4].tzinfo is not None  # UTC-aware


def test_a_read_goes_in_the_pipeline_with_begin_and_the_lock(db: Database, pg: str) -> None:
    _store(db, alert("f1"))
    with sent() as seen, db.session(write=True) as session:
        with deferred.pipeline(session):
            incidents.lock_keys(session, ["a-key"])  # its own pipeline block joins this one
            found = deferred.read(session, alert_rows._NEWEST_PG, {"fingerprints": ["f1"]})
            assert not found._cursor.pgresult  # nothing answered before the block ends
        assert [r[2] for r in found.rows()] == ["f1"]
    lock, read = seen[0], seen[1]
    assert "pg_advisory_xact_lock" in lock[0] and "FROM alert" in read[0]
    assert lock[1] is not None and read[1] is lock[1]  # one pipeline: one round trip
    assert lock[2] == psycopg.pq.TransactionStatus.IDLE  # psycopg's BEGIN went with them


def test_intake_locks_its_keys_and_reads_its_rows_in_one_round_trip(db: Database, pg: str) -> None:
    _store(db, alert("f1"))
    catalog = load_catalog(ROOT / "rules", ROOT / "runbooks")
    with sent() as seen, db.session(write=True) as session:
        ingest(session, catalog, [[alert("f1")]], T0, "http://bridge.test")  # a repeat
    first = seen[0][1]
    assert first is not None and seen[0][2] == psycopg.pq.TransactionStatus.IDLE
    assert "pg_advisory_xact_lock" in seen[0][0] and "FROM alert" in seen[1][0]
    assert seen[1][1] is first
    # A repeat needs nothing more: the batch is two round trips, this one and the commit's.
    pipelines = {id(p) for _, p, _ in seen if p is not None}
    assert len(pipelines) == 2 and all(p is not None for _, p, _ in seen)


def test_a_failing_read_fails_the_block_and_keeps_nothing(db: Database, pg: str) -> None:
    _store(db, alert("f1"))
    broken = select((literal_column("1") / bindparam("zero", type_=Integer)).label("x"))
    with pytest.raises(DBAPIError) as raised, db.session(write=True) as session:
        incident = session.scalars(select(Incident)).one()
        incident.title = "changed"  # flushed as the pipeline opens, then rolled back
        with deferred.pipeline(session):
            deferred.read(session, broken, {"zero": 0})
    assert isinstance(raised.value.orig, psycopg.errors.DivisionByZero)
    with db.session() as session:  # rolled back, and the pool's connection is fit for more
        assert session.scalars(select(Incident.title)).one() != "changed"
        assert session.execute(text("SELECT 1")).scalar_one() == 1


def test_intake_reads_the_incidents_of_its_keys_in_the_same_round_trip(db: Database, pg: str) -> None:
    _store(db, alert("f1"))
    catalog = load_catalog(ROOT / "rules", ROOT / "runbooks")
    with sent() as seen, db.session(write=True) as session:
        ingest(session, catalog, [[alert("f2")]], T0, "http://bridge.test")  # a new series
    first = seen[0][1]
    reads = [s for s, p, _ in seen if p is first]
    assert len(reads) == 3 and "FROM incident" in reads[2]  # the lock, the alert rows, the incidents
    assert not [s for s, p, _ in seen if p is None]  # nothing read on its own
    with db.session() as session:  # the new series joined the open incident
        incident = session.scalars(select(Incident)).one()
        assert incident.alert_count == 2
        fingerprints = session.scalars(select(Alert.fingerprint).where(Alert.incident_id == incident.id))
        assert sorted(fingerprints) == ["f1", "f2"]


def test_an_incident_read_ahead_is_the_one_a_query_gives(db: Database, pg: str) -> None:
    _store(db, alert("f1", {"summary": "s"}))
    with db.session() as session:
        stored = session.scalars(select(Incident)).one()
        expected = {a: getattr(stored, a) for a in incidents_repo._AHEAD_NAMES}
        labels = stored.labels
    with db.session(write=True) as session:
        with deferred.pipeline(session):
            take = incidents_repo.latest_by_key_ahead(session, [stored.key, "no-such-key"])
        assert take is not None
        found = take([stored.key, "no-such-key"])
        assert list(found) == [stored.key]
        incident = found[stored.key]
        assert {a: getattr(incident, a) for a in incidents_repo._AHEAD_NAMES} == expected
        assert incident.labels == labels  # not read ahead: read when first used
        assert session.get(Incident, stored.id) is incident  # tracked, as a query would
        assert not session.dirty  # as loaded: nothing to write back
        again = take([stored.key])[stored.key]
        assert again is incident  # the session's own object when it holds one


def test_without_a_pipeline_nothing_is_read_ahead(db: Database) -> None:
    with db.session(write=True) as session:
        assert incidents_repo.latest_by_key_ahead(session, ["a-key"]) is None


def test_tracking_a_row_refuses_what_the_model_does_not_have(db: Database) -> None:
    with db.session(write=True) as session, pytest.raises(TypeError, match="no_such_column"):
        track(session, Incident, {"id": 1, "no_such_column": 1})


def resolved(fingerprint: str) -> AlertIn:
    return dataclasses.replace(alert(fingerprint), status="resolved", ends_at=T0 + timedelta(minutes=5))


def test_intake_reads_a_changed_incident_s_protocol_in_one_round_trip(db: Database, pg: str) -> None:
    _store(db, alert("f1"))
    catalog = load_catalog(ROOT / "rules", ROOT / "runbooks")
    assert catalog.communications.policies  # the protocol follows the resolution
    with sent() as seen, db.session(write=True) as session:
        ingest(session, catalog, [[resolved("f1")]], T0 + timedelta(minutes=5), "http://bridge.test")
    harm_read = next(p for s, p, _ in seen if "FROM harm_assessment" in s)
    assert harm_read is not None
    together = [s for s, p, _ in seen if p is harm_read]
    assert together[0].startswith("INSERT INTO incident_event")  # the lines before them, what follows reads
    for table in ("incident_moment", "communication", "obligation"):
        assert sum(f"FROM {table} " in s for s in together) == 1, table
    with db.session() as session:
        assert session.scalars(select(Incident.status)).one() == "resolved"


def test_an_incident_s_protocol_read_together_is_what_queries_give(db: Database) -> None:
    _store(db, alert("f1"))
    catalog = load_catalog(ROOT / "rules", ROOT / "runbooks")
    with db.session(write=True) as session:
        incident = session.scalars(select(Incident)).one()
        # Not flushed yet: read all the same, as a query would autoflush it.
        session.add(IncidentMoment(incident_id=incident.id, name="significant", at=T0, by="carol"))
        current = facts.current(session, catalog, incident)
        assert current.facts.moments == {"significant": T0}
        notices = communications_repo.communications(session, incident.id)
        assert notices, "the protocol opened notices with the incident"
        assert len(current.communications) == len(notices)
        assert all(a is b for a, b in zip(current.communications, notices, strict=True))
        assert current.obligations == communications_repo.obligations(session, incident.id)
        assert current.harm == harm.current(session, incident.id)
        assert not session.dirty  # tracked as loaded: nothing to write back
