"""Heartbeats over HTTP: a sender beats with `POST /heartbeats/{name}` (checked as the webhooks
are), and the API lists every declared heartbeat. Beats carried by alerts are taken in
api/webhooks.py."""

from __future__ import annotations

from fastapi import APIRouter, Request, Security

from app.api.deps import CatalogDep, DatabaseDep, SettingsDep
from app.api.errors import described
from app.api.webhooks import DOCUMENTED_BASIC, DOCUMENTED_BEARER, require_json
from app.db import utcnow
from app.flows import heartbeats as flows
from app.heartbeats.schemas import BeatAccepted, HeartbeatList
from app.security import check_secret

router = APIRouter(tags=["heartbeats"])
api_router = APIRouter(prefix="/api/v1", tags=["heartbeats"])


@router.post(
    "/heartbeats/{name}",
    response_model=BeatAccepted,
    responses=described(401, 404, 415, 500, 503),
    dependencies=[Security(DOCUMENTED_BEARER), Security(DOCUMENTED_BASIC)],
)
def beat(
    name: str, request: Request, config: SettingsDep, catalog: CatalogDep, db: DatabaseDep
) -> BeatAccepted:
    """Beat a declared heartbeat; 200 once the beat is stored. The body, if any, is ignored."""
    # As the webhook: its token (bearer, or basic auth with it as the password), and JSON only,
    # so that no web page can beat a heartbeat from a browser and hide a silence.
    check_secret(request, config.webhook_token, allow_basic=True)
    require_json(request)
    return BeatAccepted(status="accepted", heartbeat=flows.beat(db, catalog, name, utcnow()))


@api_router.get("/heartbeats", response_model=HeartbeatList)
def list_heartbeats(catalog: CatalogDep, db: DatabaseDep) -> HeartbeatList:
    """Every declared heartbeat: its interval, its last beat, whether it is silent, its incident."""
    items = flows.status(db, catalog, utcnow())
    return HeartbeatList(items=items, total=len(items))
