"""The restricted-incidents migration adds its column in place: the partial unique index on
open incident keys survives it, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from app.db import build_engine
from tests.support import fresh_database, migrate_to

BEFORE = "fa5d6cd9f2d5"


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path, "bridge_access_migration") as url:
        yield url


def open_key_index(url: str) -> str:
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                query = "SELECT sql FROM sqlite_master WHERE name = 'uq_incident_open_key'"
            else:
                query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_incident_open_key'"
            return str(conn.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def test_restricted_is_added_in_place(fresh_url: str) -> None:
    migrate_to(fresh_url, BEFORE)
    before = open_key_index(fresh_url)
    migrate_to(fresh_url, "head")
    assert open_key_index(fresh_url) == before and "WHERE" in before.upper()
    engine = build_engine(fresh_url)
    try:
        found = inspect(engine)
        restricted = next(c for c in found.get_columns("incident") if c["name"] == "restricted")
        assert restricted["nullable"] is False
        uniques = [u["column_names"] for u in found.get_unique_constraints("incident_access")]
        assert ["incident_id", "person"] in uniques
    finally:
        engine.dispose()


def test_downgrade_drops_it_in_place_too(fresh_url: str) -> None:
    migrate_to(fresh_url, "head")
    before = open_key_index(fresh_url)
    migrate_to(fresh_url, BEFORE, down=True)
    assert open_key_index(fresh_url) == before
    engine = build_engine(fresh_url)
    try:
        found = inspect(engine)
        assert "restricted" not in {c["name"] for c in found.get_columns("incident")}
        assert not found.has_table("incident_access")
    finally:
        engine.dispose()
