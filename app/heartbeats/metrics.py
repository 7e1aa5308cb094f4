"""Prometheus series of heartbeats, computed from the database at scrape time: one series per
declared heartbeat, present from the start."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from app.db import Database, utcnow
from app.heartbeats import service
from app.heartbeats.config import HeartbeatsConfig
from app.metrics.db_gauge import DbGauge, Rows

LAST_BEAT = DbGauge(
    "bridge_heartbeat_last_beat_timestamp_seconds",
    "When each declared heartbeat last beat, in Unix time (0 until its first beat)",
    ["heartbeat"],
)
SILENT = DbGauge(
    "bridge_heartbeat_silent",
    "1 while a declared heartbeat has not beaten for longer than its interval, else 0",
    ["heartbeat"],
)


def watch(
    db: Database, declared: Callable[[], HeartbeatsConfig], clock: Callable[[], datetime] = utcnow
) -> None:
    """Compute the gauges of the heartbeats declared now from this database at every scrape."""

    def last_beat(session: Session) -> Rows:
        heartbeats = declared().heartbeats
        rows = service.states(session) if heartbeats else {}
        out: Rows = []
        for heartbeat in heartbeats:
            row = rows.get(heartbeat.name)
            beat = row.last_beat_at if row is not None else None
            out.append(((heartbeat.name,), beat.timestamp() if beat is not None else 0.0))
        return out

    def silent(session: Session) -> Rows:
        heartbeats = declared().heartbeats
        rows = service.states(session) if heartbeats else {}
        now = clock()
        return [((h.name,), float(service.is_silent(h, rows.get(h.name), now))) for h in heartbeats]

    LAST_BEAT.read_from(db, last_beat)
    SILENT.read_from(db, silent)
