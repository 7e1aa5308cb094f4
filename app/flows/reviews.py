"""Post-incident reviews and improvement actions: started when an incident that needs one
resolves, written and approved by people, actions tracked to done (also by a ticket tracker),
overdue ones reminded, a weekly digest per owner, and the closing rule."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from app.catalog.loader import Catalog
from app.communications import service as notices
from app.db import Database, utcnow
from app.errors import NotFound
from app.flows.locked import change_incident
from app.flows.opening import Send
from app.incidents import service as incidents
from app.incidents.schemas import IncidentRead
from app.models import Incident, Notification, ReviewAction
from app.reviews import markdown
from app.reviews import service as reviews
from app.reviews.schemas import ActionIn, ActionPatch, ActionRead, ReviewIn, ReviewRead
from app.vocabulary import SENT

log = logging.getLogger(__name__)
AFFECTED_USERS = "affected-users"


def users_notified_at(session: Session, incident_id: int) -> datetime | None:
    """When the affected users' full notice went out, if it did."""
    sent = [
        r.sent_at
        for r in notices.rows_of(session, incident_id)
        if r.audience == AFFECTED_USERS and r.status == SENT and not r.holding and r.sent_at is not None
    ]
    return min(sent) if sent else None


def on_resolved(session: Session, catalog: Catalog, incident: Incident, now: datetime) -> list[Notification]:
    """Inside the resolving transaction: start the review the incident needs, tell its owner."""
    if not reviews.required(catalog.reviews, incident):
        return []
    return reviews.on_resolved(session, catalog, incident, now, users_notified_at(session, incident.id))


def _locked(session: Session, incident_id: int, person: str | None) -> Incident:
    incident = incidents.get_for_update(session, incident_id)
    if incident is None or not incidents.can_see(session, incident, person):
        raise NotFound(f"incident {incident_id} not found")
    return incident


def get_review(db: Database, catalog: Catalog, incident_id: int, person: str | None) -> ReviewRead:
    now = utcnow()
    with db.session() as session:
        incident = incidents.get_visible(session, incident_id, person)
        review = reviews.review_of(session, incident_id)
        if review is None:
            need = (
                "is required once it resolves"
                if reviews.required(catalog.reviews, incident)
                else "is not required"
            )
            raise NotFound(
                f"incident {incident_id} has no review yet (one {need}); PUT .../review starts one"
            )
        return reviews.read(session, catalog, incident, review, now)


def review_markdown(
    db: Database, catalog: Catalog, incident_id: int, person: str | None, public_url: str
) -> str:
    now = utcnow()
    with db.session() as session:
        incident = incidents.get_visible(session, incident_id, person)
        review = reviews.review_of(session, incident_id)
        if review is None:
            raise NotFound(f"incident {incident_id} has no review yet")
        read = reviews.read(session, catalog, incident, review, now)
        return markdown.render(IncidentRead.model_validate(incident), read, public_url)


def put_review(
    db: Database, send: Send, catalog: Catalog, incident_id: int, body: ReviewIn, person: str | None
) -> ReviewRead:
    """Start the review if there is none, then apply the change (approving checks it is complete)."""

    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        review = reviews.review_of(session, incident_id)
        if review is None:
            notified = users_notified_at(session, incident_id)
            review = reviews.create(session, catalog, incident, body.by, now, notified)
        reviews.update(session, incident, review, body, now)
        return []

    def read(session: Session, incident: Incident, now: datetime) -> ReviewRead:
        review = reviews.review_of(session, incident_id)
        assert review is not None
        return reviews.read(session, catalog, incident, review, now)

    return change_incident(db, send, incident_id, person, change, read, utcnow())


def add_action(
    db: Database, send: Send, catalog: Catalog, incident_id: int, body: ActionIn, person: str | None
) -> ActionRead:
    added: list[ReviewAction] = []

    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        row = reviews.add_action(session, catalog.reviews, incident, body, now)
        added.append(row)
        text = f"Improvement action #{row.id} is yours, due {row.due_at:%Y-%m-%d}: {row.title}"
        return reviews.tell_owner(session, catalog, incident, row.owner, text, now)

    def read(_session: Session, _incident: Incident, now: datetime) -> ActionRead:
        return reviews.action_read(added[0], now)

    return change_incident(db, send, incident_id, person, change, read, utcnow())


