"""Writes whose results nobody reads, sent together just before the commit.

At the end of an intake batch come five or six statements no one reads an answer from: the
alert rows' INSERT and UPDATEs, the timeline lines, the incidents' counters. On PostgreSQL each
was a round trip of its own, a quarter of a batch's. Deferred here, they go out at the commit in
one pipeline (psycopg's pipeline mode): sent one after the other without waiting, answered
together, one round trip. SQLite has no round trips to save: there they run at once.

Deferred writes run after the unit of work's own flush (the rows they refer to exist by then)
and before COMMIT, in the same transaction. An error in any of them fails the commit, as it
would have failed the statement, and the transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from app.db import on_postgresql

_KEY = "deferred_writes"  # session.info: the statements and their parameters, in order
# Called at every commit before the deferred writes go out: a domain that keeps changes until
# the commit (incidents.counters) defers its writes here.
before_sending: list[Callable[[Session], None]] = []


def write(session: Session, statement: Executable, params: Any) -> None:
    """Run `statement` with `params` (a dict, or a list of them) at the commit on PostgreSQL;
    at once on SQLite. Its result is never read."""
    if not on_postgresql(session):
        session.connection().execute(statement, params)
        return
    session.info.setdefault(_KEY, []).append((statement, params))


def pending(session: Session) -> int:
    """How many writes wait for the commit."""
    return len(session.info.get(_KEY, ()))


def send(session: Session) -> None:
    """Send the deferred writes now, in one round trip (called at the commit)."""
    writes: list[tuple[Executable, Any]] | None = session.info.pop(_KEY, None)
    if not writes:
        return
    session.flush()  # what the unit of work holds goes first: deferred rows may refer to it
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    try:
        with dbapi.pipeline():
            for statement, params in writes:
                connection.execute(statement, params)
    except DBAPIError:
        raise  # answered while the next was sent: SQLAlchemy has wrapped it already
    except Exception as exc:  # answered at the pipeline's end: wrap it as SQLAlchemy does
        import psycopg  # loaded only on PostgreSQL, where it is loaded already

        if not isinstance(exc, psycopg.Error):
            raise
        lost = bool(dbapi.broken or dbapi.closed)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            "deferred writes", None, exc, psycopg.Error, connection_invalidated=lost
        ) from exc


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    for prepare in before_sending:
        prepare(session)
    send(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)  # never sent: the transaction they belonged to is gone
