"""A review as Markdown, for a wiki page or a ticket."""

from __future__ import annotations

import re
from datetime import datetime

from app.incidents.schemas import IncidentRead
from app.reviews.schemas import ReviewRead

BLAMELESS = "_Blameless review: it describes systems, signals and decisions, not people._"


BLOCK_START = re.compile(r"^[-+*=~#>|`]")
ORDERED_ITEM = re.compile(r"^(\d+)([.)])")


def _esc(text: str, cell: bool = False) -> str:
    """Markdown-inert text: no heading, list, quote, code block, link or HTML can be smuggled in
    through a field, at the start of a line or within one. In a table cell it stays on one line."""
    out = text.replace("\\", "\\\\")
    for ch in "`*_[]()<>#|!~":
        out = out.replace(ch, "\\" + ch)
    lines = []
    for line in out.replace("\r", "").split("\n"):
        line = line.strip()  # four leading spaces would start a code block
        if BLOCK_START.match(line):
            line = "\\" + line
        line = ORDERED_ITEM.sub(r"\1\\\2", line)  # "1. x" would start a list: "1\. x"
        lines.append(line)
    return (" " if cell else "  \n").join(lines)


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "not known"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "not known"
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def _items(title: str, items: list[str]) -> list[str]:
    lines = [f"## {title}", ""]
    lines += [f"- {_esc(i)}" for i in items] or ["- none recorded"]
    return [*lines, ""]


def render(incident: IncidentRead, review: ReviewRead, public_url: str) -> str:
    r = review
    peak = incident.peak_severity or incident.severity
    users = r.impact.users_affected if r.impact.users_affected is not None else "not known"
    lines = [
        f"# Post-incident review: incident #{incident.id}, {_esc(incident.title)}",
        "",
        BLAMELESS,
        "",
        f"- Status: {r.status}"
        + (f" (approved by {_esc(r.approved_by or '')}, {_when(r.approved_at)})" if r.approved_by else ""),
        f"- Type: {incident.type}; severity {incident.severity} (peak {peak})",
        f"- Model: {_esc(incident.model or 'unknown')}; owner of the review: {_esc(r.owner or 'none')}",
        f"- Incident: {public_url}/incidents/{incident.id}",
        "",
        "## Summary",
        "",
        _esc(r.summary) or "not written yet",
        "",
        "## Impact",
        "",
        f"- Duration: {_minutes(r.impact.duration_seconds)}",
        f"- Users affected: {users}",
        f"- Decisions affected: {_esc(r.impact.decisions_affected) or 'not known'}",
    ]
    if r.impact.notes:
        lines.append(f"- Notes: {_esc(r.impact.notes)}")
    lines += [
        "",
        "## Detection",
        "",
        f"- How: {_esc(r.detection.how) or 'not known'}",
        f"- When: {_when(r.detection.when)}; after {_minutes(r.detection.delay_seconds)} of impact",
        "",
        "## Timeline",
        "",
        "| time (UTC) | what | who |",
        "|---|---|---|",
    ]
    lines += [f"| {e.at:%Y-%m-%d %H:%M} | {_esc(e.what, True)} | {_esc(e.actor, True)} |" for e in r.timeline]
    lines += [
        "",
        "## Root cause",
        "",
        f"Category: {r.root_cause.category or 'not decided'}",
        "",
        _esc(r.root_cause.narrative) or "not written yet",
        "",
    ]
    lines += _items("Contributing factors", list(r.contributing_factors))
    lines += _items("What went well", list(r.went_well))
    lines += _items("What went badly", list(r.went_badly))
    h = r.harm_assessment
    notified = (
        "not decided"
        if h.users_notified is None
        else ("yes, " + _when(h.users_notified_at))
        if h.users_notified
        else "no"
    )
    lines += [
        "## Harm assessment",
        "",
        f"- Harm level: {h.harm_level or 'not assessed'}",
        f"- Affected groups: {_esc(', '.join(h.affected_groups)) or 'none recorded'}",
        f"- Users notified: {notified}",
        f"- Notes: {_esc(h.notes) or 'none'}",
        "",
        "## Improvement actions",
        "",
    ]
    if r.actions:
        lines += ["| # | action | owner | priority | due | status |", "|---|---|---|---|---|---|"]
        for a in r.actions:
            status = a.status + (f" ({_esc(a.reason, True)})" if a.reason else "")
            due = f"{a.due_at:%Y-%m-%d}"
            title, owner = _esc(a.title, True), _esc(a.owner, True)
            lines.append(f"| {a.id} | {title} | {owner} | {a.priority} | {due} | {status} |")
    else:
        lines.append(f"No action: {_esc(r.no_action_reason) or 'reason not given yet'}")
    return "\n".join(lines) + "\n"
