"""Operational endpoints: health, readiness, metrics, rule reload."""

from __future__ import annotations

import logging
import socket
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from app.api.deps import RuntimeDep, SettingsDep
from app.api.errors import described
from app.catalog.loader import ConfigError
from app.db import utcnow
from app.instance import service as instance
from app.metrics import exposition
from app.security import check_secret

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)
REPLICA = socket.gethostname()[:200]


@router.get("/healthz", response_class=PlainTextResponse)
async def healthz() -> str:
    """The process is up."""
    return "ok"


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Any] = Field(description="`database`: ok or why not; `rules`: how many are loaded")


class Reloaded(BaseModel):
    reloaded: bool
    rules: int | None = None
    runbooks: int | None = None
    problems: list[str] | None = Field(default=None, description="every problem, with file:line")
    kept_rules: int | None = Field(default=None, description="the last good rules still in force")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: the database does not take writes"}},
)
def readyz(rt: RuntimeDep) -> JSONResponse:
    """Ready to take traffic: the database takes a write (not only a read) and rules are loaded."""
    checks: dict[str, Any] = {}
    try:
        if rt.db is None:
            raise RuntimeError("not started")
        with rt.db.session(write=True) as session:
            instance.probe_write(session, REPLICA, utcnow())
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readiness: the database does not take writes: %s", exc)
        checks["database"] = f"not writable: {type(exc).__name__}"
    checks["rules"] = len(rt.catalog.current.ruleset.rules)
    ready = checks["database"] == "ok"
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get(
    "/metrics", response_class=PlainTextResponse, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}}
)
def metrics() -> Response:
    """Prometheus metrics."""
    return Response(exposition.latest(), media_type=CONTENT_TYPE_LATEST)


@router.post(
    "/-/reload",
    response_model=Reloaded,
    responses={
        **described(401, 500),
        422: {"model": Reloaded, "description": "The new rules have problems; the last good ones stay"},
    },
    openapi_extra={"security": [{"apiToken": []}]},
)
def reload_rules(request: Request, rt: RuntimeDep, config: SettingsDep) -> JSONResponse:
    """Re-read the rules and runbooks; a failed reload keeps the last good rules (422)."""
    check_secret(request, config.api_token, allow_basic=False)
    holder = rt.catalog
    try:
        catalog = holder.reload()
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
        {"reloaded": True, "rules": len(catalog.ruleset.rules), "runbooks": len(catalog.runbooks)}
    )
