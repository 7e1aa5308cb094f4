"""One key per purpose, derived from the master key, so no holder of one can forge another.

The master key is BRIDGE_SECRET_KEY, or, when that is unset, a random key generated on first
start and kept in the database for every replica. It never signs anything itself:

- `links` signs acknowledge, resolve and view links;
- `webhooks` signs deliveries to webhook contacts that have no `secret` of their own. Receivers
  get this key (`incident-bridge webhook-secret` prints it) and can verify deliveries with it,
  but cannot derive the link key from it: each is an HMAC of the master key with its own label;
- `trackers` verifies ticket trackers' calls that close improvement actions
  (`incident-bridge tracker-secret` prints it for GitHub, Jira or Linear automation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

WEBHOOK_SECRET_PREFIX = "whsec_"  # the Standard Webhooks spelling of a signing secret


@dataclass(frozen=True)
class Keys:
    links: str = ""
    webhooks: str = ""
    trackers: str = ""

    def __repr__(self) -> str:  # keys never reach a log line by accident
        return "Keys(links=***, webhooks=***, trackers=***)"


def _derive(master: str, purpose: str) -> bytes:
    return hmac.new(master.encode(), f"incident-bridge/{purpose}/v1".encode(), hashlib.sha256).digest()


def derive(master: str) -> Keys:
    """The per-purpose keys of a master key."""
    links = base64.urlsafe_b64encode(_derive(master, "links")).decode()
    webhooks = WEBHOOK_SECRET_PREFIX + base64.b64encode(_derive(master, "webhooks")).decode()
    trackers = base64.urlsafe_b64encode(_derive(master, "trackers")).decode().rstrip("=")
    return Keys(links=links, webhooks=webhooks, trackers=trackers)


def webhook_key_bytes(secret: str) -> bytes:
    """The HMAC key of a webhook secret: `whsec_<base64>` decoded, any other text as UTF-8."""
    if secret.startswith(WEBHOOK_SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
        except ValueError:
            pass
    return secret.encode()
