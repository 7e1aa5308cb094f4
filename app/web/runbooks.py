"""Runbook pages, readable on a phone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api.deps import CatalogDep
from app.api.errors import described
from app.errors import NotFound
from app.web.rendering import TEMPLATES

router = APIRouter(tags=["runbooks"])


@router.get("/runbooks/{runbook_id}", response_class=HTMLResponse, responses=described(404))
def runbook_page(runbook_id: str, request: Request, catalog: CatalogDep) -> HTMLResponse:
    """A runbook, readable on a phone (the raw Markdown with ?format=md)."""
    book = catalog.runbooks.get(runbook_id)
    if book is None:
        raise NotFound(f"runbook {runbook_id!r} not found")
    if request.query_params.get("format") == "md":
        return HTMLResponse(book.body, media_type="text/markdown; charset=utf-8")
    html = TEMPLATES.get_template("runbook.html").render(book=book)
    return HTMLResponse(html)
