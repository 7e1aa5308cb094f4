"""Post-incident reviews: which incidents need one, the pre-filled draft, the rules for approving
it, improvement actions tracked to done, and the closing rule.

Callers own the transaction and lock the incident first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.catalog.loader import Catalog
from app.errors import Conflict, InvalidRequest, NotFound
from app.incidents import harm as harm_of
from app.incidents import service as incidents
from app.incidents.service import SYSTEM_ACTOR, record
from app.models import Incident, Notification, Review, ReviewAction
from app.paging import service as paging
from app.reviews import repository
from app.reviews.schemas import (
    ActionIn,
    ActionPatch,
    ActionRead,
    Detection,
    HarmReview,
    Impact,
    ReviewDocument,
    ReviewIn,
    ReviewRead,
    TimelineEntry,
)
from app.rules.reviews import ReviewsConfig
from app.vocabulary import (
    APPROVED,
    CLOSE,
    CLOSED,
    DONE,
    DRAFT,
    IN_REVIEW,
    OPEN,
    OPEN_ACTION_STATUSES,
    REMINDER,
    RESOLVED,
    REVIEW_NOTICE,
    WONT_DO,
)

# Timeline entries a review starts from (besides any a person starred).
KEY_MOMENTS = frozenset(
    {
        "opened",
        "acknowledged",
        "contained",
        "severity_raised",
        "reclassified",
        "decision",
        "escalation_requested",
        "reassigned",
        "harm_assessed",
        "communication_sent",
        "obligation_reported",
        "resolved",
        "reopened",
    }
)
MAX_TIMELINE = 200

review_of = repository.review_of
actions_of = repository.actions_of
search_actions = repository.search_actions
due_reviews = repository.due_reviews
due_actions = repository.due_actions
open_actions_by_owner = repository.open_actions_by_owner
claim_digest = repository.claim_digest


def get_review(session: Session, review_id: int) -> Review:
    row = repository.review(session, review_id)
    if row is None:
        raise NotFound(f"review {review_id} not found")
    return row


def required(config: ReviewsConfig, incident: Incident) -> bool:
    return config.requires(incident.type, incident.severity, incident.peak_severity)


def owner_for(config: ReviewsConfig, incident: Incident) -> str | None:
    if config.owner == "owner":
        return incident.owner or incident.lead
    if config.owner == "lead":
        return incident.lead or incident.owner
    if config.owner == "reviewer":
        return incident.reviewer or incident.owner
    return config.owner


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def prefill(
    session: Session, catalog: Catalog, incident: Incident, users_notified_at: datetime | None
) -> ReviewDocument:
    """The draft a review starts from: the incident's facts, its key moments, its harm."""
    harm = harm_of.current(session, incident.id)
    model = catalog.oncall.models.get(incident.model or "")
    started = incident.impact_started_at or incident.opened_at
    events = incidents.key_events(session, incident.id, KEY_MOMENTS, MAX_TIMELINE)
    how = incident.source.replace("_", " ")
    if incident.source == "monitoring":
        how = f"alert rule {incident.rule}"
    if incident.reported_by:
        how += f" by {incident.reported_by}"
    return ReviewDocument(
        summary=incident.description or incident.title,
        impact=Impact(
            duration_seconds=_seconds(started, incident.resolved_at),
            users_affected=harm.persons_affected if harm else None,
            decisions_affected=model.decisions if model else "",
        ),
        detection=Detection(
            how=how, when=incident.opened_at, delay_seconds=_seconds(started, incident.opened_at)
        ),
        timeline=[
            TimelineEntry(at=e.at, what=(e.message or e.kind)[:2000] or e.kind, actor=e.actor[:200])
            for e in events
        ],
        harm_assessment=HarmReview(
            affected_groups=list(harm.affected_groups) if harm else [],
            harm_level=harm.level if harm else None,
            users_notified=True if users_notified_at else None,
            users_notified_at=users_notified_at,
        ),
    )


def create(
    session: Session,
    catalog: Catalog,
    incident: Incident,
    by: str,
    now: datetime,
    users_notified_at: datetime | None = None,
) -> Review:
    """Start the review, pre-filled; it is due `due` after resolution (or from now if still open)."""
    config = catalog.reviews
    base = incident.resolved_at if incident.resolved_at is not None else now
    doc = prefill(session, catalog, incident, users_notified_at)
    review = Review(
        incident_id=incident.id,
        status=DRAFT,
        owner=owner_for(config, incident),
        due_at=base + config.due,
        data=doc.model_dump(mode="json"),
        updated_by=by,
        created_at=now,
        updated_at=now,
    )
    session.add(review)
    session.flush()
    record(
        session,
        incident,
        "review_started",
        by,
        now,
        f"post-incident review started, due {review.due_at:%Y-%m-%d %H:%M} UTC, "
        f"owner {review.owner or 'none'}",
        {"review": review.id, "owner": review.owner},
    )
    return review


