"""Webhook receivers. Status codes follow Alertmanager's retry rules (5xx retried, 4xx not)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.alerts import metrics
from app.alerts.schemas import AlertmanagerWebhook, error_message, from_alertmanager
from app.alerts.writer import IntakeWriter
from app.api.deps import runtime
from app.errors import DomainError, MalformedBody, PayloadTooLarge, Unavailable
from app.security import check_secret

router = APIRouter(tags=["webhooks"])


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
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
        return AlertmanagerWebhook.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise MalformedBody("the body is not valid JSON") from None
        raise ShapeError(exc) from None


@router.post(
    "/webhooks/alertmanager",
    responses={400: {}, 401: {}, 413: {}, 422: {}, 503: {}},
)
async def alertmanager_webhook(request: Request) -> Response:
    """Receive a Prometheus Alertmanager webhook (version 4); 200 once stored durably."""
    started = time.perf_counter()
    code = 500
    try:
        rt = runtime(request)  # called directly: no dependency resolution on the hot path
        settings = rt.settings
        check_secret(request, settings.webhook_token, allow_basic=True)
        body = await read_body(request, settings.max_body_bytes)
        payload = parse_alertmanager(body)
        if rt.writer is None:
            raise Unavailable("the service is starting")
        writer: IntakeWriter[Any] = rt.writer
        incident_ids = await writer.submit(from_alertmanager(payload))
        code = 200
        answer = {"status": "accepted", "alerts": len(payload.alerts), "incidents": incident_ids}
        return Response(orjson.dumps(answer), media_type="application/json")
    except DomainError as exc:
        code = exc.status_code
        raise
    finally:
        metrics.WEBHOOK_REQUESTS.labels("alertmanager", str(code)).inc()
        metrics.WEBHOOK_SECONDS.labels("alertmanager").observe(time.perf_counter() - started)
