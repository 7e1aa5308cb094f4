"""SQL of the reviews domain: reviews and improvement actions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app.models import ActionDigest, Incident, Review, ReviewAction
from app.vocabulary import APPROVED, OPEN_ACTION_STATUSES


def review_of(session: Session, incident_id: int) -> Review | None:
    return session.scalars(select(Review).where(Review.incident_id == incident_id)).first()


def review(session: Session, review_id: int) -> Review | None:
    return session.get(Review, review_id)


def actions_of(session: Session, incident_id: int) -> list[ReviewAction]:
    return list(
        session.scalars(
            select(ReviewAction).where(ReviewAction.incident_id == incident_id).order_by(ReviewAction.id)
        )
    )


def action(session: Session, action_id: int) -> ReviewAction | None:
    return session.get(ReviewAction, action_id)


def action_for_update(session: Session, action_id: int) -> ReviewAction | None:
    return session.scalars(select(ReviewAction).where(ReviewAction.id == action_id).with_for_update()).first()


def search_actions(
    session: Session,
    status: str | None,
    owner: str | None,
    overdue_at: datetime | None,
    limit: int,
    visible: ColumnElement[bool] | None = None,
) -> list[ReviewAction]:
    """Actions, due first; `visible` (a condition on incidents) keeps those a person may see."""
    query = select(ReviewAction)
    if visible is not None:
        query = query.where(ReviewAction.incident_id.in_(select(Incident.id).where(visible)))
    if status is not None:
        query = query.where(ReviewAction.status == status)
    if owner is not None:
        query = query.where(ReviewAction.owner == owner)
    if overdue_at is not None:
        query = query.where(ReviewAction.status.in_(OPEN_ACTION_STATUSES), ReviewAction.due_at < overdue_at)
    return list(session.scalars(query.order_by(ReviewAction.due_at, ReviewAction.id).limit(limit)))


def due_reviews(
    session: Session, now: datetime, remind_before: datetime, limit: int
) -> list[tuple[int, int]]:
    """(incident id, review id) of reviews past due, not approved, not reminded since `remind_before`."""
    rows = session.execute(
        select(Review.incident_id, Review.id)
        .where(
            Review.status != APPROVED,
            Review.due_at < now,
            (Review.reminded_at.is_(None)) | (Review.reminded_at <= remind_before),
        )
        .order_by(Review.due_at)
        .limit(limit)
    )
    return [(i, r) for i, r in rows]


def due_actions(
    session: Session, now: datetime, remind_before: datetime, limit: int
) -> list[tuple[int, int]]:
    rows = session.execute(
        select(ReviewAction.incident_id, ReviewAction.id)
        .where(
            ReviewAction.status.in_(OPEN_ACTION_STATUSES),
            ReviewAction.due_at < now,
            (ReviewAction.reminded_at.is_(None)) | (ReviewAction.reminded_at <= remind_before),
        )
        .order_by(ReviewAction.due_at)
        .limit(limit)
    )
    return [(i, a) for i, a in rows]


def open_actions_by_owner(session: Session) -> dict[str, list[ReviewAction]]:
    found: dict[str, list[ReviewAction]] = {}
    rows = session.scalars(
        select(ReviewAction)
        .where(ReviewAction.status.in_(OPEN_ACTION_STATUSES))
        .order_by(ReviewAction.owner, ReviewAction.due_at)
    )
    for row in rows:
        found.setdefault(row.owner, []).append(row)
    return found


def count_reviews(session: Session, now: datetime) -> tuple[int, int]:
    """(reviews not approved, of those past due)."""
    open_ = session.scalar(select(func.count()).select_from(Review).where(Review.status != APPROVED)) or 0
    overdue = (
        session.scalar(
            select(func.count()).select_from(Review).where(Review.status != APPROVED, Review.due_at < now)
        )
        or 0
    )
    return int(open_), int(overdue)


def count_actions(session: Session, now: datetime) -> tuple[int, int]:
    """(actions open or in progress, of those past due)."""
    base = select(func.count()).select_from(ReviewAction).where(ReviewAction.status.in_(OPEN_ACTION_STATUSES))
    open_ = session.scalar(base) or 0
    overdue = session.scalar(base.where(ReviewAction.due_at < now)) or 0
    return int(open_), int(overdue)


def claim_digest(session: Session, owner: str, week: str, now: datetime) -> bool:
    """Whether this process sends `owner` the digest of `week` (once across replicas)."""
    if session.scalars(
        select(ActionDigest).where(ActionDigest.owner == owner, ActionDigest.week == week)
    ).first():
        return False
    session.add(ActionDigest(owner=owner, week=week, sent_at=now))
    session.flush()  # the unique constraint refuses a second replica's row: its transaction fails
    return True
