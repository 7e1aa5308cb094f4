"""The workspace pages: incidents, one incident with a form for every action, report, on call.

Every form posts to a route here that calls the flow with `by` = the signed-in person and
redirects back (303) with a notice; a refused change (409, 422) is a readable notice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.api.deps import CatalogDep, DatabaseDep, ReadSession, Runtime, RuntimeDep, SettingsDep, runtime
from app.catalog.loader import Catalog
from app.db import utcnow
from app.errors import DomainError, Unavailable
from app.flows import workspace as flows
from app.flows.actions import perform
from app.incidents import history
from app.incidents import service as incidents
from app.incidents.schemas import (
    ContainIn,
    EscalateIn,
    EventMarkIn,
    IncidentRead,
    LinkIn,
    NoteIn,
    ReassignIn,
    ReclassifyIn,
    ReportIn,
    RolesIn,
    SnoozeIn,
)
from app.models import Incident
from app.oncall.service import on_call_now
from app.reviews import service as reviews
from app.text import MAX_DB_ID
from app.urls import safe_link
from app.vocabulary import (
    ACKNOWLEDGE,
    APPROVED,
    INCIDENT_SOURCES,
    INCIDENT_STATUSES,
    INCIDENT_TYPES,
    OPEN_STATUSES,
    RESOLVE,
    SEVERITIES,
)
from app.web import protocol_forms
from app.web.auth import Person, PersonDep, check_csrf, form_of, render

router = APIRouter(tags=["pages"], include_in_schema=False)
PAGE_SIZE = 50
SCAN_LIMIT = 2000  # newest incidents looked at when filtering by team or text
NOTICE = "bridge_notice"
IncidentId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
EventId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
Filter = Annotated[str, Query(max_length=200, pattern=r"^[^\x00]*$")]


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the notice the last action left (shown once)."""
    notice = request.cookies.get(NOTICE, "")
    kind, _, text = notice.partition(":")
    if text and "notice" not in context:
        context["notice"], context["error"] = text, kind == "error"
    response = render(request, template, status, **context)
    if notice:
        response.delete_cookie(NOTICE, path="/")
    return response


def _back(target: str, notice: str, error: bool = False) -> RedirectResponse:
    response = RedirectResponse(target, status_code=303)
    value = f"{'error' if error else 'ok'}:{' '.join(notice.split())[:500]}"
    response.set_cookie(NOTICE, value, max_age=60, httponly=True, samesite="lax", path="/")
    return response


def _only_one_incident(request: Request, person: Person) -> HTMLResponse | None:
    if person.incident_id is None:
        return None
    notice = f"Your link signs you in for incident #{person.incident_id} only."
    return render(request, "scoped.html", 403, notice=notice, error=True, incident_id=person.incident_id)


