"""All SQL of the heartbeats' state."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import case, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import on_postgresql
from app.models import Heartbeat


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if on_postgresql(session) else sqlite_insert


def states(session: Session) -> dict[str, Heartbeat]:
    """Every heartbeat's row, by name."""
    return {row.name: row for row in session.scalars(select(Heartbeat))}


def declare(session: Session, names: Iterable[str], now: datetime) -> None:
    """Rows for heartbeats seen declared for the first time; existing rows stay as they are."""
    values = [{"name": name, "declared_at": now, "beats": 0} for name in sorted(set(names))]
    if values:
        statement = _insert(session)(Heartbeat).values(values)
        session.execute(statement.on_conflict_do_nothing(index_elements=["name"]))


def beat(session: Session, names: Iterable[str], now: datetime) -> None:
    """One beat of each heartbeat, in one statement; a row is made for a heartbeat's first beat.

    The last beat never moves back (replicas' clocks differ a little). Names go in one sorted
    order, so two replicas recording beats at once cannot deadlock on the rows.
    """
    values = [
        {"name": name, "declared_at": now, "last_beat_at": now, "beats": 1} for name in sorted(set(names))
    ]
    if not values:
        return
    statement = _insert(session)(Heartbeat).values(values)
    newer = statement.excluded.last_beat_at
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "last_beat_at": case(
                    (or_(Heartbeat.last_beat_at.is_(None), Heartbeat.last_beat_at < newer), newer),
                    else_=Heartbeat.last_beat_at,
                ),
                "beats": Heartbeat.beats + 1,
            },
        )
    )


def claim(session: Session, name: str) -> Heartbeat | None:
    """The heartbeat's row, locked for this transaction; None when another replica holds it
    (PostgreSQL skips it: that replica is acting on it) or there is no row."""
    query = select(Heartbeat).where(Heartbeat.name == name).with_for_update(skip_locked=True)
    return session.scalars(query).first()


def get(session: Session, name: str) -> Heartbeat | None:
    return session.get(Heartbeat, name)
