"""All SQL of stored alerts: one row per alert series (fingerprint) within an incident.

Intake reads and writes them as plain rows with Core statements, a batch at a time: one query
loads a batch's rows, one INSERT adds its new series, one UPDATE (executemany) its changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from app.db import execute_many
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
# Every column a change of intake may touch, written back by id.
_UPDATE = (
    update(TABLE)
    .where(TABLE.c.id == bindparam("row_id"))
    .values(
        status=bindparam("status"),
        starts_at=bindparam("starts_at"),
        ends_at=bindparam("ends_at"),
        annotations=bindparam("annotations"),
        last_seen_at=bindparam("last_seen_at"),
        receive_count=bindparam("receive_count"),
    )
)


_NEWEST = select(*LEAN).where(
    TABLE.c.id.in_(
        select(func.max(TABLE.c.id))
        .where(TABLE.c.fingerprint.in_(bindparam("fingerprints", expanding=True)))
        .group_by(TABLE.c.fingerprint)
    )
)


_REPEATS = (
    update(TABLE)
    .where(TABLE.c.id.in_(bindparam("ids", expanding=True)))
    .values(last_seen_at=bindparam("now"), receive_count=TABLE.c.receive_count + bindparam("times"))
)


def latest_by_fingerprint(session: Session, fingerprints: set[str]) -> list[Row[Any]]:
    """The newest stored row of each fingerprint (the LEAN columns)."""
    if not fingerprints:
        return []
    return list(session.execute(_NEWEST, {"fingerprints": list(fingerprints)}))


def in_incident(session: Session, incident_id: int, fingerprint: str) -> Row[Any] | None:
    """The row of this fingerprint inside one incident, if it has one (the LEAN columns)."""
    query = select(*LEAN).where(TABLE.c.incident_id == incident_id, TABLE.c.fingerprint == fingerprint)
    found: Row[Any] | None = session.execute(query).first()  # type: ignore[assignment]
    return found


def insert_many(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert rows in one statement; their ids, in the order given."""
    if not rows:
        return []
    statement = insert(TABLE).returning(TABLE.c.id, sort_by_parameter_order=True)
    return list(session.connection().execute(statement, list(rows)).scalars())


def update_many(session: Session, changes: Sequence[dict[str, Any]]) -> None:
    """Write changed rows back by id (executemany)."""
    execute_many(session, _UPDATE, changes)


_NOTES = (
    update(TABLE)
    .where(TABLE.c.id == bindparam("row_id"))
    .values(
        annotations=bindparam("annotations"),
        last_seen_at=bindparam("last_seen_at"),
        receive_count=bindparam("receive_count"),
    )
)


def seen_again_with_notes(session: Session, changes: Sequence[dict[str, Any]]) -> None:
    """Rows seen again with new annotations (a value in them changed): executemany by id."""
    execute_many(session, _NOTES, changes)


def seen_again(session: Session, ids: Sequence[int], times: int, now: datetime) -> None:
    """Rows only seen again (`times` more notifications each): one UPDATE for all of them."""
    if ids:
        session.connection().execute(_REPEATS, {"ids": list(ids), "times": times, "now": now})
