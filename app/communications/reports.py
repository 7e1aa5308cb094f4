"""Regulatory reports owed for an incident: kept in step with its harm assessment and the
moments people record, reported (initial, then complete), and reminded when overdue.

Callers own the transaction and lock the incident first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.catalog.loader import Catalog
from app.communications import facts as facts_of
from app.communications import repository
from app.communications import service as notices
from app.communications.schemas import EvidenceHold, ObligationRead, ReportIn
from app.errors import Conflict, InvalidRequest, NotFound
from app.incidents import harm as harm_of
from app.incidents import obligations
from app.incidents.service import SYSTEM_ACTOR, record
from app.models import Incident, IncidentMoment, Notification, Obligation
from app.vocabulary import COMPLETE, INITIAL, INITIAL_SENT, NOT_APPLICABLE, OPEN

EVIDENCE_HOLD = (
    "Evidence hold: a serious-incident report is still owed to the authority. Changes to the model "
    "that would affect a later investigation (retraining, deleting logs or data) should wait "
    "until the authority has been informed (EU AI Act Art. 73(6)). A rollback to a previous "
    "version stays allowed: record it on the timeline."
)


rows_of = repository.obligations
moments_of = repository.moments
due = repository.due_obligations


def _first_report(row: Obligation) -> datetime | None:
    return row.initial_at or row.completed_at


def sync(
    session: Session,
    catalog: Catalog,
    incident: Incident,
    now: datetime,
    known: facts_of.Known | None = None,
    current: facts_of.Current | None = None,
) -> None:
    """Create the reports the facts now ask for, move their clocks, and set aside those that no
    longer apply (`not_applicable`, kept; a report already made stays as it is). `current`: the
    harm and facts, when the caller has read them already."""
    current = current or facts_of.current(session, catalog, incident, known)
    harm, facts, stored = current.harm, current.facts, current.obligations
    rows = {(r.regime, r.stage): r for r in stored}
    reported = {key: at for key, r in rows.items() if (at := _first_report(r)) is not None}
    wanted = obligations.all_obligations(
        harm_of.for_clocks(harm),
        facts_of.model_facts(catalog, incident),
        catalog.communications.regimes,
        facts,
        reported,
    )
    seen = set()
    for item in wanted:
        key = (item.regime, item.stage)
        seen.add(key)
        row = rows.get(key)
        if row is None:
            row = Obligation(
                incident_id=incident.id,
                regime=item.regime,
                stage=item.stage,
                due_at=item.due_at,
                basis=item.basis,
                status=OPEN,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            due = (
                f"due {item.due_at:%Y-%m-%d %H:%M} UTC"
                if item.due_at
                else "due once the previous stage is reported"
            )
            record(
                session,
                incident,
                "obligation_opened",
                SYSTEM_ACTOR,
                now,
                f"{item.regime} {item.stage}: {due}",
                {"regime": item.regime, "stage": item.stage},
            )
        elif row.status in (OPEN, NOT_APPLICABLE) and (row.due_at != item.due_at or row.status != OPEN):
            if row.status == NOT_APPLICABLE:
                record(
                    session,
                    incident,
                    "obligation_opened",
                    SYSTEM_ACTOR,
                    now,
                    f"{item.regime} {item.stage} applies again",
                    {"regime": item.regime, "stage": item.stage},
                )
            row.due_at, row.basis, row.status, row.updated_at = item.due_at, item.basis, OPEN, now
    for key, row in rows.items():
        if key not in seen and row.status == OPEN:
            row.status, row.updated_at = NOT_APPLICABLE, now
            record(
                session,
                incident,
                "obligation_withdrawn",
                SYSTEM_ACTOR,
                now,
                f"{row.regime} {row.stage} no longer applies to the current assessment",
                {"regime": row.regime, "stage": row.stage},
            )


def read(row: Obligation, now: datetime) -> ObligationRead:
    overdue = row.status == OPEN and obligations.is_overdue(row.due_at, now)
    return ObligationRead(
        id=row.id,
        regime=row.regime,
        stage=row.stage,
        due_at=row.due_at,
        status=row.status,
        overdue=overdue,
        seconds_left=(row.due_at - now).total_seconds()
        if row.due_at is not None and row.status == OPEN
        else None,
        basis=row.basis,
        initial_at=row.initial_at,
        initial_by=row.initial_by,
        completed_at=row.completed_at,
        completed_by=row.completed_by,
        reference=row.reference,
        late_reason=row.late_reason,
    )


def evidence_hold(session: Session, incident_id: int) -> EvidenceHold:
    regimes = repository.evidence_hold_regimes(session, incident_id)
    return EvidenceHold(active=bool(regimes), message=EVIDENCE_HOLD if regimes else "", regimes=regimes)


def get(session: Session, incident_id: int, obligation_id: int) -> Obligation:
    row = repository.obligation(session, incident_id, obligation_id)
    if row is None:
        raise NotFound(f"obligation {obligation_id} not found on incident {incident_id}")
    return row


def report(
    session: Session, catalog: Catalog, incident: Incident, row: Obligation, body: ReportIn, now: datetime
) -> None:
    """Record a report made to the authority: the initial one (it may be incomplete), or the complete one."""
    if row.status == NOT_APPLICABLE:
        raise Conflict(f"{row.regime} {row.stage} does not apply to the current harm assessment")
    if row.status == COMPLETE or (body.kind == INITIAL and row.status == INITIAL_SENT):
        raise Conflict(f"the {body.kind} report of {row.regime} {row.stage} was already made")
    first = _first_report(row) is None
    late = first and obligations.is_overdue(row.due_at, now)
    if late and not (body.late_reason or row.late_reason):
        assert row.due_at is not None
        raise InvalidRequest(
            f"this report is late (due {row.due_at:%Y-%m-%d %H:%M} UTC): give `late_reason`, the reasons "
            "for the delay, which the report must state (GDPR Art. 33(1))",
            field="late_reason",
        )
    if body.late_reason:
        row.late_reason = body.late_reason
    if body.reference:
        row.reference = body.reference
    if body.kind == INITIAL:
        row.status, row.initial_at, row.initial_by = INITIAL_SENT, now, body.by
    else:
        row.status, row.completed_at, row.completed_by = COMPLETE, now, body.by
    row.updated_at = now
    message = f"{row.regime} {row.stage}: {body.kind} report made"
    if body.reference:
        message += f" (reference {body.reference})"
    if late:
        message += f", late: {row.late_reason}"
    record(
        session,
        incident,
        "obligation_reported",
        body.by,
        now,
        message,
        {"regime": row.regime, "stage": row.stage, "kind": body.kind, "late": late},
    )
    sync(session, catalog, incident, now)  # a next stage may count from this report


def record_moment(
    session: Session, incident: Incident, name: str, by: str, at: datetime, now: datetime
) -> IncidentMoment:
    """A moment a regime counts from; recorded once (a correction is a note, not a new clock)."""
    if at > now:
        raise InvalidRequest("`at` is in the future", field="at")
    if repository.moment(session, incident.id, name) is not None:
        raise Conflict(f"moment {name!r} is already recorded on incident {incident.id}")
    moment = IncidentMoment(incident_id=incident.id, name=name, at=at, by=by)
    session.add(moment)
    record(
        session, incident, "moment", by, at, f"recorded: {name}", {"name": name, "typed_at": now.isoformat()}
    )
    session.flush()
    return moment


def overdue_text(row: Obligation) -> str:
    assert row.due_at is not None
    return (
        f"Overdue: the {row.regime} {row.stage} report was due {row.due_at:%Y-%m-%d %H:%M} UTC. {row.basis}"
    )


def sweep_report(
    session: Session, ctx: notices.Context, incident: Incident, row: Obligation, now: datetime
) -> list[Notification]:
    """An overdue report re-pages the incident's owner, once."""
    if row.status != OPEN or row.reminded_at is not None or not obligations.is_overdue(row.due_at, now):
        return []
    row.reminded_at = now
    return notices.remind_owner(session, ctx, incident, overdue_text(row), now)
