"""Writes whose results nobody reads, sent together just before the commit.

At the end of an intake batch come five or six statements no one reads an answer from: the
alert rows' INSERT and UPDATEs, the timeline lines, the incidents' counters. On PostgreSQL each
was a round trip of its own, a quarter of a batch's. Deferred here, they go out at the commit in
one pipeline (psycopg's pipeline mode): sent one after the other without waiting, answered
together, one round trip. SQLite has no round trips to save: there they run at once.

Deferred writes run after the unit of work's own flush (the rows they refer to exist by then)
and before COMMIT, in the same transaction; the COMMIT itself goes last in their pipeline, so
their answers and its come back together (psycopg's `commit()` would add a round trip: it syncs,
and leaving a pipeline syncs again). An error in any of them aborts the rest, the COMMIT too,
fails the commit as it would have failed the statement, and the transaction rolls back.

A read can travel in a pipeline too (`read`): SQLAlchemy would wait for a SELECT's answer as soon
as it is sent, so the statement goes to the driver directly and its rows are taken once the
pipeline has ended. Intake sends its batch's key lock, its alert rows' read and its keys'
incidents' read so, with BEGIN: one round trip where there were three; and a changed incident's
protocol state (harm assessment, moments, notices, reports: `read_rows` tracks whole rows as a
query would) with the timeline lines written before it: one where there were five.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, event
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable, Select

from app.db import Base, on_postgresql, track

_KEY = "deferred_writes"  # session.info: the statements and their parameters, in order
_COMMITTED = "deferred_committed"  # session.info: the COMMIT went out with the deferred writes
_PIPELINE = "deferred_pipeline"  # session.info: a pipeline is open
T = TypeVar("T", bound=Base)
# Called at every commit before the deferred writes go out: a domain that keeps changes until
# the commit (incidents.counters) defers its writes here.
before_sending: list[Callable[[Session], None]] = []


def write(session: Session, statement: Executable, params: Any, *, at_commit: bool = True) -> None:
    """Run `statement` with `params` (a dict, or a list of them) at the commit on PostgreSQL;
    at once on SQLite, or when not `at_commit`. Its result is never read. With a dict, it goes
    to the driver as `read`'s statements do: `statement` is a constant (its compiled form is
    kept by identity), with no expanding IN (an array parameter instead: `db.any_of`)."""
    if not at_commit or not on_postgresql(session):
        session.connection().execute(statement, params)
        return
    session.info.setdefault(_KEY, []).append((statement, params))


def pending(session: Session) -> int:
    """How many writes wait for the commit."""
    return len(session.info.get(_KEY, ()))


@contextlib.contextmanager
def pipeline(session: Session) -> Iterator[None]:
    """PostgreSQL: statements run in the block are sent without waiting for their answers,
    which all come at its end (one round trip; psycopg's BEGIN goes with the first). Nothing in
    the block may read a result, but a `read` gives its rows after the block. A block inside
    another is part of it. Elsewhere, an ordinary block."""
    if not on_postgresql(session) or session.info.get(_PIPELINE):
        yield
        return
    session.flush()  # the unit of work's statements read results: never in the pipeline
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    session.info[_PIPELINE] = True
    try:
        with session.no_autoflush, dbapi.pipeline():
            yield
    except DBAPIError:
        raise  # answered while the next was sent: SQLAlchemy has wrapped it already
    except Exception as exc:  # answered at the block's end: wrap it as SQLAlchemy does
        wrapped = _wrapped(connection, dbapi, exc)
        if wrapped is None:
            raise
        raise wrapped from exc
    finally:
        session.info.pop(_PIPELINE, None)


def in_pipeline(session: Session) -> bool:
    """Whether statements run now go in a pipeline (PostgreSQL, inside `pipeline`)."""
    return bool(session.info.get(_PIPELINE))


class Read:
    """A SELECT sent in a pipeline (or run at once where there is none): its rows, as tuples
    of the statement's columns with their types' processing, once the pipeline has ended."""

    def __init__(
        self,
        rows: list[tuple[Any, ...]] | None = None,
        cursor: Any = None,
        processors: Sequence[tuple[int, Callable[[Any], Any]]] = (),
    ) -> None:
        """`processors`: (column index, its type's result processing), for the columns that
        have one (most have none: processing only those costs half as much)."""
        self._rows, self._cursor, self._processors = rows, cursor, processors

    def rows(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            fetched = self._cursor.fetchall()  # answered when the pipeline ended
            self._cursor.close()
            if self._processors:
                fetched = [self._processed(row) for row in fetched]
            self._rows = fetched
        return self._rows

    def _processed(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for index, process in self._processors:
            values[index] = process(values[index])
        return tuple(values)


def read(session: Session, statement: Select[Any], params: dict[str, Any]) -> Read:
    """Run `statement`; inside a `pipeline` on PostgreSQL, send it there, so that it travels in
    the pipeline's round trip (SQLAlchemy would wait for its answer at once). Either way it sees
    the transaction's unflushed changes, as an ORM query does (a pipeline flushes as it opens)."""
    if not in_pipeline(session):
        if session.autoflush:
            session.flush()  # a plain SELECT of table columns does not autoflush by itself
        return Read([tuple(r) for r in session.execute(statement, params)])
    connection = session.connection()
    cursor = _cursor(connection)
    compiled = _to_driver(connection, cursor, statement, params)
    return Read(cursor=cursor, processors=compiled.results)


def _cursor(connection: Connection) -> Any:
    """A new cursor of the driver's connection under `connection`."""
    return connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _to_driver(
    connection: Connection, cursor: Any, statement: Executable, params: dict[str, Any]
) -> _Compiled:
    """Hand `statement` to the driver's `cursor` (inside a pipeline: sent, not waited for), past
    SQLAlchemy's execution, which would wait for the answer (a read) or costs the writer more
    than the driver does (a write whose result nobody reads)."""
    compiled = _COMPILED.get(id(statement))
    if compiled is None or compiled.statement is not statement:
        compiled = _COMPILED[id(statement)] = _Compiled(connection, statement)
    parameters = compiled.parameters(params)
    # Seen by the engine's listeners as any statement is (statement logs, counters).
    connection.dispatch.before_cursor_execute(connection, cursor, compiled.sql, parameters, None, False)
    cursor.execute(compiled.sql, parameters)
    return compiled


def execute(session: Session, statement: Executable, params: dict[str, Any]) -> None:
    """Run `statement`, whose result nobody reads: inside a `pipeline` on PostgreSQL, handed to
    the driver as `read`'s statements are (sent, not waited for); elsewhere, at once."""
    if not in_pipeline(session):
        session.execute(statement, params)
        return
    connection = session.connection()
    _to_driver(connection, _cursor(connection), statement, params)


def columns(model: type[Any]) -> list[Any]:
    """The columns of `model`'s table, for a statement `read_rows` sends."""
    return list(model.__table__.c)


def read_rows(
    session: Session, model: type[T], statement: Select[Any], params: dict[str, Any]
) -> Callable[[], list[T]]:
    """`read` for whole rows of `model` (`statement` selects `columns(model)`): what this returns
    gives them once the pipeline has ended, tracked by the session as a query's rows are (the
    session's own object where it holds one)."""
    found = read(session, statement, params)
    names = attribute_names(model, statement)
    return lambda: [track(session, model, dict(zip(names, r, strict=True))) for r in found.rows()]


def attribute_names(model: type[Any], statement: Select[Any]) -> list[str]:
    """The attribute of `model` each column of `statement` holds, in order (worked out once)."""
    held = _NAMES.get(id(statement))
    if held is None or held[0] is not statement:
        mapper = model.__mapper__
        held = _NAMES[id(statement)] = (
            statement,
            [mapper.get_property_by_column(c).key for c in statement.selected_columns],
        )
    return held[1]


_NAMES: dict[int, tuple[Select[Any], list[str]]] = {}


class _Compiled:
    """A statement as the driver takes it: its SQL, its parameters' processing and its
    columns' result processing, worked out once (statements sent this way are constants)."""

    def __init__(self, connection: Connection, statement: Executable) -> None:
        dialect = connection.dialect
        self.statement = statement
        self._compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        self.sql = self._compiled.string
        if "POSTCOMPILE" in self.sql:  # an expanding IN is rendered at execution, by SQLAlchemy
            raise ValueError("a statement sent to the driver takes its lists as arrays (db.any_of)")
        self._binds = {name: bind.type.bind_processor(dialect) for name, bind in self._compiled.binds.items()}
        selected = statement.selected_columns if isinstance(statement, Select) else ()
        processors = [c.type.result_processor(dialect, None) for c in selected]
        self.results = [(i, p) for i, p in enumerate(processors) if p is not None]

    def parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        values = dict(self._compiled.construct_params(params))
        for name, process in self._binds.items():
            if process is not None:
                values[name] = process(values[name])
        return values


_COMPILED: dict[int, _Compiled] = {}


def _wrapped(connection: Connection, dbapi: Any, exc: Exception) -> StatementError | None:
    """The driver's error as SQLAlchemy raises it (None for any other error)."""
    import psycopg  # loaded only on PostgreSQL, where it is loaded already

    if not isinstance(exc, psycopg.Error):
        return None
    lost = bool(dbapi.broken or dbapi.closed)
    if lost:
        connection.invalidate(exc)
    return DBAPIError.instance("pipeline", None, exc, psycopg.Error, connection_invalidated=lost)


def send(session: Session) -> None:
    """Send the deferred writes now, with the COMMIT (called as the session commits): one round
    trip for all, with psycopg's BEGIN too if nothing was sent before them. The driver's own
    commit that follows finds the transaction ended and sends nothing."""
    writes: list[tuple[Executable, Any]] | None = session.info.pop(_KEY, None)
    if not writes:
        return
    connection = session.connection()
    with pipeline(session):  # flushes the unit of work first: deferred rows may refer to it
        cursor = _cursor(connection)
        for statement, params in writes:
            if isinstance(params, dict):  # one row of parameters: straight to the driver
                _to_driver(connection, cursor, statement, params)
            else:
                connection.execute(statement, params)
        connection.dispatch.before_cursor_execute(connection, cursor, "COMMIT", {}, None, False)
        cursor.execute("COMMIT")
    session.info[_COMMITTED] = True


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    for prepare in before_sending:
        prepare(session)
    send(session)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_COMMITTED) and (session.new or session.dirty or session.deleted):
        # A change made after the deferred writes went out with the COMMIT would be written
        # outside the transaction it belongs to.
        raise RuntimeError("a change after the deferred writes were committed (app.deferred)")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_COMMITTED, None)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)  # never sent: the transaction they belonged to is gone
    session.info.pop(_COMMITTED, None)
