"""Runbook pages, readable on a phone."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api.deps import CatalogDep
from app.errors import NotFound

router = APIRouter(tags=["runbooks"])


@router.get("/runbooks/{runbook_id}", response_class=HTMLResponse)
def runbook_page(runbook_id: str, request: Request, catalog: CatalogDep) -> HTMLResponse:
    """A runbook, readable on a phone (the raw Markdown with ?format=md)."""
    book = catalog.runbooks.get(runbook_id)
    if book is None:
        raise NotFound(f"runbook {runbook_id!r} not found")
    if request.query_params.get("format") == "md":
        return HTMLResponse(book.body, media_type="text/markdown; charset=utf-8")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(book.title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:1rem auto;"
        "padding:0 1rem;line-height:1.5}pre{white-space:pre-wrap}</style></head><body>"
        f"<h1>{html.escape(book.title)}</h1><pre>{html.escape(book.body)}</pre></body></html>"
    )
    return HTMLResponse(page)
