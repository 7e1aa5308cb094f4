"""People working an incident: report one no alert caught, note, contain, reclassify, hand over,
escalate, snooze, link, assess the harm. Each change is one transaction that locks the incident, records the
change on its timeline and writes any page it causes; pages are handed over after the commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.catalog.loader import Catalog
from app.communications.facts import Known
from app.communications.service import Context
from app.db import Database, utcnow
from app.errors import NotFound
from app.flows.communications import follow, follow_new
from app.flows.locked import Change, change_incident
from app.flows.opening import Send, assign_and_page
from app.incidents import access, harm, workspace
from app.incidents import service as incidents
from app.incidents.schemas import (
    AccessIn,
    AccessRequestIn,
    ContainIn,
    CorrectIn,
    EscalateIn,
    EventMarkIn,
    HarmIn,
    HarmRead,
    IncidentRead,
    LinkIn,
    NoteIn,
    ReassignIn,
    ReclassifyIn,
    ReportIn,
    RestrictIn,
    RolesIn,
    SnoozeIn,
)
from app.models import Incident, Notification
from app.paging import service as paging
from app.runbooks import selection
from app.vocabulary import DUPLICATE_OF, RESOLVE


def _apply(
    db: Database, send: Send, incident_id: int, change: Change, person: str | None = None
) -> IncidentRead:
    """One change to one incident `person` may see (None: everything); 404 for anyone else."""
    return change_incident(db, send, incident_id, person, change, _incident_read)


def _incident_read(_session: Session, incident: Incident, _now: datetime) -> IncidentRead:
    return IncidentRead.model_validate(incident)


def runbook_for(
    catalog: Catalog, type_: str, public_url: str, model: str | None = None
) -> dict[str, Any] | None:
    """The runbook a reported incident gets, and why: the library's for its model and type, else
    for its type (see runbooks.selection; no rule names one)."""
    choice = selection.choose(catalog.runbooks, rule="reported", rule_runbook=None, model=model, type_=type_)
    return selection.reference(choice, public_url)


def report(db: Database, send: Send, catalog: Catalog, public_url: str, body: ReportIn) -> IncidentRead:
    """Open an incident a person reports; it gets a runbook and pages like an alert-born one."""
    severity: str
    if body.severity is not None:
        severity = body.severity
    else:
        assert body.impact is not None
        severity = catalog.ruleset.severity_matrix[body.impact.technical][body.impact.harm]
    now = utcnow()
    with db.session(write=True) as session:
        incident = incidents.report_incident(
            session,
            title=body.title,
            type_=body.type,
            severity=severity,
            model=body.model,
            labels=body.labels,
            description=body.description,
            source=body.source,
            reported_by=body.reported_by,
            impact_started_at=body.impact_started_at,
            runbook=runbook_for(catalog, body.type, public_url, body.model),
            now=now,
            restricted=incidents.restricted_by_default(catalog.workspace, body.type),
        )
        pages = assign_and_page(session, catalog.oncall, incident, now)
        known = Known(paged=frozenset(p.recipient for p in pages))
        pages += follow_new(session, Context(catalog, public_url), incident, now, known)
        session.flush()
        ids = [p.id for p in pages]
        result = IncidentRead.model_validate(incident)
    if send is not None and ids:
        send(ids)
    return result


def note(db: Database, send: Send, incident_id: int, body: NoteIn, person: str | None = None) -> IncidentRead:
    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        workspace.add_note(session, incident, body.by, body.text, body.kind, body.rationale, body.at, now)
        return []

    return _apply(db, send, incident_id, change, person)


def contain(
    db: Database, send: Send, incident_id: int, body: ContainIn, person: str | None = None
) -> IncidentRead:
    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        workspace.contain(session, incident, body.by, body.note, body.at, now)
        return []

    return _apply(db, send, incident_id, change, person)


def reclassify(
    db: Database,
    send: Send,
    ctx: Context,
    incident_id: int,
    body: ReclassifyIn,
    person: str | None = None,
) -> IncidentRead:
    catalog = ctx.catalog

    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        worse = workspace.reclassify(session, incident, body.by, body.reason, body.type, body.severity, now)
        access.restrict_for_type(session, incident, catalog.workspace, body.by, now)
        # Worse is more urgent: the people already paged hear it, as when an alert raises it.
        pages = paging.on_severity_raised(session, catalog.oncall, incident, now) if worse else []
        return pages + follow(session, ctx, incident, now)

    return _apply(db, send, incident_id, change, person)


def correct(
    db: Database, send: Send, incident_id: int, body: CorrectIn, person: str | None = None
) -> IncidentRead:
    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        workspace.correct_times(
            session, incident, body.by, body.reason, body.impact_started_at, body.contained_at, now
        )
        return []

    return _apply(db, send, incident_id, change, person)


def roles(
    db: Database, send: Send, incident_id: int, body: RolesIn, person: str | None = None
) -> IncidentRead:
    given = {role: getattr(body, role) for role in workspace.ROLES if getattr(body, role) is not None}

    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        workspace.set_roles(session, incident, body.by, {r: p or None for r, p in given.items()}, now)
        return []

    return _apply(db, send, incident_id, change, person)


def reassign(
    db: Database, send: Send, catalog: Catalog, incident_id: int, body: ReassignIn, person: str | None = None
) -> IncidentRead:
    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        # An unknown person is refused by paging; the transaction then rolls back whole.
        incidents.reassign(session, incident, body.by, body.to, now)
        return paging.reassign(session, catalog.oncall, incident, body.to, now)

    return _apply(db, send, incident_id, change, person)


def escalate(
    db: Database, send: Send, catalog: Catalog, incident_id: int, body: EscalateIn, person: str | None = None
) -> IncidentRead:
    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        incidents.require_open(incident, "escalate")
        return paging.escalate_now(session, catalog.oncall, incident, body.by, now)

    return _apply(db, send, incident_id, change, person)


def snooze(
    db: Database, send: Send, incident_id: int, body: SnoozeIn, person: str | None = None
) -> IncidentRead:
    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        incidents.snooze(session, incident, body.by, now + timedelta(minutes=body.minutes), now)
        return []

    return _apply(db, send, incident_id, change, person)


def link(db: Database, send: Send, incident_id: int, body: LinkIn, person: str | None = None) -> IncidentRead:
    """Link two incidents; a duplicate is resolved into the other (its alerts show there)."""

    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        other = incidents.get_visible(session, body.incident_id, person)
        workspace.link(session, incident, other, body.relation, body.by, now)
        if body.relation != DUPLICATE_OF or not incident.is_open:
            return []
        incidents.resolve_as_duplicate(session, incident, other.id, body.by, now)
        return paging.after_action(session, incident, RESOLVE, now)

    return _apply(db, send, incident_id, change, person)


def mark_event(
    db: Database, send: Send, incident_id: int, event_id: int, body: EventMarkIn, person: str | None = None
) -> IncidentRead:
    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        workspace.mark_event(session, incident, event_id, body.by, body.starred, body.hidden)
        return []

    return _apply(db, send, incident_id, change, person)


def restrict(
    db: Database, send: Send, incident_id: int, body: RestrictIn, person: str | None = None
) -> IncidentRead:
    """Restrict the incident to the people working on it, or open it again, with a reason."""

    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        access.set_restricted(session, incident, body.by, body.restricted, body.reason, now)
        return []

    return _apply(db, send, incident_id, change, person)


def grant_access(
    db: Database, send: Send, incident_id: int, body: AccessIn, person: str | None = None
) -> IncidentRead:
    """Let one more person see the incident (recorded on its timeline)."""

    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        access.grant_access(session, incident, body.by, body.person, now)
        return []

    return _apply(db, send, incident_id, change, person)


def request_access(db: Database, incident_id: int, body: AccessRequestIn, person: str | None = None) -> None:
    """Record a request to see the incident on its timeline.

    Someone who may not see the incident learns nothing: whether it exists or not, the answer
    is the same. Only the API token holder (`person` None) is told when there is no such incident.
    """
    now = utcnow()
    with db.session(write=True) as session:
        incident = incidents.get_for_update(session, incident_id)
        if incident is None:
            if person is None:
                raise NotFound(f"incident {incident_id} not found")
            return
        access.request_access(session, incident, body.by, now)


def assess_harm(
    db: Database, send: Send, ctx: Context, incident_id: int, body: HarmIn, person: str | None = None
) -> HarmRead:
    """A new version of the incident's harm assessment (earlier ones stay on record); the notices
    and regulatory reports it calls for follow in the same transaction."""
    made: list[HarmRead] = []

    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        made.append(harm.read(harm.assess(session, incident, body, now)))
        session.flush()
        return follow(session, ctx, incident, now)

    _apply(db, send, incident_id, change, person)
    return made[0]