def tell_owner(
    session: Session,
    catalog: Catalog,
    incident: Incident,
    owner: str | None,
    text: str,
    now: datetime,
    kind: str = REVIEW_NOTICE,
) -> list[Notification]:
    """A message to a review's or an action's owner through their contacts (a person of the on-call file)."""
    if not owner or owner not in catalog.oncall.people:
        return []
    pages = paging.page_people(session, catalog.oncall, incident, [owner], kind, None, now, any_urgency=True)
    for page in pages:
        page.body = text
    return pages


def on_resolved(
    session: Session, catalog: Catalog, incident: Incident, now: datetime, users_notified_at: datetime | None
) -> list[Notification]:
    """A resolved incident that needs a review gets one, and its owner is told."""
    if incident.status != RESOLVED or not required(catalog.reviews, incident):
        return []
    if repository.review_of(session, incident.id) is not None:
        return []
    review = create(session, catalog, incident, SYSTEM_ACTOR, now, users_notified_at)
    text = (
        f"A post-incident review of incident #{incident.id} ({incident.title}) is yours, due "
        f"{review.due_at:%Y-%m-%d %H:%M} UTC. It is pre-filled from the incident: add the root cause, "
        "the contributing factors and the improvement actions."
    )
    return tell_owner(session, catalog, incident, review.owner, text, now)


def _overdue(due_at: datetime, now: datetime, done: bool) -> bool:
    return not done and due_at < now


def action_read(row: ReviewAction, now: datetime) -> ActionRead:
    read = ActionRead.model_validate(row)
    read.overdue = _overdue(row.due_at, now, row.status not in OPEN_ACTION_STATUSES)
    return read


def read(session: Session, catalog: Catalog, incident: Incident, review: Review, now: datetime) -> ReviewRead:
    doc = ReviewDocument.model_validate(review.data)
    return ReviewRead(
        **doc.model_dump(),
        incident_id=incident.id,
        status=review.status,
        required=required(catalog.reviews, incident),
        owner=review.owner,
        due_at=review.due_at,
        overdue=_overdue(review.due_at, now, review.status == APPROVED),
        updated_by=review.updated_by,
        approved_by=review.approved_by,
        approved_at=review.approved_at,
        created_at=review.created_at,
        updated_at=review.updated_at,
        actions=[action_read(a, now) for a in repository.actions_of(session, incident.id)],
    )


def approval_problems(doc: ReviewDocument, actions: list[ReviewAction]) -> list[str]:
    """Why the review cannot be approved yet; empty when it can."""
    problems = []
    if not doc.summary.strip():
        problems.append("`summary` is empty")
    if doc.root_cause.category is None or not doc.root_cause.narrative.strip():
        problems.append("`root_cause` needs a `category` and a `narrative`")
    if not doc.contributing_factors:
        problems.append("name at least one of the `contributing_factors` (a failure rarely has one cause)")
    if not actions and not doc.no_action_reason.strip():
        problems.append("add an improvement action, or say why none is needed in `no_action_reason`")
    harm = doc.harm_assessment
    if harm.harm_level is None or harm.users_notified is None or not harm.notes.strip():
        problems.append(
            "`harm_assessment` needs `harm_level`, `users_notified` and `notes`, for every type of incident"
        )
    if harm.users_notified and harm.users_notified_at is None:
        problems.append("`harm_assessment.users_notified_at` says when the users were told")
    return problems


def update(session: Session, incident: Incident, review: Review, body: ReviewIn, now: datetime) -> None:
    """Replace the fields given; move the status (approving checks the review is complete)."""
    if review.status == APPROVED and body.status != IN_REVIEW and body.model_fields_set - {"by", "status"}:
        raise Conflict("the review is approved: set `status` to `in_review` to change it again")
    stored = ReviewDocument.model_validate(review.data).model_dump()
    # A field sent as null is left as it is (an empty list or text clears it).
    changes = body.model_dump(exclude_unset=True, exclude_none=True, exclude={"by", "status", "owner"})
    doc = ReviewDocument.model_validate({**stored, **changes})
    review.data = doc.model_dump(mode="json")
    if body.owner is not None:
        review.owner = body.owner
    review.updated_by, review.updated_at = body.by, now
    status = body.status or review.status
    if status == APPROVED and review.status != APPROVED:
        problems = approval_problems(doc, repository.actions_of(session, incident.id))
        if problems:
            raise Conflict("the review cannot be approved yet: " + "; ".join(problems))
        review.approved_by, review.approved_at = body.by, now
        record(
            session,
            incident,
            "review_approved",
            body.by,
            now,
            "post-incident review approved",
            {"review": review.id},
        )
    elif status != APPROVED and review.status == APPROVED:
        review.approved_by = review.approved_at = None
        record(
            session,
            incident,
            "review_reopened",
            body.by,
            now,
            "post-incident review reopened",
            {"review": review.id},
        )
    elif changes:
        record(
            session,
            incident,
            "review_edited",
            body.by,
            now,
            f"review edited: {', '.join(sorted(changes))}",
            {"review": review.id},
        )
    review.status = status


