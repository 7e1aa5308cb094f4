"""Heartbeats' state: record beats, tell which heartbeat is silent, and claim one to act on.

A heartbeat arms at its first beat, as dead man's switches do: it is silent once longer than its
interval has passed since its last beat. One that never beat waits (GET /api/v1/heartbeats and
the metric `bridge_heartbeat_last_beat_timestamp_seconds` at 0 show it), so a first run without
Alertmanager pages nobody. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.orm import Session

from app.heartbeats import repository
from app.heartbeats.config import Heartbeat
from app.heartbeats.schemas import HeartbeatRead
from app.models import Heartbeat as HeartbeatRow

Action = Literal["open", "resolve"]

states = repository.states
declare = repository.declare
claim = repository.claim


def beat(session: Session, names: Iterable[str], now: datetime) -> None:
    """Record one beat of each named heartbeat at `now`."""
    repository.beat(session, names, now)


def since(row: HeartbeatRow) -> datetime:
    """When the current quiet began: the last beat (a silent heartbeat has beaten at least once)."""
    return row.last_beat_at or row.declared_at


def is_silent(heartbeat: Heartbeat, row: HeartbeatRow | None, now: datetime) -> bool:
    """No beat for longer than the interval since the last one (one that never beat waits)."""
    return row is not None and row.last_beat_at is not None and now - row.last_beat_at > heartbeat.interval


def needed(heartbeat: Heartbeat, row: HeartbeatRow | None, now: datetime) -> Action | None:
    """What the check must do: open an incident for a new silence, resolve it after a beat."""
    if row is None:
        return None
    silent = is_silent(heartbeat, row, now)
    if silent and row.incident_id is None:
        return "open"
    if not silent and row.incident_id is not None:
        return "resolve"
    return None


def spoken(interval: timedelta) -> str:
    """A duration as the rule files write it: 90s -> 1m30s, 26h -> 1d2h."""
    seconds = int(interval.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or f"{interval.total_seconds():g}s"


def read(heartbeat: Heartbeat, row: HeartbeatRow | None, now: datetime) -> HeartbeatRead:
    return HeartbeatRead(
        name=heartbeat.name,
        interval_seconds=heartbeat.interval.total_seconds(),
        matchers=[str(m) for m in heartbeat.matchers],
        escalation_policy=heartbeat.escalation_policy,
        severity=heartbeat.severity,
        declared_at=row.declared_at if row else None,
        last_beat_at=row.last_beat_at if row else None,
        beats=row.beats if row else 0,
        silent=is_silent(heartbeat, row, now),
        incident_id=row.incident_id if row else None,
    )


def read_one(session: Session, heartbeat: Heartbeat, now: datetime) -> HeartbeatRead:
    return read(heartbeat, repository.get(session, heartbeat.name), now)
