"""Paging decisions, inside the caller's transaction: who to page, when, and what to cancel.

Every function writes notification rows (the outbox) and returns them; the caller hands their
ids to the dispatcher after commit. Nothing here sends anything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from app.db import PAGES_BORN_CLAIMED
from app.errors import Conflict, InvalidRequest
from app.incidents import service as incidents
from app.incidents.service import SYSTEM_ACTOR, record
from app.models import Escalation, Incident, Notification
from app.oncall.config import OncallConfig, Policy
from app.oncall.service import resolve_targets
from app.paging import contacts, metrics, repository
from app.paging.escalation import held_until, low_urgency_rules, schedule, stops_after_a_step
from app.paging.repository import LEASE
from app.vocabulary import (
    ACKNOWLEDGE,
    ACKNOWLEDGED,
    DELIVERED,
    FALLBACK,
    PAGE,
    PENDING,
    RESOLVE,
    SENDING,
    SEVERITY_RAISED,
    TRIGGERED,
)

Pages = list[Notification]


# Kinds a pager service may open an incident for; notices and reminders go by other channels.
PAGING_KINDS = frozenset({PAGE, SEVERITY_RAISED, FALLBACK, ACKNOWLEDGE, RESOLVE})
CHANNELS_THAT_PAGE = frozenset({"pagerduty"})


def contact_key(stored: dict[str, Any]) -> str:
    """One contact method, comparable across rows (references and older full copies alike)."""
    return contacts.key(stored)


@dataclass(frozen=True)
class Assignment:
    """Who owns an incident and which escalation policy pages for it."""

    owner: str | None
    team: str | None
    policy: Policy | None
    unowned: bool  # the registry does not know the incident's model


def assignment_for(oncall: OncallConfig, model_id: str | None) -> Assignment:
    """The model's owner, team and policy; the default policy for a model nobody registered."""
    model = oncall.models.get(model_id) if model_id else None
    policy_id = (model.escalation_policy if model else None) or oncall.default_policy
    policy = oncall.policies.get(policy_id) if policy_id else None
    if model is None:
        return Assignment(None, None, policy, unowned=True)
    return Assignment(model.owner, model.team, policy, unowned=False)


def urgency_of(oncall: OncallConfig, severity: str) -> str:
    return "high" if severity in oncall.high_urgency else "low"


def _notification(
    incident: Incident, recipient: str, ref: contacts.Reference, kind: str, step: int | None, now: datetime
) -> Notification:
    return Notification(
        incident_id=incident.id,
        delivery_id=str(uuid.uuid4()),
        recipient=recipient,
        channel=ref["type"],
        contact_ref=ref,
        kind=kind,
        step=step,
    )


def _send_at(session: Session, row: Notification, at: datetime, now: datetime) -> None:
    """Make a page due at `at`. Due now in a process that sends its own pages, it is born claimed
    by it, sent right after commit without another write (should the process die first, the
    lease runs out and any replica's sweeper sends it); else it is pending until `at`, for a
    worker or the sweeper to claim (`Database.pages_born_claimed`)."""
    row.next_attempt_at = row.created_at = at
    if at <= now and session.info.get(PAGES_BORN_CLAIMED, True):
        row.status, row.claimed_until, row.attempts = SENDING, now + LEASE, 1
    else:
        row.status, row.claimed_until, row.attempts = PENDING, None, 0


def _add(session: Session, rows: list[Notification], now: datetime) -> None:
    """Add new pages to the outbox, due now."""
    for row in rows:
        _send_at(session, row, now, now)
    session.add_all(rows)


def page_people(
    session: Session,
    oncall: OncallConfig,
    incident: Incident,
    people: list[str],
    kind: str,
    step: int | None,
    now: datetime,
    skip: set[tuple[str, str]] | None = None,
    any_urgency: bool = False,
) -> Pages:
    """One notification per contact method that fits the incident's urgency (or every method)."""
    urgency = urgency_of(oncall, incident.severity)
    rows = []
    for person_id in people:
        for contact in oncall.people[person_id].contact:
            ref = contacts.reference(contacts.PERSON, person_id, contact)
            fits = any_urgency or urgency in contact.urgency
            if kind not in PAGING_KINDS and contact.type in CHANNELS_THAT_PAGE:
                continue  # a notice or a reminder must not open an incident in a pager service
            if fits and (person_id, contact_key(ref)) not in (skip or set()):
                rows.append(_notification(incident, person_id, ref, kind, step, now))
    _add(session, rows, now)
    return rows


