"""Pages behind signed links. GET only shows; only the POST from the page's button acts,
because mail scanners and chat unfurlers fetch every link they see.

A link does exactly what it was signed for: an acknowledge link's page offers only
Acknowledge, a resolve link's only Resolve, a view link's nothing; the button posts back to the
very token that was opened, so no page ever mints a token of its own.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import DBAPIError

from app.api.deps import Runtime, RuntimeDep
from app.db import is_unavailable, utcnow
from app.errors import DomainError, Unavailable
from app.flows.actions import perform
from app.incidents import history
from app.incidents import service as incidents
from app.incidents.state import InvalidTransition
from app.paging.links import LinkClaims, verify
from app.urls import safe_link
from app.vocabulary import ACKNOWLEDGE, OPEN_STATUSES, PAST_TENSE, RESOLVE, TRIGGERED
from app.web.auth import signed_in, start_session
from app.web.rendering import TEMPLATES

router = APIRouter(tags=["links"], include_in_schema=False)
LABELS = {"acknowledge": ("Acknowledge", "primary"), "resolve": ("Resolve", "secondary")}


def _render(status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("title", "incident-bridge")
    html = TEMPLATES.get_template("incident.html").render(**context)
    return HTMLResponse(
        html, status_code=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


def _claims(rt: Runtime, token: str) -> LinkClaims | HTMLResponse:
    try:
        return verify(rt.keys.links, token, utcnow())
    except DomainError as exc:
        return _render(exc.status_code, notice=exc.detail, error=True, title="Link not valid")


def _offers(status: str, action: str) -> bool:
    """Whether the page of a link signed for `action` shows its button now."""
    if action == ACKNOWLEDGE:
        return status == TRIGGERED
    if action == RESOLVE:
        return status in OPEN_STATUSES
    return False  # a view link only shows


def _page(
    rt: Runtime,
    claims: LinkClaims,
    token: str,
    notice: str = "",
    error: bool = False,
    status: int = 200,
    workspace: bool = False,
) -> HTMLResponse:
    if rt.db is None:
        raise Unavailable("the service is starting")
    with rt.db.session() as session:
        incident = incidents.find(session, claims.incident_id)
        if incident is None:
            return _render(404, notice="This incident no longer exists.", error=True)
        timeline = list(reversed(history.timeline(session, claims.incident_id, 30, None).items))
    forms = []
    if _offers(incident.status, claims.action):
        label, style = LABELS[claims.action]
        forms.append({"action": f"/a/{token}", "label": label, "style": style})
    book = rt.catalog.current.runbooks.get((incident.runbook or {}).get("id") or "")
    return _render(
        status,
        incident=incident,
        timeline=timeline,
        forms=forms,
        recipient=claims.recipient,
        containment=book.containment if book else [],
        runbook_url=safe_link((incident.runbook or {}).get("url")),
        notice=notice,
        error=error,
        workspace=workspace,
        title=f"[{incident.severity}] {incident.title}",
    )


@router.get("/a/{token}", response_class=HTMLResponse)
def show(token: str, rt: RuntimeDep) -> HTMLResponse:
    """The incident, with buttons; nothing changes."""
    claims = _claims(rt, token)
    if isinstance(claims, HTMLResponse):
        return claims
    return _page(rt, claims, token)


@router.post("/a/{token}", response_class=HTMLResponse)
def act(token: str, request: Request, rt: RuntimeDep) -> HTMLResponse:
    """The button was pressed: act as the link's recipient, signed in for this incident only."""
    claims = _claims(rt, token)
    if isinstance(claims, HTMLResponse):
        return claims
    if claims.action not in PAST_TENSE:
        return _page(rt, claims, token, "This link only shows the incident.", error=True, status=400)
    if rt.db is None:
        raise Unavailable("the service is starting")
    try:
        outcome = perform(
            rt.db,
            rt.dispatcher.submit if rt.dispatcher is not None else None,
            claims.incident_id,
            claims.action,
            claims.recipient,
            "via link",
            rt.protocol(),
        )
    except DBAPIError as exc:
        if not is_unavailable(exc):
            raise
        notice = "The service cannot record this right now; try again in a moment."
        return _render(503, notice=notice, error=True)
    except InvalidTransition:
        return _page(rt, claims, token, "This incident is already resolved; nothing to do.")
    except DomainError as exc:
        return _render(exc.status_code, notice=exc.detail, error=True)
    incident = outcome.incident
    if outcome.changed:
        notice = f"{PAST_TENSE[claims.action].capitalize()} by {claims.recipient}."
    else:
        who = incident.acknowledged_by if claims.action == "acknowledge" else incident.resolved_by
        notice = f"Already {PAST_TENSE[claims.action]} by {who}; nothing changed."
    page = _page(rt, claims, token, notice, workspace=True)
    current = signed_in(request)
    if current is None or current.incident_id is not None:  # a full session stays as it is
        start_session(rt, page, claims.recipient, incident_id=claims.incident_id)
    return page
