"""Pages behind signed links. GET only shows; only the POST from the page's button acts,
because mail scanners and chat unfurlers fetch every link they see."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.db import Database, utcnow
from app.errors import DomainError
from app.incidents import repository
from app.incidents.actions import perform
from app.incidents.state import InvalidTransition
from app.paging.links import LinkClaims, sign, verify
from app.rules.service import RulesHolder
from app.web.rendering import TEMPLATES

router = APIRouter(tags=["links"], include_in_schema=False)
LABELS = {"acknowledge": ("Acknowledge", "primary"), "resolve": ("Resolve", "secondary")}
PAST = {"acknowledge": "acknowledged", "resolve": "resolved"}


def _render(status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("title", "incident-bridge")
    html = TEMPLATES.get_template("incident.html").render(**context)
    return HTMLResponse(
        html, status_code=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


def _claims(request: Request, token: str) -> LinkClaims | HTMLResponse:
    try:
        return verify(request.app.state.settings.secret_key, token, utcnow())
    except DomainError as exc:
        return _render(exc.status_code, notice=exc.detail, error=True, title="Link not valid")


def _page(
    request: Request, claims: LinkClaims, notice: str = "", error: bool = False, status: int = 200
) -> HTMLResponse:
    db: Database = request.app.state.db
    holder: RulesHolder = request.app.state.rules
    with db.session() as session:
        incident = repository.get(session, claims.incident_id)
        if incident is None:
            return _render(404, notice="This incident no longer exists.", error=True)
        timeline = repository.timeline_of(session, claims.incident_id)[-30:]
    forms = []
    if incident.is_open:
        secret = request.app.state.settings.secret_key
        actions = ["resolve"] if incident.status == "acknowledged" else ["acknowledge", "resolve"]
        for action in actions:
            # Same recipient and lifetime as the link that was opened.
            token = sign(secret, incident.id, claims.recipient, action, claims.expires_at)
            label, style = LABELS[action]
            forms.append({"action": f"/a/{token}", "label": label, "style": style})
    book = holder.current.runbooks.get((incident.runbook or {}).get("id") or "")
    return _render(
        status,
        incident=incident,
        timeline=timeline,
        forms=forms,
        recipient=claims.recipient,
        containment=book.containment if book else [],
        notice=notice,
        error=error,
        title=f"[{incident.severity}] {incident.title}",
    )


@router.get("/a/{token}", response_class=HTMLResponse)
def show(token: str, request: Request) -> HTMLResponse:
    """The incident, with buttons; nothing changes."""
    claims = _claims(request, token)
    if isinstance(claims, HTMLResponse):
        return claims
    return _page(request, claims)


@router.post("/a/{token}", response_class=HTMLResponse)
def act(token: str, request: Request) -> HTMLResponse:
    """The button was pressed: act as the link's recipient."""
    claims = _claims(request, token)
    if isinstance(claims, HTMLResponse):
        return claims
    if claims.action not in PAST:
        return _page(request, claims, "This link only shows the incident.", error=True, status=400)
    state = request.app.state
    try:
        outcome = perform(
            state.db,
            lambda: state.rules.current,
            state.dispatcher,
            claims.incident_id,
            claims.action,
            claims.recipient,
            "via link",
        )
    except InvalidTransition:
        return _page(request, claims, "This incident is already resolved; nothing to do.")
    except DomainError as exc:
        return _render(exc.status_code, notice=exc.detail, error=True)
    incident = outcome.incident
    if outcome.changed:
        notice = f"{PAST[claims.action].capitalize()} by {claims.recipient}."
    else:
        who = incident.acknowledged_by if claims.action == "acknowledge" else incident.resolved_by
        notice = f"Already {PAST[claims.action]} by {who}; nothing changed."
    return _page(request, claims, notice)
