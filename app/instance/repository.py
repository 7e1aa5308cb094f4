"""All SQL of the installation's own state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import on_postgresql
from app.models import ReadinessProbe, ServiceKey


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if on_postgresql(session) else sqlite_insert


def key(session: Session, purpose: str) -> str | None:
    return session.scalar(select(ServiceKey.value).where(ServiceKey.purpose == purpose))


def add_key_unless_present(session: Session, purpose: str, value: str, now: datetime) -> None:
    """Store a key unless one exists: the first replica to start wins, the others read its key."""
    insert = _insert(session)
    statement = insert(ServiceKey).values(purpose=purpose, value=value, created_at=now)
    session.execute(statement.on_conflict_do_nothing(index_elements=["purpose"]))


def record_probe(session: Session, replica: str, now: datetime) -> None:
    insert = _insert(session)
    statement = insert(ReadinessProbe).values(replica=replica, checked_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["replica"], set_={"checked_at": statement.excluded.checked_at}
        )
    )
