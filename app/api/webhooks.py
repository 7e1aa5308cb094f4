"""Webhook receivers. Status codes follow Alertmanager's retry rules (5xx retried, 4xx not)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request, Security
from fastapi.responses import Response
from fastapi.security import HTTPBasic, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from app.alerts import metrics
from app.alerts.schemas import (
    AlertIn,
    AlertmanagerWebhook,
    error_message,
    fingerprint_mismatches,
    from_alertmanager,
    parse_context,
)
from app.alerts.writer import IntakeWriter
from app.api.deadlines import Expired, deadlines
from app.api.deps import Runtime, runtime
from app.api.errors import ErrorBody
from app.config import Settings
from app.db import utcnow
from app.errors import DomainError, MalformedBody, PayloadTooLarge, Unavailable
from app.flows import heartbeats
from app.heartbeats.config import HeartbeatsConfig
from app.security import check_secret

router = APIRouter(tags=["webhooks"])


# How long a sender may take to deliver a whole body; a slower one gets 408 and the connection
# closed, so a trickling client cannot hold a worker's connection forever.
def body_timeout(settings: Settings) -> float:
    """Seconds allowed to receive a webhook body (BRIDGE_WEBHOOK_BODY_TIMEOUT_SECONDS)."""
    return settings.webhook_body_timeout_seconds


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class BodyTimeout(DomainError):
    status_code = 408
    code = "request_timeout"


class ClientClosedRequest(DomainError):
    """The sender went away before its body arrived: its error, not ours (nginx's 499)."""

    status_code = 499
    code = "client_closed_request"


def require_json(request: Request) -> None:
    """Only `application/json` (any parameters, e.g. charset) is taken, as Alertmanager sends.

    Browsers send text/plain, form and multipart bodies across origins without asking first
    (no CORS preflight); refusing them keeps any web page from posting alerts. Other JSON
    types (`application/*+json`) are refused too: no sender of this format uses them.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() != "application/json":
        shown = content_type[:100] or "none"
        raise UnsupportedMediaType(f"the body must be application/json; the content type was {shown}")


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request body, refusing more than `limit` bytes without reading them all, and a body
    that takes longer than `timeout` seconds to arrive."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit}")
    chunks, size = [], 0
    try:
        with deadlines().within(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
    except Expired:
        raise BodyTimeout(f"the body did not arrive within {timeout:g} seconds") from None
    except ClientDisconnect:
        raise ClientClosedRequest("the client closed the connection before sending the whole body") from None
    return b"".join(chunks)


class ShapeError(DomainError):
    status_code = 422
    code = "invalid_payload"

    def __init__(self, exc: ValidationError) -> None:
        errors = [
            {"loc": list(e["loc"]), "msg": error_message(e), "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        super().__init__(f"the payload does not match the Alertmanager webhook format: {errors[:5]}")
        self.errors = errors


def parse_alertmanager(body: bytes) -> AlertmanagerWebhook:
    try:
        return AlertmanagerWebhook.model_validate_json(body, context=parse_context(body))
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise MalformedBody("the body is not valid JSON") from None
        raise ShapeError(exc) from None


def closing_answer(exc: DomainError) -> Response:
    """The error answer, closing the connection: the rest of an unread body is not waited for."""
    body = orjson.dumps({"error": exc.code, "detail": exc.detail})
    headers = {"Connection": "close"}
    return Response(body, status_code=exc.status_code, media_type="application/json", headers=headers)


# --- OpenAPI: what the endpoint takes and answers, documented without FastAPI parsing the body --


class WebhookAccepted(BaseModel):
    status: Literal["accepted"]
    alerts: int
    incidents: list[int]


class _DocumentedBearer(HTTPBearer):
    """Puts the scheme in the OpenAPI document; `check_secret` does the checking."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


class _DocumentedBasic(HTTPBasic):
    """Puts the scheme in the OpenAPI document; `check_secret` does the checking."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


DOCUMENTED_BEARER = _DocumentedBearer(
    scheme_name="webhookBearer", description="BRIDGE_WEBHOOK_TOKEN as the bearer token", auto_error=False
)
DOCUMENTED_BASIC = _DocumentedBasic(
    scheme_name="webhookBasic",
    description="Any user name, BRIDGE_WEBHOOK_TOKEN as the password",
    auto_error=False,
)


def _inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    """`schema` with each `#/$defs/...` reference replaced by its definition (none is recursive)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline_refs(value, defs) for key, value in schema.items() if key != "$defs"}
    if isinstance(schema, list):
        return [_inline_refs(item, defs) for item in schema]
    return schema


def _request_schema() -> dict[str, Any]:
    schema = AlertmanagerWebhook.model_json_schema(mode="validation")
    inlined: dict[str, Any] = _inline_refs(schema, schema.get("$defs", {}))
    return inlined


