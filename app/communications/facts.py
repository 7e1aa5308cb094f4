"""An incident's facts, as the protocol's plan and the notice templates see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app import deferred
from app.catalog.loader import Catalog
from app.communications import repository
from app.incidents import harm as harm_of
from app.incidents import obligations
from app.incidents import service as incidents
from app.incidents.schemas import HarmRead
from app.models import Communication, Incident, Obligation
from app.protocol.config import Audience
from app.protocol.plan import Facts

NO_TIME = ""


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at is not None else NO_TIME


@dataclass(frozen=True)
class Known:
    """A new incident, opened in this transaction: nothing is stored about it yet but its harm
    assessment (a rule may set one), so nothing needs to be read back from the database."""

    harm: HarmRead | None = None
    paged: frozenset[str] = frozenset()  # the people its first page went to


def plan_facts(
    catalog: Catalog, incident: Incident, harm: HarmRead | None, moments: dict[str, datetime]
) -> Facts:
    """What the plan and the organisation's regimes look at, given the incident's harm."""
    model = catalog.oncall.models.get(incident.model or "")
    anchors = {"opened": incident.opened_at}
    if incident.acknowledged_at is not None:
        anchors["acknowledged"] = incident.acknowledged_at
    if incident.resolved_at is not None and not incident.is_open:
        anchors["resolved"] = incident.resolved_at
    # Without an assessment, the organisation knew when the incident opened.
    anchors["aware"] = harm.aware_at if harm is not None else incident.opened_at
    return Facts(
        type=incident.type,
        severity=incident.severity,
        is_open=incident.is_open,
        harm_level=harm.level if harm else None,
        harm_domains=frozenset(harm.domains) if harm else frozenset(),
        personal_data_breach=bool(harm and harm.personal_data_breach),
        risk_tier=model.risk_tier if model else "minimal",
        anchors=anchors,
        moments=moments,
    )


@dataclass(frozen=True)
class Current:
    """What one change to the incident moves its notices and reports from, read once for both:
    its harm assessment and plan facts (neither sync changes them), its notices (none read when
    no policy is set: nothing looks at them then) and its reports."""

    harm: HarmRead | None
    facts: Facts
    communications: list[Communication]
    obligations: list[Obligation]


def current(session: Session, catalog: Catalog, incident: Incident, known: Known | None = None) -> Current:
    """On PostgreSQL the reads go out together: one round trip (with whatever else the caller's
    pipeline holds)."""
    if known is not None:  # a new incident: nothing stored to read back
        return Current(known.harm, plan_facts(catalog, incident, known.harm, {}), [], [])
    with deferred.pipeline(session):
        harm = harm_of.current_ahead(session, incident.id)
        moments = repository.moments_ahead(session, incident.id)
        policies = catalog.communications.policies
        notices = repository.communications_ahead(session, incident.id) if policies else None
        stored = repository.obligations_ahead(session, incident.id)
    assessed = harm()
    facts = plan_facts(catalog, incident, assessed, moments())
    return Current(assessed, facts, notices() if notices is not None else [], stored())


def model_facts(catalog: Catalog, incident: Incident) -> obligations.ModelFacts:
    model = catalog.oncall.models.get(incident.model or "")
    return obligations.ModelFacts(model.risk_tier, model.role) if model else obligations.ModelFacts()


def _harm(harm: HarmRead | None) -> dict[str, Any]:
    if harm is None:
        return {
            "assessed": False,
            "level": "",
            "level_words": "not yet assessed",
            "domains": [],
            "domain_words": "",
            "affected_groups": [],
            "persons_affected": None,
            "personal_data_breach": False,
            "death": False,
            "widespread": False,
            "member_states": [],
            "causal_link": "",
            "aware_at": NO_TIME,
        }
    return {
        "assessed": True,
        "level": harm.level,
        "level_words": harm.level.replace("_", " "),
        "domains": list(harm.domains),
        "domain_words": ", ".join(d.replace("_", " ") for d in harm.domains),
        "affected_groups": list(harm.affected_groups),
        "persons_affected": harm.persons_affected,
        "personal_data_breach": harm.personal_data_breach,
        "death": harm.death,
        "widespread": harm.widespread,
        "member_states": list(harm.member_states),
        "causal_link": harm.causal_link,
        "aware_at": _when(harm.aware_at),
    }


def render_facts(
    session: Session,
    catalog: Catalog,
    public_url: str,
    incident: Incident,
    audience: Audience | None,
    row: Communication,
    known: Known | None = None,
) -> dict[str, Any]:
    """Every name a template may use (app/protocol/templates.py SAMPLE_FACTS lists them)."""
    model = catalog.oncall.models.get(incident.model or "")
    if known is not None:  # a new incident: nothing contained, no decision yet
        harm, contained, decisions = known.harm, [], []
    else:
        harm = harm_of.current(session, incident.id)
        contained = incidents.events_of_kind(session, incident.id, ["contained"], limit=1)
        decisions = incidents.events_of_kind(session, incident.id, ["decision"], limit=5)
    main_due = row.due_at
    if row.holding:
        siblings = repository.communications(session, incident.id)
        main = [
            r for r in siblings if r.key == row.key.removesuffix("/holding") and r.sequence == row.sequence
        ]
        main_due = main[0].due_at if main else row.due_at
    return {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "type": incident.type,
            "type_words": incident.type.replace("_", " "),
            "severity": incident.severity,
            "status": incident.status,
            "description": incident.description,
            "opened_at": _when(incident.opened_at),
            "since": _when(incident.impact_started_at or incident.opened_at),
            "contained": incident.contained_at is not None,
            "contained_at": _when(incident.contained_at),
            "containment": contained[-1].message if contained else "",
            "resolved_at": _when(incident.resolved_at) if not incident.is_open else NO_TIME,
            "owner": incident.owner or "",
            "url": f"{public_url}/incidents/{incident.id}",
        },
        "model": {
            "id": incident.model or "",
            "description": model.description if model else "",
            "decisions": model.decisions if model else "",
        },
        "harm": _harm(harm),
        "audience": {"id": row.audience, "name": audience.name if audience else row.audience},
        "contact": catalog.communications.contact,
        "due_at": _when(row.due_at),
        "next_update_by": _when(main_due),
        "decisions": [e.message for e in decisions],
        "update_number": row.sequence,
    }
