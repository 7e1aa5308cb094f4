"""Incident lifecycle: open, attach, raise severity, reopen, acknowledge, resolve.

Every state change writes a timeline event in the same transaction. Callers own the
transaction; nothing here commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import Session

from app import logs
from app.errors import NotFound
from app.incidents import counters, repository, state, timeline
from app.models import Incident, IncidentEvent
from app.rules.engine import Classification, worst_severity
from app.rules.workspace import WorkspaceConfig
from app.vocabulary import (
    ACKNOWLEDGE,
    CLOSE,
    MONITORING,
    PERSON_ACTIONS_PAST,
    REASSIGN,
    REOPEN,
    RESOLVE,
    RESOLVED,
    SNOOZE,
    TRIGGERED,
    WAKE,
)

SYSTEM_ACTOR = "incident-bridge"

# Reads other layers need, served by the repository as they are.
lock_keys = repository.lock_keys
latest_by_key = repository.latest_by_key
latest_by_key_ahead = repository.latest_by_key_ahead
by_ids = repository.by_ids
find = repository.get  # None when there is no such incident
get_for_update = repository.get_for_update
links_of = repository.links_of
duplicates_of = repository.duplicates_of
due_snoozes = repository.due_snoozes
search = repository.search
events_of_kind = repository.events_of_kind
is_visible = repository.is_visible
key_events = repository.key_events
open_counts_by_model = repository.open_counts_by_model
IncidentFilter = repository.IncidentFilter

# Who works an incident: each of them sees it even when it is restricted.
RESPONDER_ROLES = ("owner", "lead", "comms_lead", "reviewer", "acknowledged_by", "resolved_by", "reported_by")


def restricted_by_default(config: WorkspaceConfig, type_: str) -> bool:
    """Whether a new incident of this type starts restricted (the `workspace:` section)."""
    return type_ in config.restricted_types


def visible_to(session: Session, person: str | None) -> ColumnElement[bool]:
    """A filter on Incident for any select: what `person` may see (None: everything).

    A restricted incident is seen by its responders, the people paged for it and those granted
    access; to anyone else it does not exist.
    """
    return true() if person is None else repository.visible_to(person)


def with_runbook(session: Session, runbook_id: str, person: str | None, limit: int = 20) -> list[Incident]:
    """The newest incidents `person` may see that got this runbook."""
    return repository.with_runbook(session, runbook_id, visible_to(session, person), limit)


def can_see(session: Session, incident: Incident, person: str | None) -> bool:
    """Whether `person` (None: the API token holder, who sees everything) may see the incident."""
    if person is None or not incident.restricted:
        return True
    if any(getattr(incident, role) == person for role in RESPONDER_ROLES):
        return True
    return repository.is_visible(session, incident.id, person)


def get_visible(session: Session, incident_id: int, person: str | None) -> Incident:
    """One incident `person` may see; NotFound (404) as if it did not exist otherwise."""
    incident = repository.get(session, incident_id)
    if incident is None or not can_see(session, incident, person):
        raise NotFound(f"incident {incident_id} not found")
    return incident


def record(
    session: Session,
    incident: Incident,
    kind: str,
    actor: str,
    at: datetime,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Append one line to the incident's timeline. In a batch that buffers its timeline
    (`timeline.start`), the line is kept for one insert and the event returned is not stored."""
    values = line(incident.id, kind, actor, at, message, data)
    counters.change(session, incident, updated_at=at)
    event = IncidentEvent(**values)
    if not timeline.add(session, values):
        session.add(event)
    logs.incident_event(session, kind, incident.id, incident.severity, incident.type, incident.key, data)
    return event


