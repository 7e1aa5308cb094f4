"""Rows inserted outside the unit of work and tracked as loaded (`db.insert_tracked_many`): each
object carries the id the database gave its own row, however many go in one statement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from app.db import Database, insert_tracked_many
from app.models import Communication
from tests.support import open_one_incident

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _incident(db: Database) -> int:
    return open_one_incident(db, T0)


def _notice(incident_id: int, audience: str, sequence: int) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "key": f"policy/{audience}",
        "sequence": sequence,
        "policy": "policy",
        "audience": audience,
        "template": audience,
        "channel": "paging",
        "approval": False,
        "holding": False,
        "status": "pending",
        "due_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }


@pytest.mark.parametrize("count", [1, 3, 40])
def test_each_tracked_row_carries_its_own_id(db: Database, count: int) -> None:
    incident_id = _incident(db)
    values = [_notice(incident_id, f"audience-{i}", i + 1) for i in range(count)]
    with db.session(write=True) as session:
        rows = insert_tracked_many(session, Communication, values)
        ids = [row.id for row in rows]
        assert [row.audience for row in rows] == [v["audience"] for v in values]
        assert all(session.get(Communication, i) is row for i, row in zip(ids, rows, strict=True))
    assert len(set(ids)) == count
    with db.session() as session:
        query = select(Communication.id, Communication.audience).where(Communication.id.in_(ids))
        stored = {row_id: audience for row_id, audience in session.execute(query)}
    assert stored == {row_id: v["audience"] for row_id, v in zip(ids, values, strict=True)}


def test_several_rows_are_one_statement_on_postgresql(db: Database, pg: str) -> None:
    incident_id = _incident(db)
    inserts: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT"):
            inserts.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        with db.session(write=True) as session:
            insert_tracked_many(session, Communication, [_notice(incident_id, a, 1) for a in "abc"])
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert len(inserts) == 1


def test_no_rows_is_no_statement(db: Database) -> None:
    with db.session(write=True) as session:
        assert insert_tracked_many(session, Communication, []) == []