def patch_action(db: Database, action_id: int, body: ActionPatch, person: str | None) -> ActionRead:
    now = utcnow()
    with db.session(write=True) as session:
        incident_id = reviews.get_action(session, action_id).incident_id
        incident = _locked(session, incident_id, person)
        row = reviews.get_action(session, action_id)
        reviews.patch_action(session, incident, row, body, now)
        session.flush()
        return reviews.action_read(row, now)


def list_actions(
    db: Database, status: str | None, owner: str | None, overdue: bool, person: str | None, limit: int
) -> list[ActionRead]:
    now = utcnow()
    with db.session() as session:
        visible = incidents.visible_to(session, person) if person is not None else None
        rows = reviews.search_actions(session, status, owner, now if overdue else None, limit, visible)
        return [reviews.action_read(r, now) for r in rows]


def close(db: Database, catalog: Catalog, incident_id: int, by: str, person: str | None) -> IncidentRead:
    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        reviews.close(session, catalog, incident, by, now)
        return []

    def read(_session: Session, incident: Incident, _now: datetime) -> IncidentRead:
        return IncidentRead.model_validate(incident)

    return change_incident(db, None, incident_id, person, change, read, utcnow())


def close_action_from_tracker(
    db: Database, action_id: int, status: str, reason: str | None, by: str
) -> ActionRead:
    """A ticket tracker's signed call: the linked ticket was closed (or reopened)."""
    return patch_action(
        db, action_id, ActionPatch.model_validate({"status": status, "reason": reason, "by": by}), None
    )


def sweep(
    db: Database, catalog: Callable[[], Catalog], send: Send, now: datetime | None = None, limit: int = 100
) -> int:
    """Remind the owners of overdue reviews and actions (at most every `remind_every`), and send
    each owner the weekly digest of their open actions on Mondays. Returns how many reminders and
    digests went out (to at least one contact)."""
    now = now or utcnow()
    cfg = catalog()
    since = now - cfg.reviews.remind_every
    with db.session() as session:
        due_reviews = reviews.due_reviews(session, now, since, limit)
        due_actions = reviews.due_actions(session, now, since, limit)
    handled = 0
    for incident_id, review_id in due_reviews:
        handled += _one(db, send, incident_id, _review_reminder(cfg, review_id, now))
    for incident_id, action_id in due_actions:
        handled += _one(db, send, incident_id, _action_reminder(cfg, action_id, now))
    if now.isoweekday() == 1:
        handled += digest(db, cfg, send, now)
    return handled


def _review_reminder(
    cfg: Catalog, review_id: int, now: datetime
) -> Callable[[Session, Incident], list[Notification]]:
    def change(session: Session, incident: Incident) -> list[Notification]:
        return reviews.remind_review(session, cfg, incident, reviews.get_review(session, review_id), now)

    return change


def _action_reminder(
    cfg: Catalog, action_id: int, now: datetime
) -> Callable[[Session, Incident], list[Notification]]:
    def change(session: Session, incident: Incident) -> list[Notification]:
        return reviews.remind_action(session, cfg, incident, reviews.get_action(session, action_id), now)

    return change


def _one(
    db: Database, send: Send, incident_id: int, change: Callable[[Session, Incident], list[Notification]]
) -> int:
    try:
        with db.session(write=True) as session:
            incident = incidents.get_for_update(session, incident_id)
            if incident is None:
                return 0
            pages = change(session, incident)
            session.flush()
            ids = [p.id for p in pages]
    except Exception:  # logged; the next sweep tries again
        log.exception("reviews sweep: incident %s failed", incident_id)
        return 0
    if send is not None and ids:
        send(ids)
    return 1 if ids else 0


def _digest_for(
    catalog: Catalog, owner: str, week: str, text: str, now: datetime
) -> Callable[[Session, Incident], list[Notification]]:
    def change(session: Session, incident: Incident) -> list[Notification]:
        if not reviews.claim_digest(session, owner, week, now):
            return []
        return reviews.tell_owner(session, catalog, incident, owner, text, now)

    return change


def digest(db: Database, catalog: Catalog, send: Send, now: datetime) -> int:
    """The week's digest of open actions, once per owner across replicas."""
    week = f"{now.isocalendar().year}-W{now.isocalendar().week:02d}"
    with db.session() as session:
        by_owner = reviews.open_actions_by_owner(session)
    sent = 0
    for owner, rows in by_owner.items():
        if owner not in catalog.oncall.people:
            continue
        first = rows[0].incident_id
        text = reviews.digest_text(owner, rows, now)

        sent += _one(db, send, first, _digest_for(catalog, owner, week, text, now))
    return sent