def line(
    incident_id: int,
    kind: str,
    actor: str,
    at: datetime,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One timeline line as `add_lines` writes it (for incidents not loaded)."""
    return {
        "incident_id": incident_id,
        "at": at,
        "kind": kind,
        "actor": actor,
        "message": message,
        "data": data,
        "starred": False,
        "hidden": False,
    }


def add_lines(session: Session, lines: list[dict[str, Any]]) -> None:
    """Append these lines in one statement, and note the change on their incidents."""
    if lines:
        repository.insert_events(session, lines)
        repository.touch(session, {ln["incident_id"] for ln in lines}, max(ln["at"] for ln in lines))


def incident_title(labels: dict[str, str], annotations: dict[str, str]) -> str:
    if annotations.get("summary"):
        return annotations["summary"]
    name = labels.get("alertname", "alert")
    return f"{name} on {labels['model']}" if labels.get("model") else name


def _insert(session: Session, now: datetime, **values: Any) -> Incident:
    """Insert a new triggered incident at once (alerts and pages need its id).

    Every column is given, so the tracked object never goes back to the database for one.
    """
    row: dict[str, Any] = dict(
        status=TRIGGERED,
        alert_count=0,
        firing_count=0,
        flap_count=0,
        auto_resolve=True,
        owner=None,
        team=None,
        escalation_policy=None,
        unowned=False,
        opened_at=now,
        last_alert_at=now,
        updated_at=now,
        source=MONITORING,
        reported_by=None,
        description="",
        impact_started_at=None,
        contained_at=None,
        contained_by=None,
        alert_severity=None,
        lead=None,
        comms_lead=None,
        reviewer=None,
        snoozed_until=None,
        duplicate_of=None,
        restricted=False,
        closed_at=None,
        closed_by=None,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        resolved_by=None,
    )
    row.update(values)
    row["peak_severity"] = row["severity"]
    return repository.insert_incident(session, row)


def _note_restricted(session: Session, incident: Incident, now: datetime) -> None:
    """A new incident that starts restricted says so, and why, on its timeline."""
    if incident.restricted:
        message = f"restricted: {incident.type} incidents are seen only by the people working on them"
        record(session, incident, "restricted", SYSTEM_ACTOR, now, message, {"restricted": True})


def open_incident(
    session: Session,
    c: Classification,
    labels: dict[str, str],
    annotations: dict[str, str],
    runbook: dict[str, Any] | None,
    actor: str,
    now: datetime,
    impact_started_at: datetime | None = None,
    restricted: bool = False,
    assigned: dict[str, Any] | None = None,
) -> Incident:
    """A new incident for an alert's key; `assigned`: its owner, team, escalation policy and
    whether it is unowned, when they are known before it is stored."""
    incident = _insert(
        session,
        now,
        key=c.key,
        rule=c.rule,
        type=c.type,
        severity=c.severity,
        alert_severity=c.severity,
        title=incident_title(labels, annotations),
        model=labels.get("model") or None,
        labels=dict(labels),
        runbook=runbook,
        auto_resolve=c.auto_resolve,
        impact_started_at=impact_started_at,
        restricted=restricted,
        **(assigned or {}),
    )
    record(
        session,
        incident,
        "opened",
        actor,
        now,
        f"{c.severity} {c.type} incident opened by rule {c.rule}",
        {"rule": c.rule, "key": c.key, "severity": c.severity, "type": c.type},
    )
    _note_restricted(session, incident, now)
    return incident


def reopens(incident: Incident | None, window: timedelta, now: datetime) -> TypeGuard[Incident]:
    """Whether its key firing again now reopens this incident: resolved (a closed one stays
    closed: a new one opens) no longer than `window` ago."""
    return (
        incident is not None
        and incident.status == RESOLVED
        and incident.resolved_at is not None
        and now - incident.resolved_at <= window
    )


def reopen(session: Session, incident: Incident, actor: str, now: datetime) -> None:
    """A key that fired again within its reopen window: the same incident, counted as a flap."""
    new = state.next_status(incident.status, REOPEN)
    assert new is not None
    incident.status = new
    incident.flap_count += 1
    incident.resolved_at = None
    incident.resolved_by = None
    incident.acknowledged_at = None
    incident.acknowledged_by = None
    record(session, incident, "reopened", actor, now, "alert fired again within reopen window")


def report_incident(
    session: Session,
    title: str,
    type_: str,
    severity: str,
    model: str | None,
    labels: dict[str, str],
    description: str,
    source: str,
    reported_by: str,
    impact_started_at: datetime | None,
    runbook: dict[str, Any] | None,
    now: datetime,
    restricted: bool = False,
) -> Incident:
    """An incident a person reports: no alert caught it, so it has a key of its own."""
    incident = _insert(
        session,
        now,
        key=f"reported:{uuid.uuid4()}",
        rule="reported",
        type=type_,
        severity=severity,
        title=title,
        model=model,
        labels=dict(labels),
        runbook=runbook,
        auto_resolve=False,
        source=source,
        reported_by=reported_by,
        description=description,
        impact_started_at=impact_started_at,
        restricted=restricted,
    )
    record(
        session,
        incident,
        "opened",
        reported_by,
        now,
        f"{severity} {type_} incident reported by {reported_by} ({source.replace('_', ' ')})",
        {"severity": severity, "type": type_, "source": source},
    )
    _note_restricted(session, incident, now)
    return incident


def raise_severity(session: Session, incident: Incident, severity: str, actor: str, now: datetime) -> bool:
    """An alert asks for `severity`: raise, never lower. True when the incident's changed.

    Only an alert worse than any before it raises: a severity a person lowered stays lowered
    while alerts of the level already seen keep arriving.
    """
    asked = incident.alert_severity or incident.severity
    if worst_severity(asked, severity) == asked:
        return False
    incident.alert_severity = severity
    worst = worst_severity(incident.severity, severity)
    if worst == incident.severity:
        return False
    record(
        session,
        incident,
        "severity_raised",
        actor,
        now,
        f"severity raised from {incident.severity} to {worst}",
        {"from": incident.severity, "to": worst},
    )
    incident.severity = worst
    note_peak(incident)
    return True


def note_peak(incident: Incident) -> None:
    """Keep the worst severity the incident ever had (older rows start from their current one)."""
    peak = incident.peak_severity or incident.severity
    incident.peak_severity = worst_severity(peak, incident.severity)


def _transition(session: Session, incident: Incident, action: str, by: str, note: str, now: datetime) -> bool:
    new = state.next_status(incident.status, action)
    if new is None:
        return False
    incident.status = new
    if action == ACKNOWLEDGE:
        incident.acknowledged_at, incident.acknowledged_by = now, by
    elif action == RESOLVE:
        incident.resolved_at, incident.resolved_by = now, by
        incident.snoozed_until = None
    elif action == CLOSE:
        incident.closed_at, incident.closed_by = now, by
    past = PERSON_ACTIONS_PAST[action]
    record(session, incident, past, by, now, note or f"{past} by {by}")
    return True


transition = _transition  # for the reviews domain's closing rule


def resolve_by_alerts(session: Session, incident: Incident, now: datetime, actor: str) -> None:
    """Every alert of the incident resolved: resolve it, or note it when auto_resolve is off."""
    if incident.auto_resolve:
        _transition(session, incident, RESOLVE, actor, "all alerts resolved", now)
    else:
        record(
            session,
            incident,
            "all_alerts_resolved",
            actor,
            now,
            "all alerts resolved; this rule keeps the incident open until a person resolves it",
        )


def _back_to_triggered(session: Session, incident: Incident, action: str) -> None:
    """Snooze over or reassigned: someone must acknowledge afresh."""
    new = state.next_status(incident.status, action)
    assert new is not None
    incident.status = new
    incident.acknowledged_at = incident.acknowledged_by = None
    incident.snoozed_until = None


def snooze(session: Session, incident: Incident, by: str, until: datetime, now: datetime) -> None:
    """An acknowledged incident pages again at `until` unless it is resolved by then."""
    state.next_status(incident.status, SNOOZE)  # 409 unless acknowledged
    incident.snoozed_until = until
    minutes = round((until - now).total_seconds() / 60)
    record(session, incident, "snoozed", by, now, f"snoozed for {minutes} min", {"until": until.isoformat()})


def wake(session: Session, incident: Incident, now: datetime) -> None:
    """The snooze ran out and the incident is still open: it triggers again."""
    _back_to_triggered(session, incident, WAKE)
    record(session, incident, "snooze_ended", SYSTEM_ACTOR, now, "snooze ended: paging again")


def reassign(session: Session, incident: Incident, by: str, to: str, now: datetime) -> None:
    """Someone else takes over: they lead, and escalation waits for their acknowledgement."""
    _back_to_triggered(session, incident, REASSIGN)
    old = incident.lead
    incident.lead = to
    record(session, incident, "reassigned", by, now, f"reassigned to {to}", {"from": old, "to": to})


def require_open(incident: Incident, what: str) -> None:
    if not incident.is_open:
        raise state.InvalidTransition(f"cannot {what} an incident that is {incident.status}")


def resolve_as_duplicate(session: Session, incident: Incident, other_id: int, by: str, now: datetime) -> None:
    """A duplicate is resolved into the incident it duplicates."""
    _transition(session, incident, RESOLVE, by, f"resolved as a duplicate of incident {other_id}", now)


def act(
    session: Session, incident_id: int, action: str, by: str, note: str, now: datetime
) -> tuple[Incident, bool]:
    """Acknowledge or resolve on behalf of a person; returns the incident and whether it changed.

    Repeating an action already done is harmless (changed=False); an impossible one is a 409.
    """
    incident = repository.get_for_update(session, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    changed = _transition(session, incident, action, by, note, now)
    return incident, changed


def get(session: Session, incident_id: int) -> Incident:
    """One incident; NotFound (404) when there is none."""
    incident = repository.get(session, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


def assign(
    session: Session,
    incident: Incident,
    owner: str | None,
    team: str | None,
    escalation_policy: str | None,
    unowned: bool,
) -> None:
    """Freeze who owns a new incident and which policy pages for it (decided by paging)."""
    incident.owner, incident.team = owner, team
    incident.escalation_policy, incident.unowned = escalation_policy, unowned


def alert_fired(
    session: Session,
    incident: Incident,
    new_series: bool,
    fingerprint: str,
    labels: dict[str, str],
    actor: str,
    now: datetime,
    starts_at: datetime | None = None,
) -> None:
    """An alert fires in this incident: a new series, or a series that fired again."""
    changes: dict[str, Any] = {"firing_count": incident.firing_count + 1, "last_alert_at": now}
    if new_series:
        changes["alert_count"] = incident.alert_count + 1
    if starts_at is not None and (
        incident.impact_started_at is None or starts_at < incident.impact_started_at
    ):
        changes["impact_started_at"] = starts_at  # the earliest startsAt: time to detect starts there
    counters.change(session, incident, **changes)
    kind, message = ("alert_added", "alert added") if new_series else ("alert_refired", "alert firing again")
    record(session, incident, kind, actor, now, message, {"fingerprint": fingerprint, "labels": labels})


def alert_resolved(session: Session, incident: Incident, fingerprint: str, actor: str, now: datetime) -> bool:
    """One of the incident's alerts resolved; True when that was its last firing alert.

    A resolved incident only counts down; an open one notes it on the timeline and resolves
    itself (or says so) when nothing fires any more.
    """
    counters.change(session, incident, firing_count=max(0, incident.firing_count - 1))
    if not incident.is_open:
        return False
    record(session, incident, "alert_resolved", actor, now, "alert resolved", {"fingerprint": fingerprint})
    if incident.firing_count > 0:
        return False
    resolve_by_alerts(session, incident, now, actor)
    return not incident.is_open
