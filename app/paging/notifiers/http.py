"""Outbound HTTP shared by the HTTP channels: which failures are worth retrying.

Error texts end up in the row's `last_error`, the incident timeline and the logs, so they name
the channel, the recipient and the HTTP status, never the URL: a Slack webhook URL is a
credential, and receivers' error bodies may echo the request (and its key) back.
"""

from __future__ import annotations

import httpx

from app.paging.message import Message
from app.paging.notifiers.base import DeliveryError


def post(
    client: httpx.Client, url: str, body: bytes, headers: dict[str, str], channel: str, message: Message
) -> httpx.Response:
    """POST; anything but 2xx raises DeliveryError, retryable for network errors, 408, 429, 5xx."""
    target = f"{channel} to {message.recipient}"
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.InvalidURL:
        raise DeliveryError(f"{target}: invalid URL", retryable=False) from None
    except httpx.HTTPError as exc:
        # The exception's text may quote the URL: the type says enough (connect, timeout...).
        raise DeliveryError(f"{target}: {type(exc).__name__}", retryable=True) from None
    if response.status_code >= 300:
        # Redirects are not followed: a page must reach the configured URL, not wherever it points.
        retryable = response.status_code in (408, 429) or response.status_code >= 500
        raise DeliveryError(f"{target}: HTTP {response.status_code}", retryable=retryable)
    return response
