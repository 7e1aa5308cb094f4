"""Outbound HTTP shared by the HTTP channels: which failures are worth retrying."""

from __future__ import annotations

import httpx

from app.paging.notifiers.base import DeliveryError


def post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST; anything but 2xx raises DeliveryError, retryable for network errors, 408, 429, 5xx."""
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from exc
    if response.status_code >= 300:
        # Redirects are not followed: a page must reach the configured URL, not wherever it points.
        retryable = response.status_code in (408, 429) or response.status_code >= 500
        detail = response.text[:200].strip()
        raise DeliveryError(f"HTTP {response.status_code} from {url}: {detail}", retryable=retryable)
    return response
