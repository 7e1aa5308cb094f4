"""What people do while working an incident: notes and decisions, containment, corrections of
type, severity and times, roles, links between incidents. Each change goes on the timeline with
its actor (and, for corrections, the old value and the reason). Callers own the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidRequest
from app.incidents import repository
from app.incidents.service import note_peak, record
from app.models import Incident, IncidentEvent
from app.rules.engine import worst_severity
from app.vocabulary import DUPLICATE_OF

ROLES = ("lead", "comms_lead", "reviewer")


def _when(at: datetime | None, now: datetime) -> datetime:
    """When it happened, as the person remembers it; never in the future."""
    if at is None:
        return now
    if at > now:
        raise InvalidRequest("`at` is in the future", field="at")
    return at


def add_note(
    session: Session,
    incident: Incident,
    by: str,
    text: str,
    kind: str,
    rationale: str,
    at: datetime | None,
    now: datetime,
) -> IncidentEvent:
    """A note, or a decision with its rationale, at the time it happened."""
    data: dict[str, Any] = {"typed_at": now.isoformat()}
    if kind == "decision":
        data["rationale"] = rationale
    event = record(session, incident, kind, by, _when(at, now), text, data)
    incident.updated_at = now
    return event


def contain(
    session: Session, incident: Incident, by: str, note: str, at: datetime | None, now: datetime
) -> bool:
    """Harm is contained (rolled back, disabled, constrained); False when it already was."""
    if incident.contained_at is not None:
        return False
    when = _when(at, now)
    if when < incident.opened_at and incident.impact_started_at is None:
        incident.impact_started_at = when
    incident.contained_at, incident.contained_by = when, by
    record(session, incident, "contained", by, when, note or f"harm contained by {by}", {"note": note})
    incident.updated_at = now
    return True


def reclassify(
    session: Session,
    incident: Incident,
    by: str,
    reason: str,
    type_: str | None,
    severity: str | None,
    now: datetime,
) -> bool:
    """Correct the type and/or the severity, up or down. True when the severity got worse.

    A lowered severity stays lowered when more alerts of the level alerts already asked for
    arrive (`alert_severity` keeps that level); an alert worse than it still raises.
    """
    changes: dict[str, Any] = {}
    if type_ is not None and type_ != incident.type:
        changes["type"] = {"from": incident.type, "to": type_}
        incident.type = type_
    worse = False
    if severity is not None and severity != incident.severity:
        changes["severity"] = {"from": incident.severity, "to": severity}
        worse = worst_severity(incident.severity, severity) == severity
        if incident.alert_severity is None:
            incident.alert_severity = incident.severity
        incident.peak_severity = incident.peak_severity or incident.severity
        incident.severity = severity
        note_peak(incident)
    if not changes:
        return False
    parts = [f"{name} {c['from']} -> {c['to']}" for name, c in changes.items()]
    record(
        session,
        incident,
        "reclassified",
        by,
        now,
        f"{', '.join(parts)}: {reason}",
        {**changes, "reason": reason},
    )
    return worse


def correct_times(
    session: Session,
    incident: Incident,
    by: str,
    reason: str,
    impact_started_at: datetime | None,
    contained_at: datetime | None,
    now: datetime,
) -> None:
    """Correct when impact started or when harm was contained; the old value stays on record."""
    changes: dict[str, Any] = {}
    if impact_started_at is not None:
        _when(impact_started_at, now)
        changes["impact_started_at"] = _change(incident.impact_started_at, impact_started_at)
        incident.impact_started_at = impact_started_at
    if contained_at is not None:
        if incident.contained_at is None:
            raise Conflict("the incident is not contained yet: record containment first")
        _when(contained_at, now)
        changes["contained_at"] = _change(incident.contained_at, contained_at)
        incident.contained_at = contained_at
    if not changes:
        raise InvalidRequest("nothing to correct: give impact_started_at or contained_at")
    if (
        incident.impact_started_at
        and incident.contained_at
        and incident.contained_at < incident.impact_started_at
    ):
        raise InvalidRequest("harm cannot be contained before its impact started", field="contained_at")
    names = ", ".join(changes)
    record(
        session, incident, "corrected", by, now, f"corrected {names}: {reason}", {**changes, "reason": reason}
    )


def _change(old: datetime | None, new: datetime) -> dict[str, str | None]:
    return {"from": old.isoformat() if old else None, "to": new.isoformat()}


def set_roles(
    session: Session, incident: Incident, by: str, roles: dict[str, str | None], now: datetime
) -> bool:
    """Hand roles over (an empty name clears one); each handover goes on the timeline."""
    changed = False
    for role, person in roles.items():
        assert role in ROLES
        old = getattr(incident, role)
        if person == old:
            continue
        setattr(incident, role, person)
        message = f"{role.replace('_', ' ')}: {old or 'nobody'} -> {person or 'nobody'}"
        record(session, incident, "role_changed", by, now, message, {"role": role, "from": old, "to": person})
        changed = True
    return changed


def take_lead_on_acknowledge(session: Session, incident: Incident, by: str, now: datetime) -> None:
    """Whoever acknowledges leads, unless someone already does."""
    if incident.lead is None:
        set_roles(session, incident, by, {"lead": by}, now)


def mark_event(
    session: Session, incident: Incident, event_id: int, by: str, starred: bool | None, hidden: bool | None
) -> IncidentEvent:
    """Star an entry that matters for the review, or hide noise from the default view."""
    event = repository.event_of(session, incident.id, event_id)
    if event is None:
        raise InvalidRequest(
            f"incident {incident.id} has no timeline entry {event_id}", field="event_id", where="path"
        )
    if starred is not None:
        event.starred = starred
    if hidden is not None:
        event.hidden = hidden
    return event


def link(
    session: Session, incident: Incident, other: Incident, relation: str, by: str, now: datetime
) -> bool:
    """Link two incidents; False when the link already exists."""
    if other.id == incident.id:
        raise InvalidRequest("an incident cannot be linked to itself", field="incident_id")
    if relation == DUPLICATE_OF and other.duplicate_of == incident.id:
        raise Conflict(f"incident {other.id} is already a duplicate of this one")
    if not repository.add_link(session, incident.id, other.id, relation, by, now):
        return False
    words = "a duplicate of" if relation == DUPLICATE_OF else "related to"
    record(
        session,
        incident,
        "linked",
        by,
        now,
        f"marked {words} incident {other.id}",
        {"relation": relation, "other": other.id},
    )
    record(
        session,
        other,
        "linked",
        by,
        now,
        f"incident {incident.id} marked {words} this one",
        {"relation": relation, "other": incident.id},
    )
    if relation == DUPLICATE_OF:
        incident.duplicate_of = other.id
    return True
