"""Intake's many-row UPDATEs (the driver's executemany on SQLite, one UPDATE joined to the rows
sent as a JSON array on PostgreSQL) store exactly what SQLAlchemy's own executemany stores (UTC
datetimes in any offset, JSON with quotes and non-ASCII, NULLs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text

from app.alerts import repository
from app.db import Database
from app.models import Alert
from tests.alerts.rows import T0, alert_row
from tests.conftest import is_postgres

ELSEWHERE = timezone(timedelta(hours=2))


def _insert(db: Database, count: int) -> list[int]:
    rows = [alert_row(f"{n:016x}") for n in range(count)]
    with db.session(write=True) as session:
        return repository.insert_many(session, rows)


def _stored(db: Database, ids: list[int]) -> list[tuple[Any, ...]]:
    with db.session() as session:
        found = session.scalars(select(Alert).where(Alert.id.in_(ids)).order_by(Alert.id)).all()
        return [
            (a.status, a.starts_at, a.ends_at, a.annotations, a.last_seen_at, a.receive_count) for a in found
        ]


def test_driver_executemany_stores_what_sqlalchemy_stores(database_url: str) -> None:
    db = Database(database_url)
    ours, theirs = _insert(db, 3), _insert(db, 3)
    seen = datetime(2026, 11, 30, 14, 30, 15, 123456, tzinfo=ELSEWHERE)  # 12:30:15.123456 UTC

    def changes(ids: list[int]) -> list[dict[str, Any]]:
        return [
            {
                "row_id": row_id,
                "status": "resolved" if n == 1 else "firing",
                "starts_at": T0 + timedelta(minutes=n),
                "ends_at": seen if n == 1 else None,
                "annotations": {"summary": f"value {n} \u2603", "quote": 'a "b"'},
                "last_seen_at": seen,
                "receive_count": 5 + n,
            }
            for n, row_id in enumerate(ids)
        ]

    with db.session(write=True) as session:
        repository.update_many(session, changes(ours))
        session.connection().execute(repository._UPDATE, changes(theirs))

    stored = _stored(db, ours)
    assert stored == _stored(db, theirs)
    assert stored[1] == (
        "resolved",
        T0 + timedelta(minutes=1),
        seen.astimezone(UTC),
        {"summary": "value 1 \u2603", "quote": 'a "b"'},
        seen.astimezone(UTC),
        6,
    )
    assert stored[0][4].tzinfo == UTC
    db.dispose()


def test_rows_seen_again_with_new_annotations(database_url: str) -> None:
    db = Database(database_url)
    ids = _insert(db, 2)
    with db.session(write=True) as session:
        repository.seen_again_with_notes(
            session,
            [
                {
                    "row_id": ids[0],
                    "annotations": {"v": "1"},
                    "last_seen_at": T0 + timedelta(seconds=30),
                    "receive_count": 2,
                },
                {
                    "row_id": ids[1],
                    "annotations": {},
                    "last_seen_at": T0 + timedelta(seconds=60),
                    "receive_count": 9,
                },
            ],
        )
        repository.seen_again_with_notes(session, [])  # nothing to write: no statement
    stored = _stored(db, ids)
    assert [(s[3], s[4], s[5]) for s in stored] == [
        ({"v": "1"}, T0 + timedelta(seconds=30), 2),
        ({}, T0 + timedelta(seconds=60), 9),
    ]
    assert [s[0] for s in stored] == ["firing", "firing"]  # the other columns are left alone
    db.dispose()


def test_a_naive_datetime_never_takes_the_session_zone(database_url: str) -> None:
    """SQLite refuses it; PostgreSQL's JSON rows read it as UTC, whatever zone the session is in."""
    db = Database(database_url)
    ids = _insert(db, 1)
    naive = datetime(2026, 11, 30, 12, 30)
    change = {"row_id": ids[0], "annotations": {}, "last_seen_at": naive, "receive_count": 2}
    if not is_postgres(database_url):
        with pytest.raises(ValueError, match="naive datetime"), db.session(write=True) as session:
            repository.seen_again_with_notes(session, [change])
        db.dispose()
        return
    with db.session(write=True) as session:
        session.execute(text("SET LOCAL TIME ZONE 'America/New_York'"))
        repository.seen_again_with_notes(session, [change])
    assert _stored(db, ids)[0][4] == naive.replace(tzinfo=UTC)
    db.dispose()