def _page_in_hours(
    session: Session,
    oncall: OncallConfig,
    incident: Incident,
    people: list[str],
    kind: str,
    step: int | None,
    now: datetime,
    low: dict[str, Any] | None,
    skip: set[tuple[str, str]] | None = None,
) -> Pages:
    """`page_people`, except that a low-urgency page outside its person's working hours waits
    for them (pending until then, when the sweeper sends it); returns the pages due now."""
    if low is None or not low.get("working_hours"):
        return page_people(session, oncall, incident, people, kind, step, now, skip)
    rows: Pages = []
    for person in people:
        tz = ZoneInfo(oncall.people[person].timezone)
        until = held_until(low, tz, now)
        pages = page_people(session, oncall, incident, [person], kind, step, now, skip)
        if until is None:
            rows += pages
            continue
        for row in pages:
            # Written when the hours begin, as far as delivery latency is concerned: it measures
            # the channel, not the night.
            _send_at(session, row, until, now)
        local = until.astimezone(tz)
        text = f"low urgency: the page to {person} waits for their working hours, {local:%a %H:%M} {tz.key}"
        record(session, incident, "page_held", SYSTEM_ACTOR, now, text, {"person": person})
    return rows


def _fire_due(
    session: Session, oncall: OncallConfig, incident: Incident, esc: Escalation, now: datetime
) -> Pages:
    plan = schedule(esc.policy)
    low = low_urgency_rules(esc.policy, urgency_of(oncall, incident.severity))
    rows: list[Notification] = []
    while esc.due_at is not None and esc.due_at <= now:
        entry = plan[esc.next_index]
        people, problems = resolve_targets(oncall, entry.notify, incident.owner, now)
        for problem in problems:
            record(session, incident, "paging_problem", SYSTEM_ACTOR, now, problem)
        rows += _page_in_hours(session, oncall, incident, people, PAGE, entry.step, now, low)
        label = f"step {entry.step + 1}" + (f" (repeat {entry.round})" if entry.round else "")
        who = ", ".join(people) or "nobody"
        kind = "paged" if esc.next_index == 0 else "escalated"
        record(
            session,
            incident,
            kind,
            SYSTEM_ACTOR,
            now,
            f"{label}: paged {who}",
            {"step": entry.step, "round": entry.round, "people": people},
        )
        metrics.ESCALATIONS.labels(str(entry.step + 1)).inc()
        esc.next_index += 1
        esc.due_at = esc.started_at + plan[esc.next_index].offset if esc.next_index < len(plan) else None
        if esc.due_at is not None and stops_after_a_step(low):
            # Low urgency wakes nobody else: the clock stops until the severity rises.
            esc.due_at = None
            text = "low urgency: no further escalation unless the severity rises to high urgency"
            record(session, incident, "escalation_paused", SYSTEM_ACTOR, now, text)
    return rows


def _start(
    session: Session, oncall: OncallConfig, incident: Incident, esc: Escalation, now: datetime
) -> Pages:
    """(Re)start the escalation clock at `now` and fire what is due at once."""
    esc.started_at, esc.next_index = now, 0
    esc.due_at = now + schedule(esc.policy)[0].offset
    return _fire_due(session, oncall, incident, esc, now)


def start_paging(
    session: Session, oncall: OncallConfig, incident: Incident, policy: Policy | None, now: datetime
) -> Pages:
    """Start the escalation of a new incident with its frozen policy and page the first step."""
    if policy is None:
        if oncall.policies:
            record(
                session,
                incident,
                "paging_problem",
                SYSTEM_ACTOR,
                now,
                "no escalation policy for this model and no default_escalation_policy: nobody paged",
            )
        return []
    esc = Escalation(incident_id=incident.id, policy=policy.snapshot())
    session.add(esc)
    return _start(session, oncall, incident, esc, now)


