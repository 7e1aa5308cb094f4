"""HTTP API of the incident workspace: report, note, contain, reclassify, hand over, escalate,
snooze, link, assess the harm and see the regulatory clocks it starts. Each change is recorded
on the timeline with its actor; each answer is the updated incident (or harm assessment)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from app.api.deps import CatalogDep, DatabaseDep, ReadSession, RuntimeDep, SettingsDep, ViewerDep
from app.api.errors import described
from app.api.incidents import IncidentId
from app.communications.service import Context
from app.flows import workspace as flows
from app.incidents import harm
from app.incidents import service as incidents
from app.incidents.schemas import (
    AccessIn,
    AccessRequestAccepted,
    AccessRequestIn,
    ContainIn,
    CorrectIn,
    EscalateIn,
    EventMarkIn,
    HarmHistory,
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
from app.text import MAX_DB_ID

router = APIRouter(prefix="/api/v1/incidents", tags=["workspace"])
ON_AN_INCIDENT = described(404, 409)
EventId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="The timeline entry's id")]


@router.post("", response_model=IncidentRead, status_code=status.HTTP_201_CREATED)
def report_incident(
    body: ReportIn, rt: RuntimeDep, db: DatabaseDep, catalog: CatalogDep, config: SettingsDep
) -> IncidentRead:
    """Report an incident no alert caught (a user, a reviewer, a vendor); it pages like any other."""
    return flows.report(db, rt.send(), catalog, config.public_url, body)


@router.post("/{incident_id}/notes", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def add_note(
    incident_id: IncidentId, body: NoteIn, rt: RuntimeDep, db: DatabaseDep, viewer: ViewerDep
) -> IncidentRead:
    """Add a note, or a decision with its rationale (`kind: decision`), optionally back-dated."""
    return flows.note(db, rt.send(), incident_id, body, viewer.narrowed_to)


@router.post("/{incident_id}/contain", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def contain(
    incident_id: IncidentId, body: ContainIn, rt: RuntimeDep, db: DatabaseDep, viewer: ViewerDep
) -> IncidentRead:
    """Harm is contained (rolled back, disabled, constrained): sets `contained_at`."""
    return flows.contain(db, rt.send(), incident_id, body, viewer.narrowed_to)


@router.post("/{incident_id}/reclassify", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def reclassify(
    incident_id: IncidentId,
    body: ReclassifyIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
    viewer: ViewerDep,
) -> IncidentRead:
    """Correct the type or the severity, up or down, with a reason."""
    return flows.reclassify(
        db, rt.send(), Context(catalog, config.public_url), incident_id, body, viewer.narrowed_to
    )


@router.post("/{incident_id}/correct", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def correct(
    incident_id: IncidentId, body: CorrectIn, rt: RuntimeDep, db: DatabaseDep, viewer: ViewerDep
) -> IncidentRead:
    """Correct when impact started or when harm was contained; the old value stays on record."""
    return flows.correct(db, rt.send(), incident_id, body, viewer.narrowed_to)


@router.post("/{incident_id}/roles", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def set_roles(
    incident_id: IncidentId, body: RolesIn, rt: RuntimeDep, db: DatabaseDep, viewer: ViewerDep
) -> IncidentRead:
    """Hand over the lead, communications lead or reviewer role."""
    return flows.roles(db, rt.send(), incident_id, body, viewer.narrowed_to)


@router.post("/{incident_id}/reassign", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def reassign(
    incident_id: IncidentId,
    body: ReassignIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    viewer: ViewerDep,
) -> IncidentRead:
    """Page a person of the on-call file now; escalation waits on their acknowledgement."""
    return flows.reassign(db, rt.send(), catalog, incident_id, body, viewer.narrowed_to)


@router.post("/{incident_id}/escalate", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def escalate(
    incident_id: IncidentId,
    body: EscalateIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    viewer: ViewerDep,
) -> IncidentRead:
    """Fire the next escalation step now."""
    return flows.escalate(db, rt.send(), catalog, incident_id, body, viewer.narrowed_to)


@router.post("/{incident_id}/snooze", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def snooze(
    incident_id: IncidentId, body: SnoozeIn, rt: RuntimeDep, db: DatabaseDep, viewer: ViewerDep
) -> IncidentRead:
    """An acknowledged incident triggers and pages again after `minutes` unless resolved."""
    return flows.snooze(db, rt.send(), incident_id, body, viewer.narrowed_to)


@router.post("/{incident_id}/link", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def link(
    incident_id: IncidentId, body: LinkIn, rt: RuntimeDep, db: DatabaseDep, viewer: ViewerDep
) -> IncidentRead:
    """Mark this incident a duplicate of (it is resolved into it) or related to another."""
    return flows.link(db, rt.send(), incident_id, body, viewer.narrowed_to)


@router.post("/{incident_id}/timeline/{event_id}", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def mark_event(
    incident_id: IncidentId,
    event_id: EventId,
    body: EventMarkIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    viewer: ViewerDep,
) -> IncidentRead:
    """Star a timeline entry that matters for the review, or hide noise from the default view."""
    return flows.mark_event(db, rt.send(), incident_id, event_id, body, viewer.narrowed_to)


@router.post("/{incident_id}/restrict", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def restrict(
    incident_id: IncidentId, body: RestrictIn, rt: RuntimeDep, db: DatabaseDep, viewer: ViewerDep
) -> IncidentRead:
    """Restrict the incident to the people working on it (`restricted: false` opens it again)."""
    return flows.restrict(db, rt.send(), incident_id, body, viewer.narrowed_to)


@router.post("/{incident_id}/access", response_model=IncidentRead, responses=ON_AN_INCIDENT)
def grant_access(
    incident_id: IncidentId, body: AccessIn, rt: RuntimeDep, db: DatabaseDep, viewer: ViewerDep
) -> IncidentRead:
    """Let one more person see a restricted incident."""
    return flows.grant_access(db, rt.send(), incident_id, body, viewer.narrowed_to)


@router.post(
    "/{incident_id}/access-requests",
    response_model=AccessRequestAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=described(404),
)
def request_access(
    incident_id: IncidentId, body: AccessRequestIn, db: DatabaseDep, viewer: ViewerDep
) -> AccessRequestAccepted:
    """Ask to see an incident; the request goes on its timeline and the answer says nothing more."""
    flows.request_access(db, incident_id, body, viewer.narrowed_to)
    return AccessRequestAccepted()


@router.put("/{incident_id}/harm", response_model=HarmRead, responses=ON_AN_INCIDENT)
def assess_harm(
    incident_id: IncidentId,
    body: HarmIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
    viewer: ViewerDep,
) -> HarmRead:
    """Assess the harm: a new version of the assessment; earlier versions stay on record. The
    notices and regulatory reports it calls for are created (or withdrawn) with it."""
    ctx = Context(catalog, config.public_url)
    return flows.assess_harm(db, rt.send(), ctx, incident_id, body, viewer.narrowed_to)


@router.get("/{incident_id}/harm/history", response_model=HarmHistory, responses=described(404))
def harm_history(incident_id: IncidentId, session: ReadSession, viewer: ViewerDep) -> HarmHistory:
    """Every version of the harm assessment, oldest first, with who made it and why."""
    incidents.get_visible(session, incident_id, viewer.narrowed_to)
    return HarmHistory(items=harm.history(session, incident_id))
