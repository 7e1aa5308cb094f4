"""A receiver's verification of our webhook signatures, written from the specs, not from our code.

Standard Webhooks (https://www.standardwebhooks.com, "Verifying webhooks"): the signed content is
`{webhook-id}.{webhook-timestamp}.{body}`; the signature is the base64 HMAC-SHA256 of it under
the secret (a `whsec_` secret is base64 after its prefix); the `webhook-signature` header is a
space-separated list of `v1,<signature>`; a timestamp more than five minutes off is refused.
The older `X-Incident-Bridge-Signature` is `sha256=<hex HMAC-SHA256>` of the same content.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE_SECONDS = 5 * 60


def key_of(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode("utf-8")


def _signed(headers: Mapping[str, str], body: bytes, id_header: str, ts_header: str) -> tuple[bytes, str]:
    msg_id, timestamp = headers[id_header], headers[ts_header]
    return f"{msg_id}.{timestamp}.".encode() + body, timestamp


def verifies_standard(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether a stock Standard Webhooks verifier accepts this delivery (header names lower-case)."""
    content, timestamp = _signed(headers, body, "webhook-id", "webhook-timestamp")
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = base64.b64encode(hmac.new(key_of(secret), content, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


def verifies_legacy(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether `X-Incident-Bridge-Signature` matches (header names lower-case)."""
    content, _ = _signed(headers, body, "x-incident-bridge-delivery", "x-incident-bridge-timestamp")
    expected = "sha256=" + hmac.new(key_of(secret), content, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["x-incident-bridge-signature"], expected)
