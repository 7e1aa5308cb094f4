"""Slack incoming webhooks with Block Kit: what broke, containment first, buttons to act.

Alert text reaches Slack as `mrkdwn`, where `<!channel>` is a mention and `<url|text>` a link:
every alert-derived string is escaped (`&`, `<`, `>`, Slack's rule) and only http(s) URLs
become links.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from app.oncall.schemas import SlackContact
from app.paging.message import Message
from app.paging.notifiers.http import post
from app.urls import safe_link
from app.vocabulary import WAKING_KINDS

SEVERITY_EMOJI = {"SEV1": ":rotating_light:", "SEV2": ":red_circle:", "SEV3": ":large_orange_circle:"}


def escape(text: str) -> str:
    """Text shown as itself in mrkdwn: no mentions, links or dates (Slack's escaping rule)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str | None, text: str) -> str:
    """`<url|text>` for an http(s) URL; the escaped text alone for anything else."""
    safe = safe_link(url)
    if safe is None:
        return escape(text)
    # `|` and `>` would end the URL part early; percent-encoding keeps the same address.
    target = escape(safe).replace("|", "%7C")
    return f"<{target}|{escape(text)}>"


def _plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def payload(message: Message) -> dict[str, Any]:
    emoji = SEVERITY_EMOJI.get(message.severity, ":large_yellow_circle:")
    fields = [
        f"*Severity*\n{escape(message.severity)}",
        f"*Type*\n{escape(message.type.replace('_', ' '))}",
        f"*Model*\n{escape(message.model or 'unknown')}",
        f"*Owner*\n{escape(message.owner or 'unowned')}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"{message.subject}")},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} *{escape(message.headline)}*"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if message.note:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(message.note)[:2000]}]}
        )
    if message.containment:
        steps = "\n".join(f"{i}. {escape(s)}" for i, s in enumerate(message.containment[:3], start=1))
        runbook = (
            "\n" + link(message.runbook_url, f"Runbook: {message.runbook_title or 'open'}")
            if message.runbook_link
            else ""
        )
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*Contain first*\n{steps}{runbook}"[:3000]},
            }
        )
    if message.links:
        buttons = []
        if message.kind in WAKING_KINDS:
            buttons.append(
                {
                    "type": "button",
                    "style": "primary",
                    "text": _plain("Acknowledge"),
                    "url": message.links["acknowledge"],
                    "action_id": "acknowledge",
                }
            )
            buttons.append(
                {
                    "type": "button",
                    "text": _plain("Resolve"),
                    "url": message.links["resolve"],
                    "action_id": "resolve",
                }
            )
        buttons.append(
            {
                "type": "button",
                "text": _plain("View incident"),
                "url": message.links["view"],
                "action_id": "view",
            }
        )
        blocks.append({"type": "actions", "elements": buttons})
    # `text` is the notification fallback (phones, screen readers), itself read as mrkdwn.
    return {"text": escape(message.headline), "blocks": blocks}


class SlackNotifier:
    """Posts Block Kit to the contact's incoming-webhook URL."""

    channel = "slack"

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, contact: SlackContact, message: Message) -> None:
        body = orjson.dumps(payload(message))
        post(
            self.client,
            contact.webhook_url,
            body,
            {"Content-Type": "application/json"},
            self.channel,
            message,
        )
