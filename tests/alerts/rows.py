"""Stored alert rows as intake's repository inserts them, for tests of its batch statements."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def alert_row(
    fingerprint: str, incident_id: int | None = None, count: int = 1, summary: str = "old"
) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "fingerprint": fingerprint,
        "status": "firing",
        "labels": {"alertname": "Drift", "fp": fingerprint},
        "annotations": {"summary": summary},
        "starts_at": T0,
        "ends_at": None,
        "generator_url": "",
        "source": "alertmanager",
        "first_seen_at": T0,
        "last_seen_at": T0,
        "receive_count": count,
    }
