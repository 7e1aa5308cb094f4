"""The incident page's protocol panels: the harm assessment, the regulatory clocks and the
communications an incident owes, and the forms that act on them.

What the panels show is read through the flows with the signed-in person's view; every action
runs the same flow as the API, with `by` = the signed-in person. Forms are urlencoded, where the
last field of a name wins: each harm domain is a checkbox of its own name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.communications.schemas import (
    CancelIn,
    CommunicationRead,
    DraftIn,
    ObligationList,
    ObligationRead,
    SendIn,
)
from app.communications.schemas import ReportIn as ObligationReportIn
from app.communications.service import Context
from app.db import Database
from app.errors import InvalidRequest
from app.flows import communications as protocol
from app.flows import workspace as flows
from app.flows.opening import Send
from app.incidents import harm
from app.incidents.schemas import HarmIn, HarmRead
from app.text import MAX_DB_ID
from app.vocabulary import HARM_DOMAINS, HARM_LEVELS, INITIAL_SENT, OPEN, OVERDUE, UNSENT_STATUSES

HARM = "harm"
REPORT = "report"
NOTICE_DRAFT = "notice-draft"
NOTICE_SEND = "notice-send"
NOTICE_CANCEL = "notice-cancel"
ACTIONS = frozenset({HARM, REPORT, NOTICE_DRAFT, NOTICE_SEND, NOTICE_CANCEL})
HARM_FLAGS = ("personal_data_breach", "death", "widespread")
PAGING = "paging"  # the channel of an audience reached through its paging contacts


# --- what the panels show ----------------------------------------------------------------------


def countdown(seconds: float | None) -> str:
    """'due in 2 d 4 h', 'OVERDUE by 3 h': the two largest units, rounded down."""
    if seconds is None:
        return ""
    late = seconds < 0
    left = math.floor(abs(seconds))
    days, rest = divmod(left, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        span = f"{days} d {hours} h" if hours else f"{days} d"
    elif hours:
        span = f"{hours} h {minutes} min" if minutes else f"{hours} h"
    elif minutes:
        span = f"{minutes} min"
    else:
        span = "less than a minute"
    return f"OVERDUE by {span}" if late else f"due in {span}"


def at_utc(value: datetime | None) -> str:
    """A time as the pages write it: '2026-11-27 05:06 UTC'."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def local_input(value: datetime | None) -> str:
    """A time for an <input type="datetime-local" step="1">, in UTC (the pages say so)."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S")


DOMAIN_WORDS = {
    "health_safety": "health and safety",
    "critical_infrastructure": "critical infrastructure",
    "fundamental_rights": "fundamental rights",
    "property_environment": "property or the environment",
}


def words(code: str) -> str:
    """A code as a person reads it: `harm_event` is 'harm event', a harm domain says what it means."""
    return DOMAIN_WORDS.get(code) or code.replace("_", " ")


@dataclass(frozen=True)
class Panels:
    """What the three panels of one incident show."""

    harm: HarmRead | None
    obligations: ObligationList
    open_notices: list[CommunicationRead]
    done_notices: list[CommunicationRead]

    @property
    def reportable(self) -> list[ObligationRead]:
        return [o for o in self.obligations.items if o.status in (OPEN, INITIAL_SENT)]


def panels(session: Session, db: Database, ctx: Context, incident_id: int, person: str) -> Panels:
    """The harm assessment, the regulatory clocks and the notices of an incident `person` may see."""
    notices = protocol.list_communications(db, ctx, incident_id, person)
    unsent = [c for c in notices if c.status in (*UNSENT_STATUSES, OVERDUE)]
    done = [c for c in notices if c.status not in (*UNSENT_STATUSES, OVERDUE)]
    unsent.sort(key=lambda c: (c.due_at, c.id))
    done.sort(key=lambda c: (c.sent_at or c.due_at, c.id), reverse=True)
    return Panels(
        harm=harm.current(session, incident_id),
        obligations=protocol.obligations_of(db, incident_id, person),
        open_notices=unsent,
        done_notices=done,
    )


def template_helpers() -> dict[str, Any]:
    """What the incident template needs to show the panels."""
    return {
        "countdown": countdown,
        "at_utc": at_utc,
        "local_input": local_input,
        "words": words,
        "harm_levels": HARM_LEVELS,
        "harm_domains": HARM_DOMAINS,
        "harm_flags": HARM_FLAGS,
        "paging_channel": PAGING,
    }


# --- the forms ---------------------------------------------------------------------------------


def when_utc(value: str) -> str | None:
    """<input type="datetime-local"> sends no time zone: the pages say times are UTC."""
    value = value.strip()
    if not value:
        return None
    return value if ("+" in value or value.endswith("Z")) else f"{value}+00:00"


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _text(value: str) -> str:
    # A browser sends a textarea's line breaks as CR LF; the notice keeps what was typed.
    return value.replace("\r\n", "\n")


def _optional(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _id(form: dict[str, str], name: str, what: str) -> int:
    value = form.get(name, "").strip()
    if not value.isdigit() or not 1 <= int(value) <= MAX_DB_ID:
        raise InvalidRequest(f"no {what} was named; reload the page", field=name)
    return int(value)


def harm_in(form: dict[str, str], by: str) -> HarmIn:
    persons = form.get("persons_affected", "").strip()
    return HarmIn(
        by=by,
        level=form.get("level", ""),
        domains=[d for d in HARM_DOMAINS if form.get(f"domain_{d}") == "1"],
        affected_groups=_listed(form.get("affected_groups", "")),
        persons_affected=persons or None,
        personal_data_breach=form.get("personal_data_breach") == "1",
        death=form.get("death") == "1",
        widespread=form.get("widespread") == "1",
        member_states=[s.upper() for s in re.split(r"[,\s]+", form.get("member_states", "")) if s],
        causal_link=form.get("causal_link") or "suspected",
        aware_at=when_utc(form.get("aware_at", "")),
        reason=form.get("reason", "").strip(),
    )


def act(
    action: str, form: dict[str, str], by: str, db: Database, send: Send, ctx: Context, incident_id: int
) -> str:
    """Run one action of the panels as `by` (who must be able to see the incident); the notice to show."""
    if action == HARM:
        made = flows.assess_harm(db, send, ctx, incident_id, harm_in(form, by), by)
        return f"Harm assessed as {words(made.level)} (version {made.version})."
    if action == REPORT:
        oid = _id(form, "obligation", "obligation")
        body_r = ObligationReportIn(
            by=by,
            kind=form.get("kind", ""),
            reference=_optional(form.get("reference")),
            late_reason=_optional(form.get("late_reason")),
        )
        after = protocol.report(db, send, ctx, incident_id, oid, body_r, by)
        reported = next((o for o in after.items if o.id == oid), None)
        what = f" to {words(reported.regime)} {words(reported.stage)}" if reported else ""
        return f"The {body_r.kind} report{what} is recorded."
    cid = _id(form, "communication", "notice")
    if action == NOTICE_DRAFT:
        notice = protocol.draft(
            db, send, ctx, incident_id, cid, DraftIn(by=by, text=_text(form.get("text", ""))), by
        )
        return f"Draft of the notice to {notice.audience_name} saved; it needs approval before it goes out."
    if action == NOTICE_SEND:
        body_s = SendIn(
            by=by,
            text=_text(form.get("text", "")),
            via=_optional(form.get("via")),
            late_reason=_optional(form.get("late_reason")),
        )
        notice = protocol.send_notice(db, send, ctx, incident_id, cid, body_s, by)
        how = f"recorded as sent via {notice.via}" if notice.via else "sent through paging"
        return f"Notice to {notice.audience_name} {how}."
    if action == NOTICE_CANCEL:
        body_c = CancelIn(by=by, reason=form.get("reason", "").strip())
        notice = protocol.cancel(db, send, ctx, incident_id, cid, body_c, by)
        return f"Notice to {notice.audience_name} cancelled."
    raise InvalidRequest(f"unknown action {action!r}")
