"""HTTP API of incidents."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.incidents import repository, state
from app.incidents.actions import perform
from app.incidents.schemas import (
    ActionIn,
    ActionResult,
    AlertRead,
    EventRead,
    IncidentDetail,
    IncidentPage,
    IncidentRead,
)
from app.web.deps import read_session

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

StatusFilter = Literal["open", "triggered", "acknowledged", "resolved"]
SeverityFilter = Literal["SEV1", "SEV2", "SEV3", "SEV4"]


@router.get("", response_model=IncidentPage)
def list_incidents(
    session: Annotated[Session, Depends(read_session)],
    status: StatusFilter | None = None,
    severity: SeverityFilter | None = None,
    type: str | None = None,
    model: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> IncidentPage:
    """List incidents, newest first; `status=open` means not yet resolved."""
    filters = repository.IncidentFilter(status=status, severity=severity, type=type, model=model)
    rows, total = repository.search(session, filters, limit, offset)
    items = [IncidentRead.model_validate(row) for row in rows]
    return IncidentPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{incident_id}", response_model=IncidentDetail)
def get_incident(incident_id: int, session: Annotated[Session, Depends(read_session)]) -> IncidentDetail:
    """One incident with its alerts and its timeline."""
    incident = repository.get(session, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return IncidentDetail(
        **IncidentRead.model_validate(incident).model_dump(),
        alerts=[AlertRead.model_validate(a) for a in repository.alerts_of(session, incident_id)],
        timeline=[EventRead.model_validate(e) for e in repository.timeline_of(session, incident_id)],
    )


def _act(request: Request, incident_id: int, action: str, body: ActionIn) -> ActionResult:
    state_ = request.app.state
    outcome = perform(
        state_.db, lambda: state_.rules.current, state_.dispatcher, incident_id, action, body.by, body.note
    )
    return ActionResult(changed=outcome.changed, incident=outcome.incident)


@router.post("/{incident_id}/acknowledge", response_model=ActionResult)
def acknowledge(incident_id: int, body: ActionIn, request: Request) -> ActionResult:
    """Acknowledge: someone is on it. Repeating it is harmless; a resolved incident is a 409."""
    return _act(request, incident_id, state.ACKNOWLEDGE, body)


@router.post("/{incident_id}/resolve", response_model=ActionResult)
def resolve(incident_id: int, body: ActionIn, request: Request) -> ActionResult:
    """Resolve the incident. Repeating it is harmless."""
    return _act(request, incident_id, state.RESOLVE, body)
