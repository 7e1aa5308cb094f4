"""All SQL of paging: the outbox and the escalation clock, claimed so a page goes out once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Integer, Update, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import BindParameter

from app.db import UTCDateTime
from app.models import Escalation, Incident, Notification
from app.vocabulary import CANCELLED, DELIVERED, PAGE, PENDING, SENDING, SEVERITY_RAISED, WAKING_KINDS

LEASE = timedelta(seconds=60)  # how long a sender owns a page; longer than any send may take


def _claimable(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    return or_(
        and_(Notification.status == PENDING, Notification.next_attempt_at <= now),
        # A sender that crashed mid-send: its lease ran out, someone else takes over.
        and_(Notification.status == SENDING, Notification.claimed_until < now),
    )


def claim(
    session: Session, notification_id: int, now: datetime, lease: timedelta
) -> tuple[Notification, Incident] | None:
    """Take one notification for sending; it and its incident, None when it is not due or
    someone else has it."""
    claimed = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, _claimable(now))
        .values(status=SENDING, claimed_until=now + lease, attempts=Notification.attempts + 1)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    ).first()
    if claimed is None:
        return None
    return with_incident(session, notification_id)


def mark_delivered(session: Session, ids: list[int], now: datetime) -> None:
    """These notifications went out (those still claimed: not taken over meanwhile)."""
    if ids:
        session.execute(
            update(Notification)
            .where(Notification.id.in_(sorted(ids)), Notification.status == SENDING)
            .values(status=DELIVERED, delivered_at=now, last_error=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )


def claim_due(
    session: Session, now: datetime, lease: timedelta, limit: int, adopt: bool = False
) -> list[tuple[int, str]]:
    """Claim a batch of due notifications (SKIP LOCKED: replicas take different rows); their
    ids and kinds, the oldest first. `adopt`: rows being sent under another claim too.

    One statement, built once: the rows are chosen and claimed by the same UPDATE (a worker
    sweeps after every commit that wrote pages, so this runs often)."""
    statement = _ADOPT_DUE if adopt else _CLAIM_DUE
    rows = session.execute(statement, {"now": now, "until": now + lease, "limit": limit}).all()
    return [(r.id, r.kind) for r in sorted(rows, key=lambda r: (r.next_attempt_at, r.id))]


def _claim_due(adopt: bool) -> Update:
    now = bindparam("now", type_=UTCDateTime)
    due = _claimable(now)
    if adopt:
        due = or_(due, Notification.status == SENDING)
    chosen = (
        select(Notification.id)
        .where(due)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )
    return (
        update(Notification)
        .where(Notification.id.in_(chosen.scalar_subquery()))
        .values(status=SENDING, claimed_until=bindparam("until"), attempts=Notification.attempts + 1)
        .returning(Notification.id, Notification.kind, Notification.next_attempt_at)
        .execution_options(synchronize_session=False)
    )


_CLAIM_DUE, _ADOPT_DUE = _claim_due(False), _claim_due(True)


def cancel_pending(session: Session, incident_id: int) -> list[str]:
    """Cancel every page of the incident waiting for a retry; returns their channels."""
    rows = session.execute(
        update(Notification)
        .where(
            Notification.incident_id == incident_id,
            Notification.status == PENDING,
            Notification.kind.in_(WAKING_KINDS),
        )
        .values(status=CANCELLED)
        .returning(Notification.channel)
        .execution_options(synchronize_session=False)
    )
    return list(rows.scalars())


def paged_contacts(
    session: Session, incident_id: int, statuses: tuple[str, ...] = (DELIVERED, SENDING)
) -> list[Notification]:
    """Pages of this incident that reached (or are reaching) someone, by default."""
    return list(
        session.scalars(
            select(Notification)
            .where(
                Notification.incident_id == incident_id,
                Notification.kind.in_((PAGE, SEVERITY_RAISED)),
                Notification.status.in_(statuses),
            )
            .order_by(Notification.id)
        )
    )


def due_escalations(session: Session, now: datetime, limit: int) -> list[Escalation]:
    return list(
        session.scalars(
            select(Escalation)
            .where(Escalation.due_at.is_not(None), Escalation.due_at <= now)
            .order_by(Escalation.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def escalation_of(session: Session, incident_id: int) -> Escalation | None:
    return session.get(Escalation, incident_id)


def count_pending(session: Session) -> list[tuple[tuple[str, ...], float]]:
    rows = session.execute(
        select(Notification.channel, func.count())
        .where(Notification.status.in_((PENDING, SENDING)))
        .group_by(Notification.channel)
    )
    return [((channel,), float(n)) for channel, n in rows]


def get(session: Session, notification_id: int) -> Notification | None:
    return session.get(Notification, notification_id)


_WITH_INCIDENT = (
    select(Notification, Incident)
    .join(Incident, Incident.id == Notification.incident_id)
    .where(Notification.id == bindparam("id"))
    .execution_options(populate_existing=True)  # as a claim just changed it
)


def with_incident(session: Session, notification_id: int) -> tuple[Notification, Incident] | None:
    """A notification and its incident in one statement (a page about to go out needs both)."""
    found = session.execute(_WITH_INCIDENT, {"id": notification_id}).first()
    return None if found is None else (found[0], found[1])
