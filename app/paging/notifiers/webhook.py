"""Generic webhook: JSON with an HMAC-SHA256 signature and a delivery id to dedupe on."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx
import orjson

from app.oncall.schemas import WebhookContact
from app.paging.message import Message
from app.paging.notifiers.http import post

SIGNATURE_HEADER = "X-Incident-Bridge-Signature"
DELIVERY_HEADER = "X-Incident-Bridge-Delivery"
TIMESTAMP_HEADER = "X-Incident-Bridge-Timestamp"


def payload(message: Message) -> dict[str, Any]:
    return {
        "delivery_id": message.delivery_id,
        "event": message.kind,
        "recipient": message.recipient,
        "urgency": message.urgency,
        "incident": {
            "id": message.incident_id,
            "key": message.incident_key,
            "title": message.title,
            "status": message.status,
            "severity": message.severity,
            "type": message.type,
            "model": message.model,
            "owner": message.owner,
            "opened_at": message.opened_at.isoformat(),
            "acknowledged_by": message.acknowledged_by,
            "resolved_by": message.resolved_by,
        },
        "runbook": {
            "title": message.runbook_title,
            "url": message.runbook_url,
            "containment": list(message.containment),
        },
        "links": message.links,
        "text": message.headline,
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """sha256=HEX of HMAC(secret, "<timestamp>." + body): receivers recompute and compare."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookNotifier:
    """POSTs signed JSON to the contact's URL, keyed by its own secret or the install's."""

    channel = "webhook"

    def __init__(self, client: httpx.Client, default_secret: str) -> None:
        self.client, self.default_secret = client, default_secret

    def send(self, contact: WebhookContact, message: Message) -> None:
        body = orjson.dumps(payload(message))
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: message.delivery_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(contact.secret or self.default_secret, timestamp, body),
        }
        post(self.client, contact.url, body, headers)