def test_inserted_rows_get_their_ids_in_the_order_given(database_url: str) -> None:
    """PostgreSQL sends the rows as one JSON array; the ids returned must still be each row's."""
    db = Database(database_url)
    seen = datetime(2026, 11, 30, 14, 30, 15, 123456, tzinfo=ELSEWHERE)
    rows = [
        {
            **alert_row(f"{n:016x}", None, n + 1, f"value {n} \u2603 \"quoted\" 'single'"),
            "labels": {"alertname": "Drift", "n": str(n), "odd": "\\ \n \u00e9"},
            "status": "resolved" if n % 3 == 0 else "firing",
            "ends_at": seen if n % 3 == 0 else None,
            "generator_url": f"https://prometheus.example/graph?g0.expr=up%7Bn%3D%22{n}%22%7D",
            "first_seen_at": seen + timedelta(seconds=n),
        }
        for n in range(250)
    ]
    rows.reverse()  # fingerprints in falling order: the ids must follow the rows, not the values
    with db.session(write=True) as session:
        ids = repository.insert_many(session, rows)
        theirs = list(
            session.connection()
            .execute(repository.insert(repository.TABLE).returning(repository.TABLE.c.id), rows[:3])
            .scalars()
        )
    assert len(ids) == len(set(ids)) == 250
    with db.session() as session:
        stored = {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(ids + theirs)))}
    for row_id, row in zip(ids, rows, strict=True):
        found = stored[row_id]
        assert found.fingerprint == row["fingerprint"] and found.labels == row["labels"]
        assert (found.status, found.ends_at, found.receive_count) == (
            row["status"],
            row["ends_at"],
            row["receive_count"],
        )
        assert found.first_seen_at == row["first_seen_at"] and found.first_seen_at.tzinfo == UTC
        assert (found.annotations, found.generator_url) == (row["annotations"], row["generator_url"])
    # What SQLAlchemy's own INSERT stores for the same rows, column for column.
    columns = [c.name for c in repository.TABLE.columns if c.name != "id"]
    for ours, other in zip(ids[:3], theirs, strict=True):
        assert [getattr(stored[ours], c) for c in columns] == [getattr(stored[other], c) for c in columns]
    db.dispose()


def test_an_offset_beyond_what_postgresql_parses_is_stored_as_its_utc_time(database_url: str) -> None:
    """RFC 3339 allows -19:20; PostgreSQL's input refuses offsets beyond 15:59. The JSON rows
    carry UTC, as the column type would have sent it."""
    far = timezone(-timedelta(hours=19, minutes=20))
    starts = datetime(342, 11, 16, 8, 44, 54, 500000, tzinfo=far)
    db = Database(database_url)
    with db.session(write=True) as session:
        (row_id,) = repository.insert_many(session, [{**alert_row("far"), "starts_at": starts}])
    later = datetime(2026, 11, 30, 23, 0, tzinfo=far)
    with db.session(write=True) as session:
        repository.update_many(
            session,
            [
                {
                    "row_id": row_id,
                    "status": "resolved",
                    "starts_at": starts,
                    "ends_at": later,
                    "annotations": {},
                    "last_seen_at": later,
                    "receive_count": 2,
                }
            ],
        )
    (stored,) = _stored(db, [row_id])
    assert stored[1] == starts and stored[1].tzinfo == UTC
    assert stored[1].isoformat() == "0342-11-17T04:04:54.500000+00:00"
    assert stored[2] == later and stored[4] == later
    db.dispose()
