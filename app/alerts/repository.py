"""All SQL of stored alerts: one row per alert series (fingerprint) within an incident.

Intake reads and writes them as plain rows with Core statements, a batch at a time: one query
loads a batch's rows, one INSERT adds its new series, one UPDATE (executemany) its changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Table, Update, any_, bindparam, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app import deferred
from app.db import (
    any_of,
    execute_many,
    json_insert,
    json_recordset,
    json_rows,
    json_rows_named,
    json_update_params,
    newest_for_each,
    newest_for_each_sqlite,
    on_postgresql,
)
from app.models import Alert

TABLE: Table = Alert.__table__  # type: ignore[assignment]  # a declared class maps one Table
# What intake reads of a stored row (labels never change: they make its fingerprint).
LEAN = (
    TABLE.c.id,
    TABLE.c.incident_id,
    TABLE.c.fingerprint,
    TABLE.c.status,
    TABLE.c.starts_at,
    TABLE.c.ends_at,
    TABLE.c.annotations,
    TABLE.c.receive_count,
)


# One statement text whatever the batch's size (prepared once per connection), and for each
# fingerprint one backward step on its (fingerprint, id) index, however many rows the table holds.
_NEWEST = newest_for_each_sqlite("fingerprints", TABLE.c.fingerprint, TABLE.c.id, LEAN)
_NEWEST_PG = newest_for_each("fingerprints", TABLE.c.fingerprint, TABLE.c.id, LEAN)


def _repeats(ids: ColumnElement[bool]) -> Update:
    return (
        update(TABLE)
        .where(ids)
        .values(last_seen_at=bindparam("now"), receive_count=TABLE.c.receive_count + bindparam("times"))
    )


_REPEATS = _repeats(TABLE.c.id.in_(bindparam("ids", expanding=True)))
_REPEATS_PG = _repeats(TABLE.c.id == any_(any_of("ids", Integer)))


def latest_by_fingerprint(session: Session, fingerprints: set[str]) -> deferred.Read:
    """The newest stored row of each fingerprint (the LEAN columns); inside a pipeline on
    PostgreSQL, sent there (see `deferred.read`)."""
    if not fingerprints:
        return deferred.Read([])
    statement = _NEWEST_PG if on_postgresql(session) else _NEWEST
    return deferred.read(session, statement, {"fingerprints": list(fingerprints)})


def in_incident(session: Session, incident_id: int, fingerprint: str) -> Row[Any] | None:
    """The row of this fingerprint inside one incident, if it has one (the LEAN columns)."""
    query = select(*LEAN).where(TABLE.c.incident_id == incident_id, TABLE.c.fingerprint == fingerprint)
    found: Row[Any] | None = session.execute(query).first()  # type: ignore[assignment]
    return found


def insert_many(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert rows in one statement; their ids, in the order given. Every row has the INSERTED
    columns."""
    if not rows:
        return []
    if on_postgresql(session):
        values = json_rows(rows, INSERTED)
        return sorted(session.connection().execute(_INSERT_PG, {"rows": values}).scalars())
    statement = insert(TABLE).returning(TABLE.c.id, sort_by_parameter_order=True)
    return list(session.connection().execute(statement, list(rows)).scalars())


def insert_many_at_commit(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows whose ids nobody reads, with the commit's deferred writes (`app.deferred`)."""
    if rows:
        if on_postgresql(session):
            deferred.write(session, _INSERT_PG_QUIET, {"rows": json_rows(rows, INSERTED)})
        else:
            deferred.write(session, insert(TABLE), list(rows))


# The columns of a new row (all but its id).
INSERTED = tuple(c.name for c in TABLE.columns if c.name != "id")
_INSERT_PG = json_insert(TABLE, INSERTED)
_INSERT_PG_QUIET = json_insert(TABLE, INSERTED, returning=False)


def _by_id(*names: str) -> Update:
    """SQLite: one row's change, run once per row (executemany); `row_id` names the row."""
    return update(TABLE).where(TABLE.c.id == bindparam("row_id")).values({n: bindparam(n) for n in names})


def _from_rows(*names: str) -> Update:
    """PostgreSQL: the rows of a batch's change sent as one JSON array, written by one UPDATE."""
    rows = json_recordset(("row_id", Integer()), *(TABLE.c[name] for name in names))
    return update(TABLE).where(json_rows_named(TABLE.c.id, rows)).values({n: rows.c[n] for n in names})


# Every column a change of intake may touch (a re-fire, a resolution), written back by id.
_CHANGED = ("status", "starts_at", "ends_at", "annotations", "last_seen_at", "receive_count")
# A row seen again with new annotations.
_NOTED = ("annotations", "last_seen_at", "receive_count")
_UPDATE, _UPDATE_PG = _by_id(*_CHANGED), _from_rows(*_CHANGED)
_NOTES, _NOTES_PG = _by_id(*_NOTED), _from_rows(*_NOTED)


def _write_back(
    session: Session, statement: Update, on_pg: Update, changes: Sequence[dict[str, Any]], at_commit: bool
) -> None:
    if not changes:
        return
    if not on_postgresql(session):
        execute_many(session, statement, changes)  # SQLite's executemany is a loop in C
    else:
        deferred.write(session, on_pg, json_update_params(changes), at_commit=at_commit)


def update_many(session: Session, changes: Sequence[dict[str, Any]], at_commit: bool = False) -> None:
    """Write changed rows back by id (`at_commit`: with the commit's deferred writes)."""
    _write_back(session, _UPDATE, _UPDATE_PG, changes, at_commit)


def seen_again_with_notes(
    session: Session, changes: Sequence[dict[str, Any]], at_commit: bool = False
) -> None:
    """Rows seen again with new annotations (a value in them changed), by id."""
    _write_back(session, _NOTES, _NOTES_PG, changes, at_commit)


def seen_again(
    session: Session, ids: Sequence[int], times: int, now: datetime, at_commit: bool = False
) -> None:
    """Rows only seen again (`times` more notifications each): one UPDATE for all of them."""
    if ids:
        statement = _REPEATS_PG if on_postgresql(session) else _REPEATS
        params = {"ids": list(ids), "times": times, "now": now}
        deferred.write(session, statement, params, at_commit=at_commit)
