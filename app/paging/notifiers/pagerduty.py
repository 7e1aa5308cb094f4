"""PagerDuty Events API v2: trigger, acknowledge, resolve, deduplicated on the incident key."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import orjson

from app.oncall.schemas import PagerDutyContact
from app.paging.message import Message
from app.paging.notifiers.http import post
from app.vocabulary import ACKNOWLEDGE, RESOLVE, WAKING_KINDS

# Every waking kind triggers (deduplicated on the incident key); the others follow the incident.
EVENT_ACTION: dict[str, str] = {
    **dict.fromkeys(WAKING_KINDS, "trigger"),
    ACKNOWLEDGE: "acknowledge",
    RESOLVE: "resolve",
}
PD_SEVERITY = {"SEV1": "critical", "SEV2": "error", "SEV3": "warning", "SEV4": "info"}


def dedup_key(incident_key: str) -> str:
    """The incident key, made to fit PagerDuty's 255 characters without two keys colliding."""
    if len(incident_key) <= 255:
        return incident_key
    return f"{incident_key[:190]}#{hashlib.sha256(incident_key.encode()).hexdigest()}"


def payload(routing_key: str, message: Message) -> dict[str, Any]:
    action = EVENT_ACTION[message.kind]
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(message.incident_key),
    }
    if action == "trigger":
        event["payload"] = {
            "summary": message.headline[:1024],
            "source": message.model or "incident-bridge",
            "severity": PD_SEVERITY.get(message.severity, "error"),
            "component": message.model,
            "class": message.type,
            "custom_details": {
                "incident_id": message.incident_id,
                "owner": message.owner,
                "contain_first": list(message.containment[:3]),
                "runbook": message.runbook_link,
            },
        }
        links = (
            [{"href": message.links["view"], "text": "Incident in incident-bridge"}] if message.links else []
        )
        runbook_url = message.runbook_link
        if runbook_url:
            links.append({"href": runbook_url, "text": f"Runbook: {message.runbook_title or ''}".strip()})
        event["links"] = links
        event["client"] = "incident-bridge"
        if message.links:
            event["client_url"] = message.links["view"]
    return event


class PagerDutyNotifier:
    """Sends Events API v2 events to the configured events URL, routed by the contact's key."""

    channel = "pagerduty"

    def __init__(self, client: httpx.Client, events_url: str) -> None:
        self.client, self.events_url = client, events_url

    def send(self, contact: PagerDutyContact, message: Message) -> None:
        body = orjson.dumps(payload(contact.routing_key, message))
        post(self.client, self.events_url, body, {"Content-Type": "application/json"}, self.channel, message)
