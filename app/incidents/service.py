"""Incident lifecycle: open, attach, raise severity, reopen, acknowledge, resolve.

Every state change writes a timeline event in the same transaction. Callers own the
transaction; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session, make_transient_to_detached

from app.errors import NotFound
from app.incidents import repository, state
from app.models import Incident, IncidentEvent
from app.rules.engine import Classification, worst_severity

SYSTEM_ACTOR = "incident-bridge"


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
        status=state.TRIGGERED,
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
    # Insert this row alone: a full flush here would also push every pending change of the
    # batch, in many small round trips instead of one at the end.
    table = Incident.__table__
    assert isinstance(table, Table)
    with session.no_autoflush:
        new_id = (
            session.connection().execute(insert(table).values(**values).returning(table.c.id)).scalar_one()
        )
    incident = Incident(id=new_id, **values)
    make_transient_to_detached(incident)  # it is in the database: track it without a SELECT
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
    new = state.next_status(incident.status, state.REOPEN)
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
    if action == state.ACKNOWLEDGE:
        incident.acknowledged_at, incident.acknowledged_by = now, by
    elif action == state.RESOLVE:
        incident.resolved_at, incident.resolved_by = now, by
    past = {state.ACKNOWLEDGE: "acknowledged", state.RESOLVE: "resolved"}[action]
    record(session, incident, past, by, now, note or f"{past} by {by}")
    return True


def resolve_by_alerts(session: Session, incident: Incident, now: datetime, actor: str) -> None:
    """Every alert of the incident resolved: resolve it, or note it when auto_resolve is off."""
    if incident.auto_resolve:
        _transition(session, incident, state.RESOLVE, actor, "all alerts resolved", now)
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