def on_reopened(session: Session, oncall: OncallConfig, incident: Incident, now: datetime) -> Pages:
    """A flap: the escalation starts over from its first step."""
    esc = repository.escalation_of(session, incident.id)
    if esc is None:
        return []
    return _start(session, oncall, incident, esc, now)


def on_severity_raised(session: Session, oncall: OncallConfig, incident: Incident, now: datetime) -> Pages:
    """Tell everyone already paged that it got worse (with the new urgency). Now high urgency,
    pages waiting for working hours go at once and a stopped escalation goes on."""
    if not incident.is_open:
        return []
    pages = repository.paged_contacts(session, incident.id, (DELIVERED, SENDING, PENDING))
    esc = repository.escalation_of(session, incident.id)
    urgency = urgency_of(oncall, incident.severity)
    low = low_urgency_rules(esc.policy, urgency) if esc is not None else None
    released = _release_held(session, incident, pages, now) if urgency == "high" else []
    people = [p for p in dict.fromkeys(n.recipient for n in pages) if p in oncall.people]
    # A page not yet delivered is rendered when sent, so it will already show the new severity.
    waiting = {(n.recipient, contact_key(n.contact_ref)) for n in pages if n.status != DELIVERED}
    rows = _page_in_hours(session, oncall, incident, people, SEVERITY_RAISED, None, now, low, waiting)
    if esc is not None and urgency == "high":
        _resume(session, incident, esc, now)
    return released + rows


def _release_held(session: Session, incident: Incident, pages: Pages, now: datetime) -> Pages:
    """Pages waiting for working hours (pending, never tried, due later) go now."""
    held = [n for n in pages if n.status == PENDING and n.attempts == 0 and n.next_attempt_at > now]
    for row in held:
        _send_at(session, row, now, now)
    if held:
        who = ", ".join(dict.fromkeys(n.recipient for n in held))
        text = f"high urgency now: the pages waiting for working hours go at once ({who})"
        record(session, incident, "page_released", SYSTEM_ACTOR, now, text)
    return held


def _resume(session: Session, incident: Incident, esc: Escalation, now: datetime) -> None:
    """A low-urgency escalation stopped after a step goes on: the next step follows the usual
    gap after now, as if the step before it had just fired."""
    plan = schedule(esc.policy)
    stopped = esc.due_at is None and incident.status == TRIGGERED and "low_urgency" in esc.policy
    if not stopped or not 0 < esc.next_index < len(plan):
        return
    esc.started_at = now - plan[esc.next_index - 1].offset
    esc.due_at = esc.started_at + plan[esc.next_index].offset
    step = plan[esc.next_index].step + 1
    text = f"high urgency now: the escalation goes on, step {step} at {esc.due_at:%H:%M} UTC"
    record(session, incident, "escalation_resumed", SYSTEM_ACTOR, now, text)


def _stop(session: Session, incident_id: int) -> None:
    for channel in repository.cancel_pending(session, incident_id):
        metrics.NOTIFICATIONS.labels(channel, "cancelled").inc()
    esc = repository.escalation_of(session, incident_id)
    if esc is not None:
        esc.due_at = None


def after_action(session: Session, incident: Incident, action: str, now: datetime) -> Pages:
    """Acknowledge or resolve: cancel pending pages and escalation at once, then tell the paged.

    Acknowledge only syncs PagerDuty; resolve notifies every contact that was paged.
    """
    _stop(session, incident.id)
    seen: set[tuple[str, str]] = set()
    rows = []
    for sent in repository.paged_contacts(session, incident.id):
        if action == ACKNOWLEDGE and sent.channel != "pagerduty":
            continue
        ident = (sent.recipient, contact_key(sent.contact_ref))
        if ident in seen:
            continue
        seen.add(ident)
        ref = contacts.as_reference(sent.recipient, sent.contact_ref)
        rows.append(_notification(incident, sent.recipient, ref, action, None, now))
    _add(session, rows, now)
    return rows


