"""Generic webhook: JSON signed the Standard Webhooks way, with a delivery id to dedupe on.

Stock Standard Webhooks verifiers check `webhook-id`, `webhook-timestamp` and
`webhook-signature` (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`). The older
`X-Incident-Bridge-*` headers are still sent; their signature covers the delivery id too.
Contacts without a `secret` of their own are signed with the install's webhook key, which is
derived for this purpose only: holding it mints no acknowledge links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import httpx
import orjson

from app.instance.keys import webhook_key_bytes
from app.oncall.schemas import WebhookContact
from app.paging.message import Message
from app.paging.notifiers.http import post

SIGNATURE_HEADER = "X-Incident-Bridge-Signature"
DELIVERY_HEADER = "X-Incident-Bridge-Delivery"
TIMESTAMP_HEADER = "X-Incident-Bridge-Timestamp"
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"


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
            "url": message.runbook_link,
            "containment": list(message.containment),
        },
        "links": message.links,
        "text": message.headline,
        # A notice or a reminder carries its own text (a page's note says what changed).
        "note": message.note,
    }


def _mac(secret: str, delivery_id: str, timestamp: str, body: bytes) -> bytes:
    signed = delivery_id.encode() + b"." + timestamp.encode() + b"." + body
    return hmac.new(webhook_key_bytes(secret), signed, hashlib.sha256).digest()


def standard_signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` (Standard Webhooks)."""
    return "v1," + base64.b64encode(_mac(secret, delivery_id, timestamp, body)).decode()


def signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of "<id>.<timestamp>.<body>">`, same key as the standard one."""
    return "sha256=" + _mac(secret, delivery_id, timestamp, body).hex()


class WebhookNotifier:
    """POSTs signed JSON to the contact's URL, keyed by its own secret or the install's webhook key."""

    channel = "webhook"

    def __init__(self, client: httpx.Client, default_secret: str) -> None:
        self.client, self.default_secret = client, default_secret

    def send(self, contact: WebhookContact, message: Message) -> None:
        body = orjson.dumps(payload(message))
        timestamp = str(int(time.time()))
        secret = contact.secret or self.default_secret
        delivery_id = message.delivery_id
        headers = {
            "Content-Type": "application/json",
            STANDARD_ID_HEADER: delivery_id,
            STANDARD_TIMESTAMP_HEADER: timestamp,
            STANDARD_SIGNATURE_HEADER: standard_signature(secret, delivery_id, timestamp, body),
            DELIVERY_HEADER: delivery_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(secret, delivery_id, timestamp, body),
        }
        post(self.client, contact.url, body, headers, self.channel, message)
