"""Intake's batch reads and writes: the newest row of each fingerprint, rows seen again, incidents
by key and by id. On PostgreSQL a list goes as one array parameter, so a statement's text is the
same whatever the batch's size (the server parses and plans it once per connection)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.alerts import repository
from app.db import Database
from app.incidents import repository as incidents
from app.models import Alert
from tests.alerts.rows import T0, alert_row
from tests.conftest import is_postgres
from tests.support import statements


def test_newest_row_of_each_fingerprint(database_url: str) -> None:
    db = Database(database_url)
    fingerprints = [f"{n:016x}" for n in range(40)]
    with db.session(write=True) as session:
        # Three rows for the first ten fingerprints (the newest has the highest id), one for the rest.
        for count, some in ((1, fingerprints), (2, fingerprints[:10])):
            repository.insert_many(session, [alert_row(fp, None, count, f"{fp} x{count}") for fp in some])
        third = [alert_row(fp, None, 3, f"{fp} x3") for fp in fingerprints[:10]]
        newest = repository.insert_many(session, third)
    with db.session() as session:
        everything = session.execute(select(Alert.fingerprint, Alert.id)).all()
        expected = {fp: max(i for f, i in everything if f == fp) for fp in fingerprints}
        names = [c.name for c in repository.LEAN]

        def latest(wanted: set[str]) -> list[dict[str, Any]]:
            rows = repository.latest_by_fingerprint(session, wanted).rows()
            return [dict(zip(names, r, strict=True)) for r in rows]

        found = latest({*fingerprints, "unknown-fingerprint"})
        one = latest({fingerprints[0]})
        none = latest(set())
    assert {r["fingerprint"]: r["id"] for r in found} == expected
    assert [r["id"] for r in one] == [newest[0]]
    assert [r["receive_count"] for r in one] == [3]
    assert one[0]["annotations"] == {"summary": f"{fingerprints[0]} x3"}
    assert one[0]["starts_at"] == T0 and one[0]["starts_at"].tzinfo is not None
    assert none == []
    db.dispose()


def test_rows_seen_again_by_id(database_url: str) -> None:
    db = Database(database_url)
    with db.session(write=True) as session:
        ids = repository.insert_many(session, [alert_row(f"{n:016x}") for n in range(5)])
    later = T0 + timedelta(minutes=5)
    with db.session(write=True) as session:
        repository.seen_again(session, ids[:3], 2, later)
        repository.seen_again(session, ids[3:4], 1, later)
        repository.seen_again(session, [], 7, later)  # nothing: no statement
    with db.session() as session:
        query = select(Alert.id, Alert.receive_count, Alert.last_seen_at).order_by(Alert.id)
        stored = session.execute(query).all()
    assert [(r.receive_count, r.last_seen_at) for r in stored] == [
        (3, later),
        (3, later),
        (3, later),
        (2, later),
        (1, T0),
    ]
    db.dispose()


def test_a_batch_statement_has_one_text_whatever_its_size(database_url: str) -> None:
    db = Database(database_url)
    with db.session(write=True) as session:
        ids = repository.insert_many(session, [alert_row(f"{n:016x}") for n in range(300)])
    fingerprints = [f"{n:016x}" for n in range(300)]
    with statements() as seen, db.session(write=True) as session:
        for size in (1, 7, 300):
            repository.latest_by_fingerprint(session, set(fingerprints[:size]))
            repository.seen_again(session, ids[:size], 1, T0)
            incidents.latest_by_key(session, [f"key-{n}" for n in range(size)])
            incidents.by_ids(session, range(1, size + 1))
            repository.insert_many(session, [alert_row(f"new-{size}-{n}") for n in range(size)])
    texts = [s for s in seen if not s.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "INSERT"))]
    inserts = [s for s in seen if s.startswith("INSERT")]
    assert len(texts) == 12
    by_kind = [set(texts[k::4]) for k in range(4)]
    if is_postgres(database_url):
        assert [len(t) for t in by_kind] == [1, 1, 1, 1]  # one text per statement: prepared once
        assert all("ANY" in t or "unnest" in t for kind in by_kind for t in kind)
        assert len(inserts) == 3 and len(set(inserts)) == 1 and "jsonb_to_recordset" in inserts[0]
    else:
        # SQLite: the newest rows by fingerprint and by key read a JSON list (one text); the
        # others an IN list of the batch's size.
        assert [len(t) for t in by_kind] == [1, 3, 1, 3]
        assert "json_each" in texts[0] and "json_each" in texts[2]
    db.dispose()
