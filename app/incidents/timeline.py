"""Timeline lines written by one intake batch: kept in order, inserted by one statement.

While a batch buffers its timeline, `service.record` appends each line here instead of adding an
ORM object to the session. The batch writes them (`write`) before anything reads the timeline
of an incident it changed, and at its end, so the order of the lines is the order of events.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.incidents import repository

_KEY = "incident_timeline_buffer"


def start(session: Session) -> None:
    """Buffer the timeline lines recorded in this session from now on."""
    session.info[_KEY] = []


def add(session: Session, values: dict[str, Any]) -> bool:
    """Keep one line for later; False when this session does not buffer its timeline."""
    lines: list[dict[str, Any]] | None = session.info.get(_KEY)
    if lines is None:
        return False
    lines.append(values)
    return True


def write(session: Session) -> None:
    """Insert the lines kept so far."""
    lines: list[dict[str, Any]] | None = session.info.get(_KEY)
    if lines:
        repository.insert_events(session, lines)
        lines.clear()


def end(session: Session) -> None:
    """Stop buffering; what is left is inserted with the commit's deferred writes (nothing in
    the batch reads the timeline any more)."""
    lines: list[dict[str, Any]] | None = session.info.pop(_KEY, None)
    if lines:
        repository.insert_events(session, lines, at_commit=True)
