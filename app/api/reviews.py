"""HTTP API of post-incident reviews and improvement actions, the closing rule, and the signed
webhook ticket trackers call to close an action."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import JSONResponse, Response

from app.api.deps import CatalogDep, DatabaseDep, RuntimeDep, SettingsDep, ViewerDep
from app.api.errors import described
from app.api.incidents import IncidentId
from app.errors import InvalidRequest, MalformedBody, Unauthorized, Unavailable
from app.flows import reviews as flows
from app.incidents.schemas import IncidentRead
from app.reviews.schemas import ActionIn, ActionList, ActionPatch, ActionRead, CloseIn, ReviewIn, ReviewRead
from app.text import MAX_DB_ID
from app.vocabulary import ActionStatus

router = APIRouter(tags=["reviews"])
tracker_router = APIRouter(tags=["webhooks"])
ActionId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="The improvement action's id")]
MAX_TRACKER_BODY = 256 * 1024


@router.get(
    "/api/v1/incidents/{incident_id}/review",
    response_model=ReviewRead,
    responses={**described(404), 200: {"content": {"text/markdown": {}}}},
)
def get_review(
    incident_id: IncidentId,
    db: DatabaseDep,
    catalog: CatalogDep,
    config: SettingsDep,
    viewer: ViewerDep,
    format: Annotated[
        Literal["json", "md"], Query(description="`md`: Markdown for a wiki or ticket")
    ] = "json",
) -> Any:
    """The incident's post-incident review with its actions (`?format=md` for Markdown)."""
    if format == "md":
        text = flows.review_markdown(db, catalog, incident_id, viewer.narrowed_to, config.public_url)
        return Response(text, media_type="text/markdown; charset=utf-8")
    return flows.get_review(db, catalog, incident_id, viewer.narrowed_to)


@router.put(
    "/api/v1/incidents/{incident_id}/review", response_model=ReviewRead, responses=described(404, 409)
)
def put_review(
    incident_id: IncidentId,
    body: ReviewIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    viewer: ViewerDep,
) -> ReviewRead:
    """Write the review (the fields given replace the stored ones); `status: approved` approves it
    when it is complete (409 naming what is missing)."""
    return flows.put_review(db, rt.send(), catalog, incident_id, body, viewer.narrowed_to)


@router.post(
    "/api/v1/incidents/{incident_id}/review/actions",
    response_model=ActionRead,
    status_code=status.HTTP_201_CREATED,
    responses=described(404),
)
def add_action(
    incident_id: IncidentId,
    body: ActionIn,
    rt: RuntimeDep,
    db: DatabaseDep,
    catalog: CatalogDep,
    viewer: ViewerDep,
) -> ActionRead:
    """An improvement action: its owner is told; priority sets the default due date."""
    return flows.add_action(db, rt.send(), catalog, incident_id, body, viewer.narrowed_to)


@router.post(
    "/api/v1/incidents/{incident_id}/close", response_model=IncidentRead, responses=described(404, 409)
)
def close(
    incident_id: IncidentId, body: CloseIn, db: DatabaseDep, catalog: CatalogDep, viewer: ViewerDep
) -> IncidentRead:
    """Close a resolved incident: 409 with the reason while a required review is not approved."""
    return flows.close(db, catalog, incident_id, body.by, viewer.narrowed_to)


@router.get("/api/v1/actions", response_model=ActionList)
def list_actions(
    db: DatabaseDep,
    viewer: ViewerDep,
    status: ActionStatus | None = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> ActionList:
    """Improvement actions, due first; `overdue=true`: open or in progress and past due."""
    return ActionList(items=flows.list_actions(db, status, owner, overdue, viewer.narrowed_to, limit))


@router.patch("/api/v1/actions/{action_id}", response_model=ActionRead, responses=described(404))
def patch_action(action_id: ActionId, body: ActionPatch, db: DatabaseDep, viewer: ViewerDep) -> ActionRead:
    """Move an action: `open`, `in_progress`, `done`, or `wont_do` with a `reason`."""
    return flows.patch_action(db, action_id, body, viewer.narrowed_to)


def tracker_signature(key: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def _tracker_status(payload: Any) -> tuple[str, str | None]:
    """What the tracker says: `{"status", "reason"}`, or a GitHub issue or pull request event."""
    if not isinstance(payload, dict):
        raise MalformedBody("the body must be a JSON object")
    if "status" in payload:
        reason = payload.get("reason")
        return str(payload["status"]), str(reason) if reason is not None else None
    if payload.get("action") == "closed":
        return "done", None
    if payload.get("action") == "reopened":
        return "open", None
    raise InvalidRequest("say `status` (done, wont_do, in_progress, open), or send a GitHub `closed` event")


@tracker_router.post(
    "/webhooks/actions/{action_id}", response_model=ActionRead, responses=described(400, 401, 404, 422)
)
async def tracker_update(action_id: ActionId, request: Request, rt: RuntimeDep) -> Response:
    """A ticket tracker's automation closes (or reopens) an improvement action. The body is signed
    with the tracker key (`incident-bridge tracker-secret`) in `X-Hub-Signature-256` (GitHub's
    header) or `X-Bridge-Signature`: `sha256=<hex HMAC-SHA256 of the body>`."""
    body = await request.body()
    if len(body) > MAX_TRACKER_BODY:
        raise MalformedBody("the body is too large")
    given = request.headers.get("x-hub-signature-256") or request.headers.get("x-bridge-signature") or ""
    if not hmac.compare_digest(given.encode(), tracker_signature(rt.keys.trackers, body).encode()):
        raise Unauthorized("the signature is missing or does not match the tracker key")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedBody("the body is not JSON") from None
    state, reason = _tracker_status(payload)
    try:
        patch = ActionPatch.model_validate({"status": state, "reason": reason, "by": "ticket tracker"})
    except ValueError as exc:
        raise InvalidRequest(f"unknown status {state!r}") from exc
    if rt.db is None:
        raise Unavailable("the service is starting")
    result = flows.patch_action(rt.db, action_id, patch, None)
    return JSONResponse(result.model_dump(mode="json"))
