"""Operational endpoints: health, readiness, metrics, rule reload, runbook pages."""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text

from app.db import Database
from app.errors import NotFound
from app.rules.loader import ConfigError
from app.rules.service import RulesHolder
from app.security import check_secret

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_class=PlainTextResponse)
async def healthz() -> str:
    """The process is up."""
    return "ok"


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready to take traffic: the database answers and rules are loaded."""
    db: Database = request.app.state.db
    checks: dict[str, Any] = {}
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    holder: RulesHolder = request.app.state.rules
    checks["rules"] = len(holder.current.ruleset.rules)
    ready = checks["database"] == "ok"
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.post("/-/reload")
def reload_rules(request: Request) -> JSONResponse:
    """Re-read the rules and runbooks; a failed reload keeps the last good rules (422)."""
    check_secret(request, request.app.state.settings.api_token, allow_basic=False)
    holder: RulesHolder = request.app.state.rules
    try:
        config = holder.reload()
    except ConfigError as exc:
        return JSONResponse(
            {
                "reloaded": False,
                "problems": exc.problems,
                "kept_rules": len(holder.current.ruleset.rules),
            },
            status_code=422,
        )
    return JSONResponse(
        {"reloaded": True, "rules": len(config.ruleset.rules), "runbooks": len(config.runbooks)}
    )


@router.get("/runbooks/{runbook_id}", response_class=HTMLResponse)
def runbook_page(runbook_id: str, request: Request) -> HTMLResponse:
    """A runbook, readable on a phone (the raw Markdown with ?format=md)."""
    holder: RulesHolder = request.app.state.rules
    book = holder.current.runbooks.get(runbook_id)
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
