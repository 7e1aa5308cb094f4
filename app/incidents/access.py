"""Restricted incidents: restricting one, granting and asking for access.

A restricted incident is seen by its responders (owner, lead, comms lead, reviewer, whoever
acknowledged or resolved it, whoever reported it), the people paged for it and those granted
access; to anyone else it does not exist. The API token holder sees everything (person None).
Who may see what is decided by `service.visible_to` and `service.can_see`.
Callers own the transaction; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.incidents import repository
from app.incidents.service import record, restricted_by_default
from app.models import Incident
from app.rules.workspace import WorkspaceConfig


def restrict_for_type(
    session: Session, incident: Incident, config: WorkspaceConfig, by: str, now: datetime
) -> bool:
    """After a reclassification: a restricted type restricts (never un-restricts). True if changed."""
    if incident.restricted or not restricted_by_default(config, incident.type):
        return False
    incident.restricted = True
    record(
        session,
        incident,
        "restricted",
        by,
        now,
        f"restricted: reclassified as {incident.type}",
        {"restricted": True, "reason": f"reclassified as {incident.type}"},
    )
    return True


def set_restricted(
    session: Session, incident: Incident, by: str, restricted: bool, reason: str, now: datetime
) -> bool:
    """Restrict or unrestrict explicitly, with a reason on the timeline. True when it changed."""
    if incident.restricted == restricted:
        return False
    incident.restricted = restricted
    kind = "restricted" if restricted else "unrestricted"
    record(
        session, incident, kind, by, now, f"{kind}: {reason}", {"restricted": restricted, "reason": reason}
    )
    return True


def grant_access(session: Session, incident: Incident, by: str, person: str, now: datetime) -> bool:
    """Let `person` see the incident; True when they did not have access yet."""
    if not repository.add_access(session, incident.id, person, by, now):
        return False
    record(session, incident, "access_granted", by, now, f"access granted to {person}", {"person": person})
    return True


def request_access(session: Session, incident: Incident, by: str, now: datetime) -> None:
    """Someone asks to see the incident: the people working on it find the request on its timeline."""
    record(session, incident, "access_requested", by, now, f"{by} asks for access", {"person": by})


access_of = repository.access_of
