"""Each key's newest incident (`repository.latest_by_key`, and `latest_by_key_ahead` in intake's
pipeline): the open one if any, else the last resolved. On PostgreSQL one backward step on the
(key, id) index per key, and the intake writer's connections keep one generic plan per statement,
which for this read must still be that step, however many incidents the table holds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import deferred
from app.db import Database
from app.incidents import repository
from app.models import Incident

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _incident(session: Session, key: str, status: str) -> int:
    row = Incident(
        key=key,
        rule="r",
        status=status,
        type="technical_failure",
        severity="S3",
        title=key,
        model="m",
        labels={},
        runbook={},
        opened_at=T0,
        last_alert_at=T0,
        updated_at=T0,
        resolved_at=T0 if status == "resolved" else None,
    )
    session.add(row)
    session.flush()
    return row.id


def _store(db: Database) -> dict[str, int]:
    """Keys with several incidents each; returns the id each key's newest should have."""
    with db.session(write=True) as session:
        for _ in range(3):
            _incident(session, "a", "resolved")
        newest = {"a": _incident(session, "a", "open")}
        _incident(session, "b", "resolved")
        newest["b"] = _incident(session, "b", "resolved")
        _incident(session, "c", "resolved")  # an older key, asked for below
        newest["c"] = _incident(session, "c", "acknowledged")
    return newest


def test_the_newest_of_each_key_asked_for(db: Database) -> None:
    newest = _store(db)
    with db.session() as session:
        found = repository.latest_by_key(session, ["a", "b", "missing", "a"])
    assert {k: v.id for k, v in found.items()} == {"a": newest["a"], "b": newest["b"]}
    assert found["a"].status == "open" and found["b"].status == "resolved"


def test_the_read_in_intake_pipeline_gives_the_same_rows(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no pipeline: intake reads with latest_by_key")
    newest = _store(db)
    with db.session(write=True, intake=True) as session:
        with deferred.pipeline(session):
            take = repository.latest_by_key_ahead(session, ["a", "b", "c", "missing"])
        assert take is not None
        found = take(["a", "c", "missing"])
        assert {k: v.id for k, v in found.items()} == {"a": newest["a"], "c": newest["c"]}
        assert found["c"].status == "acknowledged"
        assert found["a"].title == "a"


def _generic_plan(session: Session, keys: list[str]) -> str:
    """How the intake writer's connection runs the read once prepared (force_generic_plan: the
    plan made without the parameters' values), with the rows each step read."""
    compiled = repository._NEWEST_ROWS_PG.compile(dialect=session.get_bind().dialect)
    sql = compiled.string.replace("%(keys)s", "$1").replace("%(param_1)s", "$2")
    session.execute(text(f"PREPARE newest_by_key(varchar[], integer) AS {sql}".replace(":", "\\:")))
    listed = "{" + ",".join(keys) + "}"
    plan = session.execute(
        text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE newest_by_key('{listed}', 1)")
    )
    generic = session.execute(
        text("SELECT generic_plans FROM pg_prepared_statements WHERE name = 'newest_by_key'")
    ).scalar_one()
    assert generic == 1  # the plan made without the keys, as the writer's connection runs it
    return "\n".join(row[0] for row in plan)


def _rows_read(plan: str, table: str) -> int:
    """Rows the plan's scans of `table` gave, over all their loops."""
    found = re.findall(rf" on {table} .*actual rows=(\d+) loops=(\d+)", plan)
    return sum(int(rows) * int(loops) for rows, loops in found)


def test_intake_connections_keep_generic_plans_and_others_do_not(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL's plan cache")
    with db.session(write=True, intake=True) as session:
        intake = session.execute(text("SHOW plan_cache_mode")).scalar_one()
    with db.session(write=True) as session:
        other = session.execute(text("SHOW plan_cache_mode")).scalar_one()
    assert (intake, other) == ("force_generic_plan", "auto")


def test_the_generic_plan_steps_back_on_the_key_index_of_a_large_table(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL's plan cache")
    with db.session(write=True, intake=True) as session:
        _incident(session, "template", "resolved")
        # 20,000 copies of it over 100 keys.
        columns = [c.name for c in Incident.__table__.c if c.name not in ("id", "key")]
        listed = ", ".join(columns)
        session.execute(
            text(
                f"INSERT INTO incident (key, {listed}) SELECT 'k' || (g % 100), {listed}"
                " FROM incident, generate_series(1, 20000) AS g WHERE key = 'template'"
            )
        )
        session.execute(text("ANALYZE incident"))
        plan = _generic_plan(session, ["k7", "k8"])
    assert "Index Scan Backward using ix_incident_key_id" in plan, plan
    # One row of each key's 200: max(id) ... GROUP BY key read them all.
    assert _rows_read(plan, "incident") == 2, plan


def _reads_of_newest(db: Database, keys: list[str], fingerprints: set[str]) -> list[str]:
    from app.alerts import repository as alert_rows
    from tests.support import statements

    with db.session() as session, statements() as seen:
        repository.latest_by_key(session, keys)
        alert_rows.latest_by_fingerprint(session, fingerprints).rows()
    return [s for s in seen if s.startswith("SELECT")]


def test_sqlite_reads_the_newest_in_one_statement_text_stepping_on_the_indexes(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite's form of the read; PostgreSQL's generic plan is checked above")
    newest = _store(db)
    few = _reads_of_newest(db, ["a"], {"f1"})
    many = _reads_of_newest(db, ["a", "b", "c", "missing"], {f"f{n}" for n in range(40)})
    # The same two texts whatever the lists' lengths: SQLite prepares each once per connection
    # (an expanding IN was a new statement, prepared again, for every length).
    assert few == many and len(few) == 2, few
    with db.engine.connect() as conn:
        for statement, wanted in zip(few, ('["a", "b"]', '["f1", "f2"]'), strict=True):
            plan = " | ".join(
                str(row[3]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", (wanted,))
            )
            # Per item, one step on the (key, id) or (fingerprint, id) index, then the row by its
            # id: no GROUP BY over every incident of a key, no scan of the table.
            assert (
                "ix_incident_key_id (key=?)" in plan or "ix_alert_fingerprint_id (fingerprint=?)" in plan
            ), plan
            assert "PRIMARY KEY (rowid=?)" in plan, plan
            assert "GROUP BY" not in plan and "SCAN incident" not in plan and "SCAN alert" not in plan, plan
    with db.session() as session:
        found = repository.latest_by_key(session, ["c", "a", "b"])
        assert {k: v.id for k, v in found.items()} == {"a": newest["a"], "b": newest["b"], "c": newest["c"]}
        assert found["a"].title == "a" and found["a"].labels == {}  # columns left out load when read
