"""Runbook pages, readable on a phone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api.deps import CatalogDep
from app.web.rendering import TEMPLATES

router = APIRouter(tags=["runbooks"])


@router.get(
    "/runbooks/{runbook_id}",
    response_class=HTMLResponse,
    responses={404: {"description": "No such runbook (a page saying so)"}},
)
def runbook_page(runbook_id: str, request: Request, catalog: CatalogDep) -> HTMLResponse:
    """A runbook, readable on a phone (the raw Markdown with ?format=md)."""
    book = catalog.runbooks.get(runbook_id)
    if book is None:
        page = TEMPLATES.get_template("runbook.html").render(book=None, runbook_id=runbook_id)
        return HTMLResponse(page, status_code=404)
    if request.query_params.get("format") == "md":
        return HTMLResponse(book.body, media_type="text/markdown; charset=utf-8")
    html = TEMPLATES.get_template("runbook.html").render(book=book)
    return HTMLResponse(html)
