"""Which contact a notification goes to, stored as a reference instead of a copy.

A row names the contact's owner (a person, or a team for fallback contacts), its type and a
short digest of the address it reaches (email address, webhook URL, Slack webhook URL,
PagerDuty routing key). The digest is one-way, so the table holds no webhook URL, routing key
or secret; the contact is looked up in the current on-call file when the page is sent. The
digest leaves out a webhook's `secret` and the urgencies, so rotating a secret keeps pending
pages sendable (signed with the new secret).

Rows written by older versions hold a full copy of the contact; they are still sent from it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import TypeAdapter, ValidationError

from app.oncall.config import OncallConfig
from app.oncall.schemas import Contact
from app.paging.notifiers.base import DeliveryError

PERSON, TEAM = "person", "team"
TEAM_PREFIX = "team:"  # the recipient of a team's fallback contacts
ADDRESS_FIELD = {"email": "address", "webhook": "url", "slack": "webhook_url", "pagerduty": "routing_key"}
CONTACT: TypeAdapter[Contact] = TypeAdapter(Contact)

Reference = dict[str, str]


def digest(data: dict[str, Any]) -> str:
    """16 hex digits of SHA-256 over the contact's type and address: compares, never reveals."""
    kind = str(data.get("type"))
    address = str(data.get(ADDRESS_FIELD.get(kind, ""), ""))
    return hashlib.sha256(f"incident-bridge/contact/v1\n{kind}\n{address}".encode()).hexdigest()[:16]


def reference(owner: str, owner_id: str, contact: Contact) -> Reference:
    """What a notification row stores: {"person" or "team": id, "type": ..., "digest": ...}."""
    return {owner: owner_id, "type": contact.type, "digest": digest(contact.model_dump())}


def is_copy(stored: dict[str, Any]) -> bool:
    """A full contact written by an older version rather than a reference."""
    return "digest" not in stored


def key(stored: dict[str, Any]) -> str:
    """One contact method, comparable across rows old and new."""
    if is_copy(stored):
        return f"{stored.get('type')}:{digest(stored)}"
    return f"{stored['type']}:{stored['digest']}"


def as_reference(recipient: str, stored: dict[str, Any]) -> Reference:
    """The reference of a stored contact (a copy from an older version becomes one)."""
    if not is_copy(stored):
        return {k: str(v) for k, v in stored.items()}
    if recipient.startswith(TEAM_PREFIX):
        owner, owner_id = TEAM, recipient.removeprefix(TEAM_PREFIX)
    else:
        owner, owner_id = PERSON, recipient
    return {owner: owner_id, "type": str(stored.get("type")), "digest": digest(stored)}


def parse(data: dict[str, Any]) -> Contact:
    """The typed contact of a full copy; a copy that does not parse can never be sent."""
    try:
        return CONTACT.validate_python(data)
    except ValidationError as exc:
        # Name the fields only: the input may hold a webhook URL or a key.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise DeliveryError(f"invalid contact: {problems}", retryable=False) from None


def resolve(oncall: OncallConfig, stored: dict[str, Any]) -> Contact:
    """The contact a row refers to, as the on-call file has it now.

    Raises a permanent DeliveryError (no address in its text) when it is gone.
    """
    if is_copy(stored):
        return parse(stored)
    kind = stored.get("type")
    if TEAM in stored:
        team = oncall.teams.get(stored[TEAM])
        who, contacts = f"team {stored[TEAM]}", list(team.fallback) if team else []
    else:
        person = oncall.people.get(stored.get(PERSON, ""))
        who, contacts = f"{stored.get(PERSON)}", list(person.contact) if person else []
    for contact in contacts:
        if contact.type == kind and digest(contact.model_dump()) == stored.get("digest"):
            return contact
    raise DeliveryError(f"the {kind} contact of {who} is no longer in the on-call file", retryable=False)
