"""The ceiling for the webhook benchmark: a bare FastAPI app that only parses and validates.

It accepts the same Alertmanager bodies as `POST /webhooks/alertmanager` of incident-bridge and
validates them with the project's own schema, then answers 200 without storing anything.
The benchmark serves it with the same uvicorn settings as the service (uvloop,
httptools, one worker, no access log):

    .venv/bin/python -m uvicorn parse_only_app:app --app-dir bench/webhook --port 8081
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request, Response
from pydantic import ValidationError

from app.alerts.schemas import AlertmanagerWebhook

try:  # what the service passes too: a body without an escaped NUL is not searched for one
    from app.alerts.schemas import parse_context
except ImportError:  # an older schema module

    def parse_context(body: bytes) -> dict[str, bool]:
        return {}


app = FastAPI(title="incident-bridge parse-only ceiling", docs_url=None, redoc_url=None)


@app.post("/webhooks/alertmanager")
async def alertmanager_webhook(request: Request) -> Response:
    body = await request.body()
    try:
        payload = AlertmanagerWebhook.model_validate_json(body, context=parse_context(body))
    except ValidationError:
        return Response(b'{"error":"invalid_payload"}', status_code=422, media_type="application/json")
    answer = {"status": "accepted", "alerts": len(payload.alerts), "incidents": []}
    return Response(orjson.dumps(answer), media_type="application/json")


@app.get("/readyz")
async def readyz() -> Response:
    return Response(b'{"ready":true}', media_type="application/json")
