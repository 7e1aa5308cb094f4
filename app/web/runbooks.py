"""Runbook pages, readable on a phone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api.deps import CatalogDep, RuntimeDep
from app.incidents import service as incidents
from app.models import Incident
from app.web.auth import signed_in
from app.web.rendering import TEMPLATES

router = APIRouter(tags=["runbooks"])


@router.get(
    "/runbooks/{runbook_id}",
    response_class=HTMLResponse,
    responses={404: {"description": "No such runbook (a page saying so)"}},
)
def runbook_page(runbook_id: str, request: Request, catalog: CatalogDep, rt: RuntimeDep) -> HTMLResponse:
    """A runbook, readable on a phone (the raw Markdown with ?format=md); signed-in people also
    see the incidents that used it (those they may see)."""
    book = catalog.runbooks.get(runbook_id)
    if book is None:
        page = TEMPLATES.get_template("runbook.html").render(book=None, runbook_id=runbook_id)
        return HTMLResponse(page, status_code=404)
    if request.query_params.get("format") == "md":
        return HTMLResponse(book.body, media_type="text/markdown; charset=utf-8")
    person = signed_in(request)
    used: list[Incident] = []
    if person is not None and person.incident_id is None and rt.db is not None:
        with rt.db.session() as session:
            used = incidents.with_runbook(session, runbook_id, person.id)
    html = TEMPLATES.get_template("runbook.html").render(book=book, used=used, signed_in=person is not None)
    return HTMLResponse(html)
