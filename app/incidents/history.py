"""An incident's alerts and timeline read a page at a time: newest first, behind opaque cursors.

A cursor names the last row a page showed (an alert by its id, a timeline entry by its time and
id), and the next page starts just below it. Pages stay stable while rows are added: a new alert
or entry sorts above the first page, never into one already handed out. Totals come from COUNT
and pages from LIMIT: no read loads every row of a large incident.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from app.incidents import repository
from app.models import Alert, IncidentEvent
from app.text import MAX_DB_ID

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ALERT_CURSOR = re.compile(r"a1\.([1-9][0-9]{0,9})")
EVENT_CURSOR = re.compile(r"t1\.(-?[0-9]{1,19})\.([1-9][0-9]{0,9})")

count_alerts = repository.count_alerts
count_events = repository.count_events


@dataclass(frozen=True)
class Slice(Generic[T]):
    """Rows newest first, and the cursor of the page after them (None: nothing older)."""

    items: list[T]
    next: str | None


def alerts(session: Session, incident_ids: list[int], limit: int, before: int | None) -> Slice[Alert]:
    """Up to `limit` alerts of these incidents, newest first, after the alert id `before` (a
    parsed cursor; None: from the newest)."""
    rows = repository.alerts_newest_first(session, incident_ids, before, limit + 1)
    more = len(rows) > limit
    return Slice(rows[:limit], alert_cursor(rows[limit - 1]) if more else None)


def timeline(
    session: Session,
    incident_id: int,
    limit: int,
    before: tuple[datetime, int] | None,
    hidden: bool | None = None,
) -> Slice[IncidentEvent]:
    """Up to `limit` timeline entries, newest first, after the (at, id) `before` (a parsed cursor;
    None: from the newest); `hidden` False leaves hidden entries out, True keeps only them."""
    rows = repository.events_newest_first(session, incident_id, before, limit + 1, hidden)
    more = len(rows) > limit
    return Slice(rows[:limit], event_cursor(rows[limit - 1]) if more else None)


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        return raw.decode("ascii")
    except (binascii.Error, ValueError):  # not base64, or not ASCII inside
        return ""


def _row_id(text: str) -> int:
    value = int(text)
    if value > MAX_DB_ID:
        raise ValueError("id out of range")
    return value


def alert_cursor(row: Alert) -> str:
    return _encode(f"a1.{row.id}")


def parse_alert_cursor(cursor: str) -> int:
    """The alert id a cursor of `alerts` names; ValueError when it is not such a cursor."""
    found = ALERT_CURSOR.fullmatch(_decode(cursor))
    if found is None:
        raise ValueError("not a cursor of a page of alerts")
    return _row_id(found.group(1))


def event_cursor(row: IncidentEvent) -> str:
    micros = (row.at - EPOCH) // timedelta(microseconds=1)
    return _encode(f"t1.{micros}.{row.id}")


def parse_event_cursor(cursor: str) -> tuple[datetime, int]:
    """The (at, id) a cursor of `timeline` names; ValueError when it is not such a cursor."""
    found = EVENT_CURSOR.fullmatch(_decode(cursor))
    if found is None:
        raise ValueError("not a cursor of a page of the timeline")
    try:
        at = EPOCH + timedelta(microseconds=int(found.group(1)))
    except OverflowError as exc:
        raise ValueError("time out of range") from exc
    return at, _row_id(found.group(2))
