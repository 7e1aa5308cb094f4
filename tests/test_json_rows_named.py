"""An UPDATE joined to rows sent as one JSON array (`db.json_recordset`) names its rows by
`db.json_rows_named`: it changes exactly the rows the array names, and PostgreSQL finds them by
their index, where the join alone has the planner hash a scan of the whole table (it guesses 100
rows for the array, whatever it holds)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, text, update
from sqlalchemy.orm import Session

from app.db import Database, json_recordset, json_rows_named, json_update_params

TABLE = Table("scratch_rows", MetaData(), Column("id", Integer, primary_key=True), Column("note", String))
ROWS = json_recordset(("row_id", Integer()), TABLE.c.note)
NAMED = update(TABLE).where(json_rows_named(TABLE.c.id, ROWS)).values(note=ROWS.c.note)
JOINED_ONLY = update(TABLE).where(TABLE.c.id == ROWS.c.row_id).values(note=ROWS.c.note)


def _fill(session: Session, count: int) -> None:
    session.execute(
        text("CREATE TEMPORARY TABLE scratch_rows (id INTEGER PRIMARY KEY, note VARCHAR) ON COMMIT DROP")
    )
    session.execute(
        text("INSERT INTO scratch_rows SELECT g, repeat('x', 100) FROM generate_series(1, :n) AS g"),
        {"n": count},
    )
    session.execute(text("ANALYZE scratch_rows"))


def _generic_plan(session: Session, statement: Any, params: dict[str, Any]) -> str:
    """The plan a prepared statement keeps once PostgreSQL settles on a generic one."""
    session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    compiled = statement.compile(dialect=session.get_bind().dialect)
    plan = session.connection().exec_driver_sql(f"EXPLAIN {compiled}", compiled.construct_params(params))
    return "\n".join(row[0] for row in plan)


@pytest.fixture
def pg_db(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("SQLite writes a batch's rows with executemany, one row by its id at a time")
    return db


def test_only_the_rows_named_change(pg_db: Database) -> None:
    with pg_db.session(write=True) as session:
        _fill(session, 50)
        changes = [{"row_id": 7, "note": "seven"}, {"row_id": 40, "note": 'quote " and \\ slash'}]
        session.execute(NAMED, json_update_params(changes))
        notes = dict(
            session.execute(text("SELECT id, note FROM scratch_rows WHERE note NOT LIKE 'xx%'")).all()
        )
    assert notes == {7: "seven", 40: 'quote " and \\ slash'}


def test_an_empty_array_changes_nothing(pg_db: Database) -> None:
    with pg_db.session(write=True) as session:
        _fill(session, 10)
        changed = session.execute(NAMED, json_update_params([])).rowcount
    assert changed == 0


def test_the_rows_are_found_by_their_index_not_a_scan_of_the_table(pg_db: Database) -> None:
    params = json_update_params([{"row_id": 3, "note": "three"}])
    with pg_db.session(write=True) as session:
        _fill(session, 3000)
        named = _generic_plan(session, NAMED, params)
        joined_only = _generic_plan(session, JOINED_ONLY, params)
    assert "Seq Scan on scratch_rows" not in named, named
    assert "scratch_rows_pkey" in named, named
    # What the condition is for: the join alone scans the whole table.
    assert "Seq Scan on scratch_rows" in joined_only, joined_only
