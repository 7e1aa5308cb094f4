"""The harm assessment of an incident: how bad, to whom, since when the organisation knew.

Each assessment is a new version; earlier ones stay on record with their actor and reason, and
each goes on the timeline. Callers own the transaction (and lock the incident, so versions are
numbered one after another).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.errors import InvalidRequest
from app.incidents import obligations, repository
from app.incidents.schemas import HarmData, HarmIn, HarmRead
from app.incidents.service import SYSTEM_ACTOR, record
from app.models import HarmAssessment, Incident
from app.rules.engine import InitialHarm

HARM_ASSESSED = "harm_assessed"


def assess(session: Session, incident: Incident, body: HarmIn, now: datetime) -> HarmAssessment:
    """Store a new version of the assessment and put it on the timeline."""
    aware_at = body.aware_at or now
    if aware_at > now:
        raise InvalidRequest("`aware_at` is in the future", field="aware_at")
    stated = body.model_dump(include=set(HarmData.model_fields))
    data: dict[str, Any] = HarmData.model_validate(stated).model_dump(mode="json")
    data["aware_at"] = aware_at.isoformat()
    version = repository.last_harm_version(session, incident.id) + 1
    row = HarmAssessment(
        incident_id=incident.id, version=version, data=data, by=body.by, reason=body.reason, at=now
    )
    session.add(row)
    message = f"harm assessed as {body.level} (version {version})"
    if body.reason:
        message += f": {body.reason}"
    record(session, incident, HARM_ASSESSED, body.by, now, message, {"version": version, **data})
    return row


def assess_initial(
    session: Session,
    incident: Incident,
    rule: str,
    initial: InitialHarm,
    now: datetime,
) -> HarmAssessment:
    """The assessment a rule starts a new incident with; a person revises it with a new version."""
    body = HarmIn.model_validate(
        {
            "by": SYSTEM_ACTOR,
            "level": initial.level,
            "domains": list(initial.domains),
            "causal_link": initial.causal_link,
            "reason": f"initial assessment set by rule {rule}",
        }
    )
    return assess(session, incident, body, now)


def read(row: HarmAssessment) -> HarmRead:
    return HarmRead.model_validate(
        {**row.data, "version": row.version, "by": row.by, "reason": row.reason, "at": row.at}
    )


def current(session: Session, incident_id: int) -> HarmRead | None:
    """The current version of the assessment, or None when the harm was never assessed."""
    return current_ahead(session, incident_id)()


def current_ahead(session: Session, incident_id: int) -> Callable[[], HarmRead | None]:
    """`current`, its read sent in the pipeline open (if any): what this returns gives it once
    the pipeline has ended."""
    found = repository.current_harm_ahead(session, incident_id)

    def take() -> HarmRead | None:
        row = found()
        return read(row) if row is not None else None

    return take


def history(session: Session, incident_id: int) -> list[HarmRead]:
    """Every version, oldest first."""
    return [read(row) for row in repository.harm_versions(session, incident_id)]


def for_clocks(harm: HarmRead | None) -> obligations.Harm | None:
    """What the regulatory clocks need of the assessment."""
    if harm is None:
        return None
    return obligations.Harm(
        level=harm.level,
        aware_at=harm.aware_at,
        domains=frozenset(harm.domains),
        personal_data_breach=harm.personal_data_breach,
        death=harm.death,
        widespread=harm.widespread,
    )