def _readable(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"] if part != "body")
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(problems)


# --- the list ----------------------------------------------------------------------------------


@router.get("/incidents", response_class=HTMLResponse)
def incident_list(
    request: Request,
    person: PersonDep,
    session: ReadSession,
    status: Filter = "",
    severity: Filter = "",
    type: Filter = "",
    model: Filter = "",
    team: Filter = "",
    q: Filter = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    """Incidents, open ones first, then newest; filtered and paged."""
    refused = _only_one_incident(request, person)
    if refused is not None:
        return refused
    filters = incidents.IncidentFilter(
        status=status or None, severity=severity or None, type=type or None, model=model or None
    )
    # Restricted incidents show only to those who may see them.
    rows, _ = incidents.search(session, filters, SCAN_LIMIT, 0, viewer_person=person.id)
    found = [IncidentRead.model_validate(row) for row in rows]
    if team:
        found = [i for i in found if (i.team or "") == team]
    if q:
        words = q.lower().split()
        found = [i for i in found if all(w in i.title.lower() for w in words)]
    found.sort(key=lambda i: i.status not in OPEN_STATUSES)  # stable: newest first within each
    start = (page - 1) * PAGE_SIZE
    shown = found[start : start + PAGE_SIZE]
    query = {
        k: v
        for k, v in dict(status=status, severity=severity, type=type, model=model, team=team, q=q).items()
        if v
    }

    def page_url(number: int) -> str:
        return "/incidents?" + urlencode({**query, "page": number})

    return _page(
        request,
        "incidents.html",
        title="Incidents",
        items=shown,
        total=len(found),
        filters=query,
        statuses=("open", *INCIDENT_STATUSES),
        severities=SEVERITIES,
        types=INCIDENT_TYPES,
        previous=page_url(page - 1) if page > 1 else None,
        next=page_url(page + 1) if start + PAGE_SIZE < len(found) else None,
        truncated=len(rows) >= SCAN_LIMIT,
    )


# --- report ------------------------------------------------------------------------------------


def _report_form(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    return _page(
        request,
        "report.html",
        status,
        title="Report an incident",
        types=INCIDENT_TYPES,
        severities=SEVERITIES,
        sources=[s for s in INCIDENT_SOURCES if s != "monitoring"],
        **context,
    )


@router.get("/incidents/new", response_class=HTMLResponse)
def report_page(request: Request, person: PersonDep) -> HTMLResponse:
    """The form to report an incident no alert caught."""
    return _only_one_incident(request, person) or _report_form(request, form={})


@router.post(
    "/incidents/new", response_class=HTMLResponse, response_model=None, dependencies=[Depends(check_csrf)]
)
async def report(
    request: Request,
    person: PersonDep,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
) -> Response:
    """Report an incident; the reporter is the signed-in person."""
    refused = _only_one_incident(request, person)
    if refused is not None:
        return refused
    form = await form_of(request)
    try:
        body = ReportIn(
            title=form.get("title", ""),
            type=form.get("type", ""),
            severity=form.get("severity") or None,
            model=form.get("model") or None,
            description=form.get("description", ""),
            source=form.get("source") or "user_report",
            reported_by=person.id,
            impact_started_at=protocol_forms.when_utc(form.get("impact_started_at", "")),
        )
        created = await run_in_threadpool(flows.report, db, rt.send(), catalog, config.public_url, body)
    except ValidationError as exc:
        return _report_form(request, 422, form=form, notice=_readable(exc), error=True)
    except DomainError as exc:
        return _report_form(request, exc.status_code, form=form, notice=exc.detail, error=True)
    return _back(f"/incidents/{created.id}", f"Incident #{created.id} reported.")


# --- one incident ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewPanel:
    """The incident page's post-incident review panel: the review's state, or whether one is needed."""

    started: bool
    required: bool
    status: str = ""
    owner: str | None = None
    due_at: datetime | None = None
    overdue: bool = False


def _review_panel(session: Session, catalog: Catalog, row: Incident) -> ReviewPanel:
    review = reviews.review_of(session, row.id)
    required = reviews.required(catalog.reviews, row)
    if review is None:
        return ReviewPanel(started=False, required=required)
    late = review.status != APPROVED and review.due_at < utcnow()
    return ReviewPanel(True, required, review.status, review.owner, review.due_at, late)


# However many alerts an incident gathers, its page shows at most this many of them, and of its
# timeline entries; an "earlier" link shows the ones before.
PAGE_ROWS = 100
C = TypeVar("C")


def _cursor(before: str | None, parse: Callable[[str], C]) -> C | None:
    """The cursor of an "earlier" link; anything else shows the latest rows."""
    try:
        return parse(before) if before else None
    except ValueError:
        return None


def _link(path: str, query: dict[str, str]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(
    request: Request,
    incident_id: IncidentId,
    person: PersonDep,
    session: ReadSession,
    catalog: CatalogDep,
    rt: RuntimeDep,
    db: DatabaseDep,
    hidden: bool = False,
    alerts_before: str | None = None,
    timeline_before: str | None = None,
) -> HTMLResponse:
    """One incident: containment first, its harm, regulatory clocks and notices, its latest alerts
    and timeline entries (earlier ones a link away) and a form for every action."""
    if not person.may_open(incident_id):
        return _only_one_incident(request, person) or HTMLResponse(status_code=403)
    try:
        row = incidents.get_visible(session, incident_id, person.id)  # 404 as if not there
    except DomainError as exc:
        return render(request, "base.html", exc.status_code, notice=exc.detail, error=True, title="Not found")
    incident = IncidentRead.model_validate(row)
    shown = None if hidden else False  # hidden entries too, or only the others
    events = history.timeline(
        session, incident_id, PAGE_ROWS, _cursor(timeline_before, history.parse_event_cursor), shown
    )
    recent = history.alerts(
        session, [incident_id], PAGE_ROWS, _cursor(alerts_before, history.parse_alert_cursor)
    )
    alert_rows = [{"alert": a, "link": safe_link(a.generator_url)} for a in reversed(recent.items)]
    here = f"/incidents/{incident_id}"
    keep = {"hidden": "1"} if hidden else {}
    runbook_id = incident.runbook.id if incident.runbook else None
    book = catalog.runbooks.get(runbook_id or "")
    roster = on_call_now(catalog.oncall, utcnow())
    on_call = sorted(
        {r["on_call"]["id"] for r in roster["rotations"] if r["on_call"]}
        | {p["id"] for m in roster["models"] if m["id"] == incident.model for p in m["paged_first"] if p}
    )
    panels = protocol_forms.panels(session, db, rt.protocol(), incident_id, person.id)
    return _page(
        request,
        "incident_detail.html",
        title=f"#{incident.id} [{incident.severity}] {incident.title}",
        incident=incident,
        timeline=list(reversed(events.items)),
        timeline_total=history.count_events(session, incident_id, shown),
        timeline_earlier=events.next and _link(here, {**keep, "timeline_before": events.next}),
        timeline_latest=timeline_before and _link(here, keep),
        hidden_count=history.count_events(session, incident_id, hidden=True),
        showing_hidden=hidden,
        alerts=alert_rows,
        alerts_total=history.count_alerts(session, [incident_id]),
        alerts_earlier=recent.next and _link(here, {**keep, "alerts_before": recent.next}),
        alerts_latest=alerts_before and _link(here, keep),
        links=incidents.links_of(session, incident_id),
        containment=book.containment if book else [],
        runbook_url=safe_link(incident.runbook.url if incident.runbook else None),
        on_call=on_call,
        people=sorted(catalog.oncall.people),
        types=INCIDENT_TYPES,
        severities=SEVERITIES,
        is_open=incident.status in OPEN_STATUSES,
        panels=panels,
        review_panel=_review_panel(session, catalog, row),
        **protocol_forms.template_helpers(),
    )


Act = Callable[[dict[str, str], str], tuple[object, str]]


def _require_visible(rt: Runtime, incident_id: int, person: str) -> None:
    """A restricted incident is acted on only by those who may see it (404 for anyone else)."""
    if rt.db is None:
        raise Unavailable("the service is starting")
    with rt.db.session() as session:
        incidents.get_visible(session, incident_id, person)


async def _act(request: Request, person: Person, incident_id: int, act: Act) -> Response:
    target = f"/incidents/{incident_id}"
    if not person.may_open(incident_id):
        return _only_one_incident(request, person) or HTMLResponse(status_code=403)
    form = await form_of(request)
    try:
        await run_in_threadpool(_require_visible, runtime(request), incident_id, person.id)
        _, notice = await run_in_threadpool(act, form, person.id)  # the flows block
    except ValidationError as exc:
        return _back(target, _readable(exc), error=True)
    except DomainError as exc:
        return _back(target, exc.detail, error=True)
    return _back(target, notice)


CsrfChecked = [Depends(check_csrf)]


@router.post("/incidents/{incident_id}/{action}", response_model=None, dependencies=CsrfChecked)
async def incident_action(
    request: Request,
    incident_id: IncidentId,
    action: str,
    person: PersonDep,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
) -> Response:
    """One action of the incident page, by the signed-in person."""
    send = rt.send()

    def changed(result: IncidentRead, what: str) -> tuple[IncidentRead, str]:
        return result, what

    def run(form: dict[str, str], by: str) -> tuple[object, str]:
        if action in protocol_forms.ACTIONS:  # harm, regulatory reports, notices
            return None, protocol_forms.act(action, form, by, db, send, rt.protocol(), incident_id)
        if action in (ACKNOWLEDGE, RESOLVE):
            outcome = perform(db, send, incident_id, action, by, form.get("note", ""), rt.protocol())
            word = "Acknowledged" if action == ACKNOWLEDGE else "Resolved"
            return outcome.incident, (f"{word}." if outcome.changed else "Nothing to change.")
        if action == "note":
            decision = form.get("decision") == "1"
            body = NoteIn(
                by=by,
                text=form.get("text", ""),
                kind="decision" if decision else "note",
                rationale=form.get("rationale", "") if decision else "",
            )
            return changed(
                flows.note(db, send, incident_id, body), "Decision recorded." if decision else "Note added."
            )
        if action == "contain":
            return changed(
                flows.contain(db, send, incident_id, ContainIn(by=by, note=form.get("note", ""))),
                "Contained.",
            )
        if action == "reclassify":
            body_c = ReclassifyIn(
                by=by,
                reason=form.get("reason", ""),
                type=form.get("type") or None,
                severity=form.get("severity") or None,
            )
            return changed(flows.reclassify(db, send, rt.protocol(), incident_id, body_c), "Reclassified.")
        if action == "roles":
            roles = {k: form[k].strip() for k in ("lead", "comms_lead", "reviewer") if k in form}
            return changed(flows.roles(db, send, incident_id, RolesIn(by=by, **roles)), "Roles updated.")
        if action == "reassign":
            body_r = ReassignIn(by=by, to=form.get("to", ""))
            return changed(
                flows.reassign(db, send, catalog, incident_id, body_r), f"Reassigned to {body_r.to}."
            )
        if action == "escalate":
            return changed(flows.escalate(db, send, catalog, incident_id, EscalateIn(by=by)), "Escalated.")
        if action == "snooze":
            minutes = int(form.get("minutes") or 0) if (form.get("minutes") or "0").isdigit() else 0
            body_s = SnoozeIn(by=by, minutes=minutes)
            return changed(flows.snooze(db, send, incident_id, body_s), f"Snoozed for {minutes} minutes.")
        if action == "link":
            other = form.get("other", "")
            body_l = LinkIn(
                by=by, incident_id=int(other) if other.isdigit() else 0, relation=form.get("relation", "")
            )
            return changed(flows.link(db, send, incident_id, body_l), f"Linked to #{body_l.incident_id}.")
        raise DomainError(f"unknown action {action!r}")

    return await _act(request, person, incident_id, run)


@router.post(
    "/incidents/{incident_id}/events/{event_id}/{mark}", response_model=None, dependencies=CsrfChecked
)
async def mark_event(
    request: Request,
    incident_id: IncidentId,
    event_id: EventId,
    mark: str,
    person: PersonDep,
    rt: RuntimeDep,
    db: DatabaseDep,
) -> Response:
    """Star, unstar, hide or show a timeline entry."""

    def run(form: dict[str, str], by: str) -> tuple[IncidentRead, str]:
        on = form.get("on", "1") == "1"
        if mark == "star":
            body = EventMarkIn(by=by, starred=on)
        elif mark == "hide":
            body = EventMarkIn(by=by, hidden=on)
        else:
            raise DomainError(f"unknown mark {mark!r}")
        result = flows.mark_event(db, rt.send(), incident_id, event_id, body)
        return result, f"Entry {'starred' if body.starred else 'hidden' if body.hidden else 'updated'}."

    return await _act(request, person, incident_id, run)


# --- on call -----------------------------------------------------------------------------------


def _fmt(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else ""


@router.get("/oncall", response_class=HTMLResponse)
def oncall_page(request: Request, person: PersonDep, catalog: CatalogDep) -> HTMLResponse:
    """Who is on call now, per rotation and per model."""
    refused = _only_one_incident(request, person)
    if refused is not None:
        return refused
    roster = on_call_now(catalog.oncall, utcnow())
    return _page(request, "oncall.html", title="On call", roster=roster, fmt=_fmt)