# A real Alertmanager 0.25 notification (tests/fixtures/alertmanager-0.25-webhooks.jsonl).
EXAMPLE: dict[str, Any] = {
    "receiver": "bridge",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "FeatureDrift",
                "feature": "tenure",
                "model": "churn-model",
                "severity": "warning",
                "team": "risk-ml",
            },
            "annotations": {
                "description": "auto",
                "runbook_url": "https://runbooks.example/FeatureDrift",
                "summary": "FeatureDrift on churn-model",
            },
            "startsAt": "2026-11-27T05:06:00.049512928Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph?g0.expr=x",
            "fingerprint": "a47d95dceb4671a0",
        }
    ],
    "groupLabels": {"alertname": "FeatureDrift", "model": "churn-model"},
    "commonLabels": {
        "alertname": "FeatureDrift",
        "feature": "tenure",
        "model": "churn-model",
        "severity": "warning",
        "team": "risk-ml",
    },
    "commonAnnotations": {
        "description": "auto",
        "runbook_url": "https://runbooks.example/FeatureDrift",
        "summary": "FeatureDrift on churn-model",
    },
    "externalURL": "http://vm:19093",
    "version": "4",
    "groupKey": '{}:{alertname="FeatureDrift", model="churn-model"}',
    "truncatedAlerts": 0,
}

REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": _request_schema(), "example": EXAMPLE}},
}


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": WebhookAccepted, "description": "Stored durably; the incidents the alerts touched"},
    400: _error("The body is not valid JSON"),
    401: _error("Missing or wrong credentials (when BRIDGE_WEBHOOK_TOKEN is set)"),
    408: _error("The body did not arrive in time; the connection is closed"),
    413: _error("The body exceeds BRIDGE_MAX_BODY_BYTES"),
    415: _error("The content type is not application/json"),
    422: _error("The body is not an Alertmanager version 4 webhook, or holds what cannot be stored"),
    500: _error("A bug; it is logged. Alertmanager retries"),
    503: _error("The alerts could not be stored now (starting, database unavailable); retry"),
}


BIG_BODY = 256 * 1024  # bytes; about 3,000 alerts


def _parse(body: bytes) -> tuple[AlertmanagerWebhook, list[AlertIn]]:
    payload = parse_alertmanager(body)
    return payload, from_alertmanager(payload)


async def take_beats(rt: Runtime, config: HeartbeatsConfig, alerts: Sequence[AlertIn]) -> Sequence[AlertIn]:
    """Commit the beats among the alerts (an always-firing alert such as Alertmanager's Watchdog
    is a heartbeat's beat, never an incident) before the answer; return the others, unchanged."""
    beaten, rest = heartbeats.split(config, alerts)
    if beaten:
        assert rt.db is not None  # set with the writer
        await asyncio.to_thread(heartbeats.record_beats, rt.db, beaten, utcnow())
    return rest


async def alertmanager_webhook(request: Request) -> Response:
    """Receive a Prometheus Alertmanager webhook (version 4); 200 once stored durably."""
    started = time.perf_counter()
    code = 500
    try:
        rt = runtime(request)  # called directly: no dependency resolution on the hot path
        settings = rt.settings
        check_secret(request, settings.webhook_token, allow_basic=True)
        require_json(request)
        try:
            body = await read_body(request, settings.max_body_bytes, body_timeout(settings))
        except (BodyTimeout, PayloadTooLarge) as exc:
            code = exc.status_code
            return closing_answer(exc)
        if len(body) < BIG_BODY:
            payload = parse_alertmanager(body)
            alerts = from_alertmanager(payload)
        else:  # parsed beside the event loop, which keeps answering the small ones meanwhile
            payload, alerts = await asyncio.to_thread(_parse, body)
        if rt.writer is None:
            raise Unavailable("the service is starting")
        writer: IntakeWriter[Any] = rt.writer
        for_intake: Sequence[AlertIn] = alerts
        beating = rt.catalog.current.heartbeats
        if beating.fed_by_alerts:  # one attribute read is all a body costs without such heartbeats
            for_intake = await take_beats(rt, beating, alerts)
        # A body of beats alone is durable once they are: nothing is left for the intake.
        incident_ids = await writer.submit(for_intake) if for_intake or not alerts else []
        code = 200
        mismatched = fingerprint_mismatches(alerts)  # counted once stored, like the alerts
        if mismatched:
            metrics.FINGERPRINT_MISMATCHES.inc(mismatched)
        answer = {"status": "accepted", "alerts": len(payload.alerts), "incidents": incident_ids}
        return Response(orjson.dumps(answer), media_type="application/json")
    except DomainError as exc:
        code = exc.status_code
        raise
    finally:
        metrics.WEBHOOK_REQUESTS.labels("alertmanager", str(code)).inc()
        metrics.WEBHOOK_SECONDS.labels("alertmanager").observe(time.perf_counter() - started)


WEBHOOK_PATH = "/webhooks/alertmanager"
# The app serves this path ahead of its middleware and router (BridgeApp.serve_first, see
# create_app): FastAPI's request handling (dependencies, query parameters, a response to merge
# headers from) and the layers around it would cost more than the rest of a one-alert webhook's
# answer. This route is never reached and only documents the endpoint, security schemes
# included, which FastAPI takes from dependencies alone.
router.add_api_route(
    WEBHOOK_PATH,
    alertmanager_webhook,
    methods=["POST"],
    responses=RESPONSES,
    openapi_extra={"requestBody": REQUEST_BODY},
    dependencies=[Security(DOCUMENTED_BEARER), Security(DOCUMENTED_BASIC)],
)
