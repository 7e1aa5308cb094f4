"""Pages behind signed links. GET only shows; only the POST from the page's button acts,
because mail scanners and chat unfurlers fetch every link they see."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app.api.deps import Runtime, RuntimeDep
from app.db import utcnow
from app.errors import DomainError, Unavailable
from app.flows.actions import perform
from app.incidents import service as incidents
from app.incidents.state import InvalidTransition
from app.paging.links import LinkClaims, sign, verify
from app.vocabulary import ACKNOWLEDGED, PAST_TENSE
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
        return verify(rt.settings.secret_key, token, utcnow())
    except DomainError as exc:
        return _render(exc.status_code, notice=exc.detail, error=True, title="Link not valid")


def _page(
    rt: Runtime, claims: LinkClaims, notice: str = "", error: bool = False, status: int = 200
) -> HTMLResponse:
    if rt.db is None:
        raise Unavailable("the service is starting")
    with rt.db.session() as session:
        incident = incidents.find(session, claims.incident_id)
        if incident is None:
            return _render(404, notice="This incident no longer exists.", error=True)
        timeline = incidents.timeline_of(session, claims.incident_id)[-30:]
    forms = []
    if incident.is_open:
        secret = rt.settings.secret_key
        actions = ["resolve"] if incident.status == ACKNOWLEDGED else ["acknowledge", "resolve"]
        for action in actions:
            # Same recipient and lifetime as the link that was opened.
            token = sign(secret, incident.id, claims.recipient, action, claims.expires_at)
            label, style = LABELS[action]
            forms.append({"action": f"/a/{token}", "label": label, "style": style})
    book = rt.catalog.current.runbooks.get((incident.runbook or {}).get("id") or "")
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
def show(token: str, rt: RuntimeDep) -> HTMLResponse:
    """The incident, with buttons; nothing changes."""
    claims = _claims(rt, token)
    if isinstance(claims, HTMLResponse):
        return claims
    return _page(rt, claims)


@router.post("/a/{token}", response_class=HTMLResponse)
def act(token: str, rt: RuntimeDep) -> HTMLResponse:
    """The button was pressed: act as the link's recipient."""
    claims = _claims(rt, token)
    if isinstance(claims, HTMLResponse):
        return claims
    if claims.action not in PAST_TENSE:
        return _page(rt, claims, "This link only shows the incident.", error=True, status=400)
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
        )
    except InvalidTransition:
        return _page(rt, claims, "This incident is already resolved; nothing to do.")
    except DomainError as exc:
        return _render(exc.status_code, notice=exc.detail, error=True)
    incident = outcome.incident
    if outcome.changed:
        notice = f"{PAST_TENSE[claims.action].capitalize()} by {claims.recipient}."
    else:
        who = incident.acknowledged_by if claims.action == "acknowledge" else incident.resolved_by
        notice = f"Already {PAST_TENSE[claims.action]} by {who}; nothing changed."
    return _page(rt, claims, notice)
