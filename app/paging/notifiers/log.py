"""The `log` channel: a page written to the service's own log, for a first run and development.

A `{type: log}` contact reaches nobody outside the machine: the page, with its signed links,
is logged at INFO under `incident_bridge.page`, a few lines a page, each line a record of its
own (log formats keep a record on one line). Whoever reads the log can use the links, so the
channel is meant for a laptop, not for production.
"""

from __future__ import annotations

import logging
import threading

from app.oncall.schemas import LogContact
from app.paging.message import Message
from app.vocabulary import (
    ACKNOWLEDGE,
    COMMUNICATION,
    FALLBACK,
    PAGE,
    REMINDER,
    RESOLVE,
    REVIEW_NOTICE,
    SEVERITY_RAISED,
    WAKING_KINDS,
)

log = logging.getLogger("incident_bridge.page")

SIGN_IN = "sign_in"
WHAT: dict[str, str] = {
    PAGE: "page",
    SEVERITY_RAISED: "severity raised",
    FALLBACK: "undelivered page",
    ACKNOWLEDGE: "acknowledged",
    RESOLVE: "resolved",
    COMMUNICATION: "notice",
    REMINDER: "overdue",
    REVIEW_NOTICE: "post-incident",
    SIGN_IN: "sign-in link",
}
LINK_LABELS = {"acknowledge": "acknowledge", "resolve": "resolve", "view": "incident page"}
NOTE_LINES = 4  # a notice's text is shown up to here; the incident page has all of it
WIDTH = 160  # longest value shown on a line
INDENT = "    "
_one_page_at_a_time = threading.Lock()  # the lines of two pages sent at once never interleave


def clean(text: str, width: int = WIDTH) -> str:
    """One printable line: control characters (line breaks, terminal escapes) become spaces."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _links(message: Message) -> dict[str, str]:
    """The links shown, as the other channels show them: acting ones only on a waking page."""
    if message.kind in WAKING_KINDS:
        return dict(message.links)
    return {action: url for action, url in message.links.items() if action == "view"}


def _note(note: str, links: dict[str, str]) -> list[str]:
    # A line carrying a link is left out: the link is shown in full below.
    lines = [
        clean(line)
        for line in note.splitlines()
        if line.strip() and not any(url in line for url in links.values())
    ]
    shown = lines[:NOTE_LINES]
    if len(lines) > NOTE_LINES:
        shown.append(f"(… {len(lines) - NOTE_LINES} more line(s) on the incident page)")
    return shown


def render(message: Message) -> list[str]:
    """The page as a few lines: what happened, about what, the first containment step, the links."""
    links = _links(message)
    what = WHAT.get(message.kind, clean(message.kind))
    about = message.title if message.kind == SIGN_IN else message.headline
    lines = [f"{what} for {clean(message.recipient, 200)}: {clean(about)}"]
    lines += [INDENT + line for line in _note(message.note, links)]
    if message.kind != SIGN_IN:
        details = [
            f"incident #{message.incident_id} {clean(message.status, 40)}",
            f"model {clean(message.model or 'unknown', 200)}",
            f"owner {clean(message.owner or 'unowned', 200)}",
            f"urgency {message.urgency}",
        ]
        if message.step is not None:
            details.append(f"step {message.step + 1}")
        lines.append(INDENT + ", ".join(details))
        if message.containment and message.kind in WAKING_KINDS:
            more = len(message.containment) - 1
            tail = f" (+{more} more in the runbook)" if more else ""
            lines.append(f"{INDENT}contain first: {clean(message.containment[0], 120)}{tail}")
        if message.runbook_link:
            title = clean(message.runbook_title or "runbook", 80)
            lines.append(f"{INDENT}runbook: {title} {message.runbook_link}")
    for action, url in links.items():
        label = "sign in" if message.kind == SIGN_IN else LINK_LABELS.get(action, action)
        lines.append(f"{INDENT}{label + ':':<15}{clean(url, 2048)}")
    return lines


class LogNotifier:
    """Writes each message to the `incident_bridge.page` logger; delivery cannot fail."""

    channel = "log"

    def __init__(self, environment: str = "development") -> None:
        self.environment = environment
        self._warned = False

    def send(self, contact: LogContact, message: Message) -> None:
        ids = {"incident_id": message.incident_id, "delivery_id": message.delivery_id}
        with _one_page_at_a_time:
            if self.environment == "production" and not self._warned:
                self._warned = True
                log.warning(
                    "a page went to the service log (a `log` contact): its links act on the incident "
                    "for whoever reads the log; give people real contacts in production"
                )
            for line in render(message):
                log.info("%s", line, extra=ids)
