"""Pooled PostgreSQL connections are checked before use without a round trip, and reads run
without BEGIN and COMMIT; a session opened for reading refuses to write, on both databases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.orm import Session

from app import connections
from app.db import Database, ReadOnlySession
from app.models import Incident
from tests.support import drop_other_connections


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _pings(engine: Engine) -> list[int]:
    """Counts the pings the engine's dialect sends."""
    pings: list[int] = []
    original = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return original(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def _status(session: Session) -> Any:
    dbapi = session.connection().connection.dbapi_connection
    assert dbapi is not None
    return dbapi.info.transaction_status


def test_a_connection_back_from_the_pool_is_not_pinged(db: Database, pg: str) -> None:
    pings = _pings(db.engine)
    first = _backend(db.engine)
    for _ in range(5):
        assert _backend(db.engine) == first  # the same pooled connection
    assert pings == []


def test_a_connection_the_server_closed_is_replaced_before_use(db: Database, pg: str) -> None:
    pings = _pings(db.engine)
    first = _backend(db.engine)
    assert drop_other_connections(pg) >= 1

    second = _backend(db.engine)  # no error: the check saw the socket readable

    assert second != first
    assert len(pings) == 1


@pytest.fixture
def impatient(pg: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A database whose pools ping any connection unused for 1 ms."""
    monkeypatch.setattr(connections, "IDLE_PING", 0.001)
    database = Database(pg)
    yield database
    database.dispose()


def test_a_connection_idle_past_the_limit_is_pinged(impatient: Database) -> None:
    pings = _pings(impatient.engine)
    first = _backend(impatient.engine)
    time.sleep(0.01)

    assert _backend(impatient.engine) == first  # alive: kept
    assert len(pings) == 1


def test_the_intake_pool_pings_only_a_closed_connection(impatient: Database, pg: str) -> None:
    database = impatient
    pings = _pings(database.intake_engine)
    first = _backend(database.intake_engine)
    time.sleep(0.01)
    assert _backend(database.intake_engine) == first
    assert pings == []  # no idle ping: a lost connection is retried by the writer

    assert drop_other_connections(pg) >= 1
    assert _backend(database.intake_engine) != first
    assert len(pings) == 1


def test_readable_is_false_on_an_idle_connection_and_true_once_closed(db: Database, pg: str) -> None:
    with db.engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        conn.commit()
        assert not connections.readable(dbapi)
        assert drop_other_connections(pg) >= 1
        for _ in range(200):  # the server's goodbye takes a moment to arrive
            if connections.readable(dbapi):
                break
            time.sleep(0.01)
        assert connections.readable(dbapi)
        conn.invalidate()


def test_a_read_sends_no_begin_or_commit_on_postgresql(db: Database, pg: str) -> None:
    before: list[Any] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _watch(conn: Any, *_args: Any) -> None:
        before.append(conn.connection.dbapi_connection.info.transaction_status)

    with db.session() as session:
        session.execute(select(Incident.id).limit(1)).all()
        status = _status(session)

    # Outside a transaction before and after the statement: psycopg sent no BEGIN.
    assert before == [psycopg.pq.TransactionStatus.IDLE]
    assert status == psycopg.pq.TransactionStatus.IDLE
    with db.session(write=True) as session:
        session.execute(select(Incident.id).limit(1)).all()
        written = _status(session)
    assert written == psycopg.pq.TransactionStatus.INTRANS  # writes keep their transaction


def test_a_read_session_refuses_to_write(db: Database) -> None:
    with pytest.raises(ReadOnlySession), db.session() as session:
        session.execute(update(Incident).values(title="x"))
    with pytest.raises(ReadOnlySession), db.session() as session:
        session.add(Incident())
        session.flush()
    with db.session() as session:
        assert session.execute(select(Incident.id)).all() == []  # nothing was written
