"""Shared-secret checks for webhooks (bearer or basic auth) and the API (bearer)."""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import Request

from app.errors import Unauthorized


def _presented_secrets(header: str) -> list[str]:
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return [value]
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return []
        _, _, password = decoded.partition(":")
        return [password]
    return []


def check_secret(request: Request, expected: str | None, *, allow_basic: bool) -> None:
    """Raise Unauthorized unless the request carries the expected secret (no-op when unset)."""
    if expected is None:
        return
    header = request.headers.get("authorization", "")
    if not allow_basic and not header.lower().startswith("bearer "):
        raise Unauthorized("missing bearer token")
    for secret in _presented_secrets(header):
        if hmac.compare_digest(secret.encode(), expected.encode()):
            return
    raise Unauthorized("missing or wrong credentials")