def add_action(
    session: Session, config: ReviewsConfig, incident: Incident, body: ActionIn, now: datetime
) -> ReviewAction:
    due = body.due or now + config.action_due[body.priority]
    by = body.by or body.owner
    row = ReviewAction(
        incident_id=incident.id,
        title=body.title,
        owner=body.owner,
        due_at=due,
        priority=body.priority,
        ticket_url=body.ticket_url,
        status=OPEN,
        created_by=by,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    record(
        session,
        incident,
        "action_added",
        by,
        now,
        f"improvement action #{row.id} for {row.owner}, due {due:%Y-%m-%d}: {row.title}",
        {"action": row.id, "owner": row.owner, "priority": row.priority},
    )
    return row


def patch_action(
    session: Session, incident: Incident, row: ReviewAction, body: ActionPatch, now: datetime
) -> bool:
    """Move an action; `wont_do` needs a reason. Returns whether anything changed."""
    if body.status == WONT_DO and not (body.reason or "").strip():
        raise InvalidRequest("`reason` is required to mark an action `wont_do`", field="reason")
    if body.status == row.status and body.reason in (None, row.reason):
        return False
    old = row.status
    row.status, row.updated_at = body.status, now
    if body.reason is not None:
        row.reason = body.reason
    row.done_at = now if body.status in (DONE, WONT_DO) else None
    by = body.by or SYSTEM_ACTOR
    message = f"improvement action #{row.id}: {old} -> {body.status}"
    if body.reason:
        message += f" ({body.reason})"
    record(
        session,
        incident,
        "action_updated",
        by,
        now,
        message,
        {"action": row.id, "from": old, "to": body.status},
    )
    return True


def get_action(session: Session, action_id: int) -> ReviewAction:
    row = repository.action(session, action_id)
    if row is None:
        raise NotFound(f"action {action_id} not found")
    return row


def close(session: Session, catalog: Catalog, incident: Incident, by: str, now: datetime) -> bool:
    """Close a resolved incident; 409 with the reason while a required review is not approved."""
    if incident.status == CLOSED:
        return False
    if incident.status != RESOLVED:
        raise Conflict(f"the incident is {incident.status}: resolve it before closing it")
    if required(catalog.reviews, incident):
        review = repository.review_of(session, incident.id)
        if review is None or review.status != APPROVED:
            state = "has not started" if review is None else f"is {review.status}"
            raise Conflict(
                f"a post-incident review is required for this incident and {state}: approve it first"
            )
    return incidents.transition(session, incident, CLOSE, by, "", now)


def remind_review(
    session: Session, catalog: Catalog, incident: Incident, review: Review, now: datetime
) -> list[Notification]:
    if review.status == APPROVED or review.due_at >= now:
        return []
    review.reminded_at = now
    due = f"{review.due_at:%Y-%m-%d %H:%M} UTC"
    text = f"Overdue: the post-incident review of incident #{incident.id} was due {due}."
    record(
        session, incident, "overdue", SYSTEM_ACTOR, now, text, {"review": review.id, "owner": review.owner}
    )
    return tell_owner(session, catalog, incident, review.owner, text, now, REMINDER)


def remind_action(
    session: Session, catalog: Catalog, incident: Incident, row: ReviewAction, now: datetime
) -> list[Notification]:
    if row.status not in OPEN_ACTION_STATUSES or row.due_at >= now:
        return []
    row.reminded_at = now
    text = f"Overdue: improvement action #{row.id} ({row.title}) was due {row.due_at:%Y-%m-%d}."
    return tell_owner(session, catalog, incident, row.owner, text, now, REMINDER)


def digest_text(owner: str, rows: list[ReviewAction], now: datetime) -> str:
    lines = [f"Your open improvement actions ({len(rows)}):", ""]
    for row in rows:
        late = " OVERDUE" if row.due_at < now else ""
        where = f"(incident #{row.incident_id})"
        lines.append(f"- #{row.id} [{row.priority}] due {row.due_at:%Y-%m-%d}{late}: {row.title} {where}")
    return "\n".join(lines)


def snapshot(review: Review | None) -> dict[str, Any] | None:
    return None if review is None else {"status": review.status, "due_at": review.due_at.isoformat()}
