"""Operational endpoints: health, readiness, metrics, rule reload."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text

from app.api.deps import RuntimeDep, SettingsDep
from app.catalog.loader import ConfigError
from app.security import check_secret

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_class=PlainTextResponse)
async def healthz() -> str:
    """The process is up."""
    return "ok"


@router.get("/readyz")
def readyz(rt: RuntimeDep) -> JSONResponse:
    """Ready to take traffic: the database answers and rules are loaded."""
    checks: dict[str, Any] = {}
    try:
        if rt.db is None:
            raise RuntimeError("not started")
        with rt.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    checks["rules"] = len(rt.catalog.current.ruleset.rules)
    ready = checks["database"] == "ok"
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.post("/-/reload")
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
