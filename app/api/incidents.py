"""HTTP API of incidents."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from app.alerts import service as alerts
from app.api.deps import DatabaseDep, ReadSession, Runtime, RuntimeDep, Viewer, ViewerDep
from app.api.errors import described
from app.communications import reports
from app.db import Database
from app.flows.actions import perform
from app.incidents import harm, service
from app.incidents.schemas import (
    ActionIn,
    ActionResult,
    AlertRead,
    EventRead,
    IncidentDetail,
    IncidentPage,
    IncidentRead,
    LinkRead,
)
from app.text import MAX_DB_ID, MAX_DB_INT
from app.vocabulary import ACKNOWLEDGE, RESOLVE, IncidentStatus, Severity

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

StatusFilter = Literal["open"] | IncidentStatus
IncidentId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="The incident's id")]
# Filters compared with stored values: bounded, and no NUL (PostgreSQL refuses it).
TextFilter = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]


@router.get("", response_model=IncidentPage)
def list_incidents(
    session: ReadSession,
    viewer: ViewerDep,
    status: StatusFilter | None = None,
    severity: Severity | None = None,
    type: TextFilter = None,
    model: TextFilter = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0,
) -> IncidentPage:
    """List incidents, newest first; `status=open` means not yet resolved."""
    filters = service.IncidentFilter(status=status, severity=severity, type=type, model=model)
    rows, total = service.search(session, filters, limit, offset, viewer.narrowed_to)
    items = [IncidentRead.model_validate(row) for row in rows]
    return IncidentPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{incident_id}", response_model=IncidentDetail, responses=described(404))
def get_incident(incident_id: IncidentId, session: ReadSession, viewer: ViewerDep) -> IncidentDetail:
    """One incident with its alerts, its timeline and its current harm assessment."""
    incident = service.get_visible(session, incident_id, viewer.narrowed_to)
    # A duplicate folded into this incident keeps its alerts' history visible here.
    folded = service.duplicates_of(session, incident_id)
    rows = [a for i in (incident_id, *folded) for a in alerts.of_incident(session, i)]
    return IncidentDetail(
        **IncidentRead.model_validate(incident).model_dump(),
        alerts=[AlertRead.model_validate(a) for a in rows],
        timeline=[EventRead.model_validate(e) for e in service.timeline_of(session, incident_id)],
        links=[LinkRead.model_validate(link) for link in service.links_of(session, incident_id)],
        harm=harm.current(session, incident_id),
        evidence_hold=reports.evidence_hold(session, incident_id),
    )


def _act(
    rt: Runtime, db: Database, viewer: Viewer, incident_id: int, action: str, body: ActionIn
) -> ActionResult:
    if not viewer.everything:
        # Someone who may not see the incident cannot act on it either: 404, as if it did not exist.
        with db.session() as session:
            service.get_visible(session, incident_id, viewer.narrowed_to)
    send = rt.dispatcher.submit if rt.dispatcher is not None else None
    outcome = perform(db, send, incident_id, action, body.by, body.note, rt.protocol())
    return ActionResult(changed=outcome.changed, incident=outcome.incident)


@router.post("/{incident_id}/acknowledge", response_model=ActionResult, responses=described(404, 409))
def acknowledge(
    incident_id: IncidentId, body: ActionIn, rt: RuntimeDep, db: DatabaseDep, viewer: ViewerDep
) -> ActionResult:
    """Acknowledge: someone is on it. Repeating it is harmless; a resolved incident is a 409."""
    return _act(rt, db, viewer, incident_id, ACKNOWLEDGE, body)


@router.post("/{incident_id}/resolve", response_model=ActionResult, responses=described(404, 409))
def resolve(
    incident_id: IncidentId, body: ActionIn, rt: RuntimeDep, db: DatabaseDep, viewer: ViewerDep
) -> ActionResult:
    """Resolve the incident. Repeating it is harmless."""
    return _act(rt, db, viewer, incident_id, RESOLVE, body)