def paged_people(session: Session, incident_id: int) -> set[str]:
    """Who was paged for this incident (whether or not it reached them yet)."""
    rows = repository.paged_contacts(session, incident_id, (DELIVERED, SENDING, PENDING))
    return {row.recipient for row in rows}


def page_team(
    session: Session, oncall: OncallConfig, incident: Incident, team_id: str, kind: str, now: datetime
) -> Pages:
    """One notification per contact of a team (its fallback contacts: a channel, a mailbox)."""
    team = oncall.teams.get(team_id)
    if team is None:
        return []
    rows = [
        _notification(
            incident,
            f"{contacts.TEAM_PREFIX}{team.id}",
            contacts.reference(contacts.TEAM, team.id, c),
            kind,
            None,
            now,
        )
        for c in team.fallback
        if kind in PAGING_KINDS or c.type not in CHANNELS_THAT_PAGE
    ]
    _add(session, rows, now)
    return rows


def fallback(
    session: Session, oncall: OncallConfig, failed: Notification, incident: Incident, now: datetime
) -> Pages:
    """A page that could not be delivered goes to the team's fallback channel."""
    team = oncall.teams.get(incident.team or "")
    if failed.kind not in (PAGE, SEVERITY_RAISED) or team is None or not team.fallback:
        return []
    rows = [
        _notification(
            incident,
            f"{contacts.TEAM_PREFIX}{team.id}",
            contacts.reference(contacts.TEAM, team.id, contact),
            FALLBACK,
            failed.step,
            now,
        )
        for contact in team.fallback
    ]
    _add(session, rows, now)
    return rows


def run_escalations(session: Session, oncall: OncallConfig, now: datetime, limit: int = 100) -> Pages:
    """Fire every escalation step that is due (rows claimed with SKIP LOCKED)."""
    rows: list[Notification] = []
    for esc in repository.due_escalations(session, now, limit):
        incident = incidents.get(session, esc.incident_id)
        if incident.status != TRIGGERED:
            esc.due_at = None
            continue
        rows += _fire_due(session, oncall, incident, esc, now)
    return rows


REASSIGN_GRACE_S = 600  # after a reassignment, the policy's own steps follow this much later


def reassign(session: Session, oncall: OncallConfig, incident: Incident, to: str, now: datetime) -> Pages:
    """Page `to` now; escalation waits on them, then falls back to the incident's own policy."""
    if to not in oncall.people:
        raise InvalidRequest(f"{to!r} is not a person of the on-call file", field="to")
    esc = repository.escalation_of(session, incident.id)
    first = {"notify": [f"person:{to}"], "after_s": 0}
    if esc is None:
        esc = Escalation(incident_id=incident.id, policy={"id": "reassigned", "steps": [first], "repeat": 0})
        session.add(esc)
    else:
        steps = [{**step, "after_s": step["after_s"] + REASSIGN_GRACE_S} for step in esc.policy["steps"]]
        esc.policy = {**esc.policy, "steps": [first, *steps]}
    return _start(session, oncall, incident, esc, now)


def escalate_now(session: Session, oncall: OncallConfig, incident: Incident, by: str, now: datetime) -> Pages:
    """Fire the next step of the escalation at once; later steps keep their spacing."""
    esc = repository.escalation_of(session, incident.id)
    if esc is None:
        raise Conflict("no escalation policy pages for this incident")
    plan = schedule(esc.policy)
    if esc.next_index >= len(plan):
        raise Conflict("the escalation has no further step")
    record(session, incident, "escalation_requested", by, now, f"{by} escalated to the next step now")
    esc.started_at = now - plan[esc.next_index].offset
    esc.due_at = now
    return _fire_due(session, oncall, incident, esc, now)


def wake_snoozed(session: Session, oncall: OncallConfig, now: datetime, limit: int = 100) -> Pages:
    """Snoozed incidents whose time ran out trigger again and their escalation starts over."""
    rows: list[Notification] = []
    for incident in incidents.due_snoozes(session, now, limit):
        if incident.status != ACKNOWLEDGED:
            incident.snoozed_until = None
            continue
        incidents.wake(session, incident, now)
        esc = repository.escalation_of(session, incident.id)
        if esc is not None:
            rows += _start(session, oncall, incident, esc, now)
    return rows
