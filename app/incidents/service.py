"""Incident lifecycle: open, attach, raise severity, reopen, acknowledge, resolve.

Every state change writes a timeline event in the same transaction. Callers own the
transaction; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.errors import NotFound
from app.incidents import repository, state
from app.models import Incident, IncidentEvent
from app.rules.engine import Classification, worst_severity
from app.vocabulary import ACKNOWLEDGE, PAST_TENSE, REOPEN, RESOLVE, TRIGGERED

SYSTEM_ACTOR = "incident-bridge"

# Reads other layers need, served by the repository as they are.
lock_keys = repository.lock_keys
latest_by_key = repository.latest_by_key
by_ids = repository.by_ids
find = repository.get  # None when there is no such incident
search = repository.search
timeline_of = repository.timeline_of
open_counts_by_model = repository.open_counts_by_model
IncidentFilter = repository.IncidentFilter


def record(
    session: Session,
    incident: Incident,
    kind: str,
    actor: str,
    at: datetime,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Append one line to the incident's timeline."""
    event = IncidentEvent(incident_id=incident.id, at=at, kind=kind, actor=actor, message=message, data=data)
    session.add(event)
    incident.updated_at = at
    return event


def incident_title(labels: dict[str, str], annotations: dict[str, str]) -> str:
    if annotations.get("summary"):
        return annotations["summary"]
    name = labels.get("alertname", "alert")
    return f"{name} on {labels['model']}" if labels.get("model") else name


def open_incident(
    session: Session,
    c: Classification,
    labels: dict[str, str],
    annotations: dict[str, str],
    runbook: dict[str, Any] | None,
    actor: str,
    now: datetime,
) -> Incident:
    """Insert a new triggered incident at once (alerts and pages need its id)."""
    values: dict[str, Any] = dict(
        key=c.key,
        rule=c.rule,
        status=TRIGGERED,
        type=c.type,
        severity=c.severity,
        title=incident_title(labels, annotations),
        model=labels.get("model") or None,
        labels=dict(labels),
        runbook=runbook,
        alert_count=0,
        firing_count=0,
        flap_count=0,
        auto_resolve=c.auto_resolve,
        owner=None,
        team=None,
        escalation_policy=None,
        unowned=False,
        opened_at=now,
        last_alert_at=now,
        updated_at=now,
    )
    incident = repository.insert_incident(session, values)
    session.add(incident)
    record(
        session,
        incident,
        "opened",
        actor,
        now,
        f"{c.severity} {c.type} incident opened by rule {c.rule}",
        {"rule": c.rule, "key": c.key, "severity": c.severity, "type": c.type},
    )
    return incident


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


def raise_severity(session: Session, incident: Incident, severity: str, actor: str, now: datetime) -> bool:
    """Raise, never lower, the incident's severity. True when it changed."""
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
    return True


def _transition(session: Session, incident: Incident, action: str, by: str, note: str, now: datetime) -> bool:
    new = state.next_status(incident.status, action)
    if new is None:
        return False
    incident.status = new
    if action == ACKNOWLEDGE:
        incident.acknowledged_at, incident.acknowledged_by = now, by
    elif action == RESOLVE:
        incident.resolved_at, incident.resolved_by = now, by
    past = PAST_TENSE[action]
    record(session, incident, past, by, now, note or f"{past} by {by}")
    return True


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
) -> None:
    """An alert fires in this incident: a new series, or a series that fired again."""
    if new_series:
        incident.alert_count += 1
    incident.firing_count += 1
    incident.last_alert_at = now
    kind, message = ("alert_added", "alert added") if new_series else ("alert_refired", "alert firing again")
    record(session, incident, kind, actor, now, message, {"fingerprint": fingerprint, "labels": labels})


def alert_resolved(session: Session, incident: Incident, fingerprint: str, actor: str, now: datetime) -> bool:
    """One of the incident's alerts resolved; True when that was its last firing alert.

    A resolved incident only counts down; an open one notes it on the timeline and resolves
    itself (or says so) when nothing fires any more.
    """
    incident.firing_count = max(0, incident.firing_count - 1)
    if not incident.is_open:
        return False
    record(session, incident, "alert_resolved", actor, now, "alert resolved", {"fingerprint": fingerprint})
    if incident.firing_count > 0:
        return False
    resolve_by_alerts(session, incident, now, actor)
    return not incident.is_open
