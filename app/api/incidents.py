"""HTTP API of incidents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from app.api.deps import DatabaseDep, ReadSession, Runtime, RuntimeDep, Viewer, ViewerDep
from app.api.errors import described
from app.communications import reports
from app.db import Database
from app.errors import InvalidRequest
from app.flows.actions import perform
from app.incidents import harm, history, service
from app.incidents.schemas import (
    ActionIn,
    ActionResult,
    AlertPage,
    AlertRead,
    EventPage,
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
# However many alerts an incident gathers, one answer carries at most this many of them.
MAX_PAGE = 1000
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="how many, newest first")]
Before = Annotated[
    str | None, Query(max_length=100, description="the cursor a previous page's `next` carries")
]
C = TypeVar("C")


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


def _alert_sources(session: Session, incident_id: int) -> list[int]:
    # A duplicate folded into this incident keeps its alerts' history visible here.
    return [incident_id, *service.duplicates_of(session, incident_id)]


def _next(incident_id: int, collection: str, limit: int, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return f"{router.prefix}/{incident_id}/{collection}?{urlencode({'limit': limit, 'before': cursor})}"


def _cursor(before: str | None, parse: Callable[[str], C]) -> C | None:
    if before is None:
        return None
    try:
        return parse(before)
    except ValueError as exc:
        detail = f"`before` must be a cursor from a previous page's `next`: {exc}"
        raise InvalidRequest(detail, "before", "query") from None


@router.get("/{incident_id}", response_model=IncidentDetail, responses=described(404))
def get_incident(
    incident_id: IncidentId,
    session: ReadSession,
    viewer: ViewerDep,
    alerts_limit: PageLimit = 100,
    timeline_limit: PageLimit = 100,
) -> IncidentDetail:
    """One incident with its most recent alerts and timeline entries, their totals, and its harm."""
    incident = service.get_visible(session, incident_id, viewer.narrowed_to)
    sources = _alert_sources(session, incident_id)
    alerts = history.alerts(session, sources, alerts_limit, None)
    events = history.timeline(session, incident_id, timeline_limit, None)
    # Oldest first, as this answer always listed them; the pages behind `*_next` go further back.
    return IncidentDetail(
        **IncidentRead.model_validate(incident).model_dump(),
        alerts=[AlertRead.model_validate(a) for a in reversed(alerts.items)],
        alerts_total=history.count_alerts(session, sources) if alerts.next else len(alerts.items),
        alerts_next=_next(incident_id, "alerts", alerts_limit, alerts.next),
        timeline=[EventRead.model_validate(e) for e in reversed(events.items)],
        timeline_total=history.count_events(session, incident_id) if events.next else len(events.items),
        timeline_next=_next(incident_id, "timeline", timeline_limit, events.next),
        links=[LinkRead.model_validate(link) for link in service.links_of(session, incident_id)],
        harm=harm.current(session, incident_id),
        evidence_hold=reports.evidence_hold(session, incident_id),
    )


@router.get("/{incident_id}/alerts", response_model=AlertPage, responses=described(404))
def list_alerts(
    incident_id: IncidentId,
    session: ReadSession,
    viewer: ViewerDep,
    limit: PageLimit = 100,
    before: Before = None,
) -> AlertPage:
    """A page of the incident's alerts (those of duplicates folded into it too), newest first."""
    cursor = _cursor(before, history.parse_alert_cursor)
    service.get_visible(session, incident_id, viewer.narrowed_to)
    page = history.alerts(session, _alert_sources(session, incident_id), limit, cursor)
    items = [AlertRead.model_validate(a) for a in page.items]
    return AlertPage(items=items, next=_next(incident_id, "alerts", limit, page.next))


@router.get("/{incident_id}/timeline", response_model=EventPage, responses=described(404))
def list_timeline(
    incident_id: IncidentId,
    session: ReadSession,
    viewer: ViewerDep,
    limit: PageLimit = 100,
    before: Before = None,
) -> EventPage:
    """A page of the incident's timeline, newest first (by time, then id)."""
    cursor = _cursor(before, history.parse_event_cursor)
    service.get_visible(session, incident_id, viewer.narrowed_to)
    page = history.timeline(session, incident_id, limit, cursor)
    items = [EventRead.model_validate(e) for e in page.items]
    return EventPage(items=items, next=_next(incident_id, "timeline", limit, page.next))


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
