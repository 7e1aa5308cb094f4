"""Lists of strings bound as one array parameter (`db.any_of`): on PostgreSQL written by
incident-bridge's own array literal; every string comes back from the server as it was sent,
however it is quoted, and a lookup by such a list finds exactly its rows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, literal_column, select

from app.db import Database, any_of
from app.text_arrays import TextArray, Texts, literal

AWKWARD = [
    "",
    "plain",
    'rule:{"alertname": "ModelAccuracyDrop", "model": "fraud-scorer"}',
    'back\\slash and \\" both',
    "a,b",
    "{braces}",
    "NULL",
    "null",
    " spaced ",
    "multi\nline\ttab",
    "unicode: é 模型 🚨",
    "trailing backslash\\",
]


def test_literal_escapes_quotes_and_backslashes_and_quotes_every_item() -> None:
    assert literal(["a", 'b"c', "d\\e", None]) == '{"a","b\\"c","d\\\\e",NULL}'
    assert literal([]) == "{}"


def test_lists_reach_psycopg_as_texts_on_postgresql_only() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    on_postgresql = TextArray().bind_processor(postgresql.psycopg.dialect())
    assert on_postgresql is not None
    sent = on_postgresql(["x"])
    assert isinstance(sent, Texts) and sent == ["x"]
    assert on_postgresql(None) is None
    elsewhere = TextArray().bind_processor(sqlite.dialect())
    assert not isinstance(elsewhere(["x"]) if elsewhere else ["x"], Texts)


def test_every_string_round_trips_through_the_server(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no arrays: lists go as expanding IN there")
    values = func.unnest(any_of("items")).table_valued("item").render_derived()
    with db.session() as session:
        got = [r[0] for r in session.execute(select(values.c.item), {"items": AWKWARD})]
        nulls = session.execute(
            select(func.array_position(any_of("items"), literal_column("NULL"))), {"items": [*AWKWARD, None]}
        ).scalar_one()
    assert got == AWKWARD
    assert nulls == len(AWKWARD) + 1  # None is NULL, not the string "NULL"
