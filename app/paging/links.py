"""Signed action links: bound to incident, recipient and action, and expiring."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.errors import DomainError

ACTIONS = ("acknowledge", "resolve", "view")


class BadLink(DomainError):
    status_code = 403
    code = "bad_link"


class ExpiredLink(DomainError):
    status_code = 410
    code = "expired_link"


@dataclass(frozen=True)
class LinkClaims:
    incident_id: int
    recipient: str
    action: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str) -> bytes:
    # A key of its own, so a signature made here is worthless anywhere else the secret is used.
    return hmac.new(secret.encode(), b"incident-bridge action links v1", hashlib.sha256).digest()


def sign(secret: str, incident_id: int, recipient: str, action: str, expires_at: datetime) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown link action {action!r}")
    body = {"i": incident_id, "r": recipient, "a": action, "e": int(expires_at.timestamp())}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def verify(secret: str, token: str, now: datetime) -> LinkClaims:
    """The claims of a token; BadLink if it was tampered with, ExpiredLink if too old."""
    payload, _, mac = token.partition(".")
    try:
        expected = _b64(hmac.new(_key(secret), payload.encode(), hashlib.sha256).digest())
        # Compare the canonical text: base64 decoders ignore spare bits and padding, which would
        # let several spellings of one signature through.
        if not hmac.compare_digest(expected.encode(), mac.encode()):
            raise BadLink("this link is not valid: it was changed or not issued by this service")
        body = json.loads(_unb64(payload))
        claims = LinkClaims(
            incident_id=int(body["i"]),
            recipient=str(body["r"]),
            action=str(body["a"]),
            expires_at=datetime.fromtimestamp(int(body["e"]), tz=now.tzinfo),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BadLink("this link is not valid") from exc
    if claims.action not in ACTIONS:
        raise BadLink("this link is not valid")
    if claims.expires_at <= now:
        raise ExpiredLink("this link has expired; open the incident from a newer page")
    return claims


def links_for(
    public_url: str, secret: str, incident_id: int, recipient: str, now: datetime, ttl: timedelta
) -> dict[str, str]:
    """Acknowledge, resolve and view links for one recipient."""
    expires = now + ttl
    return {
        action: f"{public_url}/a/{sign(secret, incident_id, recipient, action, expires)}"
        for action in ACTIONS
    }
