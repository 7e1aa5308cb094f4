"""The communication protocol at work on one incident: the notices its facts call for, their
drafts, approvals and sends, and the reminders when one is late.

Callers own the transaction and lock the incident first. Notices to audiences with people or
teams go out as notifications of kind `communication` through the paging outbox; others are
recorded as sent another way (`via`). Pages written here are handed over after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.catalog.loader import Catalog
from app.communications import facts as facts_of
from app.communications import repository
from app.communications.facts import Known
from app.communications.metrics import COMMUNICATIONS
from app.communications.schemas import CommunicationRead, SendIn
from app.errors import Conflict, InvalidRequest, NotFound
from app.incidents.service import SYSTEM_ACTOR, record
from app.models import Communication, Incident, Notification
from app.paging import service as paging
from app.protocol.config import Audience
from app.protocol.plan import Task, required
from app.vocabulary import (
    APPROVED,
    CANCELLED,
    COMMUNICATION,
    DRAFT,
    OVERDUE,
    PENDING,
    REMINDER,
    SENT,
    UNSENT_STATUSES,
)

NO_LONGER_REQUIRED = "no longer required"
HOLDING_SUFFIX = "/holding"


@dataclass(frozen=True)
class Context:
    """What the protocol needs besides the database: the rules and the service's own address."""

    catalog: Catalog
    public_url: str


def _audience(ctx: Context, audience_id: str) -> Audience | None:
    return ctx.catalog.communications.audiences.get(audience_id)


def text_of(
    session: Session, ctx: Context, incident: Incident, row: Communication, known: Known | None = None
) -> str:
    """What the notice says: the sent text, a person's draft, or the template rendered now."""
    if row.sent_text is not None:
        return row.sent_text
    if row.text is not None:
        return row.text
    audience = _audience(ctx, row.audience)
    facts = facts_of.render_facts(session, ctx.catalog, ctx.public_url, incident, audience, row, known)
    try:
        return ctx.catalog.templates.render(row.template, facts)
    except Exception as exc:  # a template removed or broken since: say so, never send an empty notice
        return (
            f"(template {row.template!r} cannot be rendered: {type(exc).__name__}; write the text by hand)\n"
        )


def status_of(row: Communication, now: datetime) -> str:
    if row.status in UNSENT_STATUSES and now > row.due_at:
        return OVERDUE
    return row.status


def read(
    session: Session, ctx: Context, incident: Incident, row: Communication, now: datetime
) -> CommunicationRead:
    audience = _audience(ctx, row.audience)
    unsent = row.status in UNSENT_STATUSES
    return CommunicationRead(
        id=row.id,
        audience=row.audience,
        audience_name=audience.name if audience else row.audience,
        policy=row.policy,
        sequence=row.sequence,
        holding=row.holding,
        due_at=row.due_at,
        status=status_of(row, now),
        approval=row.approval,
        channel=row.channel,
        template=row.template,
        text=text_of(session, ctx, incident, row),
        edited_by=row.edited_by,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        sent_at=row.sent_at,
        sent_by=row.sent_by,
        via=row.via,
        late_reason=row.late_reason,
        cancel_reason=row.cancel_reason,
        seconds_left=(row.due_at - now).total_seconds() if unsent else None,
    )


def _new_row(
    incident: Incident, task: Task, audience: Audience | None, sequence: int, due_at: datetime, now: datetime
) -> Communication:
    return Communication(
        incident_id=incident.id,
        key=task.key,
        sequence=sequence,
        policy=task.policy,
        audience=task.audience,
        template=task.template,
        channel=audience.describe_channel() if audience else "",
        approval=task.approval,
        holding=False,
        every_s=int(task.every.delta.total_seconds()) if task.every and not task.every.months else None,
        status=PENDING,
        due_at=due_at,
        created_at=now,
        updated_at=now,
    )


def _holding_row(main: Communication, task: Task, now: datetime) -> Communication:
    assert task.holding_template is not None and task.holding_due_at is not None
    return Communication(
        incident_id=main.incident_id,
        key=task.key + HOLDING_SUFFIX,
        sequence=main.sequence,
        policy=main.policy,
        audience=main.audience,
        template=task.holding_template,
        channel=main.channel,
        approval=False,  # pre-approved: it goes out on time while the full notice waits
        holding=True,
        status=PENDING,
        due_at=min(task.holding_due_at, main.due_at),
        created_at=now,
        updated_at=now,
    )


def _cancel(
    session: Session, incident: Incident, row: Communication, by: str, reason: str, now: datetime
) -> None:
    row.status, row.cancel_reason, row.updated_at = CANCELLED, reason, now
    COMMUNICATIONS.labels(row.audience, "cancelled").inc()
    record(
        session,
        incident,
        "communication_cancelled",
        by,
        now,
        f"notice to {row.audience} cancelled: {reason}",
        {"communication": row.id, "audience": row.audience},
    )


def _latest(rows: list[Communication]) -> dict[str, Communication]:
    latest: dict[str, Communication] = {}
    for row in rows:
        if row.key not in latest or row.sequence > latest[row.key].sequence:
            latest[row.key] = row
    return latest


def sync(
    session: Session,
    ctx: Context,
    incident: Incident,
    now: datetime,
    known: Known | None = None,
    current: facts_of.Current | None = None,
) -> list[Notification]:
    """Bring the incident's notices in step with what its facts now ask for.

    New notices are created with their due times; notices no longer required are cancelled
    (kept, with the reason); internal notices that need no approval go out at once.
    `current`: the facts, when the caller has read them already.
    """
    config = ctx.catalog.communications
    if not config.policies:
        return []
    current = current or facts_of.current(session, ctx.catalog, incident, known)
    tasks = {t.key: t for t in required(config, current.facts)}
    rows = current.communications
    latest = _latest(rows)
    for row in rows:
        base = row.key.removesuffix(HOLDING_SUFFIX)
        if row.status in UNSENT_STATUSES and base not in tasks:
            _cancel(session, incident, row, SYSTEM_ACTOR, f"{NO_LONGER_REQUIRED} ({_why(incident)})", now)
    openings: list[_Opening] = []
    for key, task in tasks.items():
        last = latest.get(key)
        audience = _audience(ctx, task.audience)
        if last is None or (
            last.status == CANCELLED and (last.cancel_reason or "").startswith(NO_LONGER_REQUIRED)
        ):
            sequence = last.sequence + 1 if last is not None else 1
            opening = _opening(session, ctx, incident, task, audience, sequence, task.due_at, now, known)
            openings.append(opening)
        elif last.status in UNSENT_STATUSES:
            _move_clock(last, task, latest.get(key + HOLDING_SUFFIX), now)
        elif last.status == SENT and task.every is not None and last.sent_at is not None:
            due_at = task.every.after(last.sent_at)
            openings.append(_opening(session, ctx, incident, task, audience, last.sequence + 1, due_at, now))
    return _open(session, ctx, incident, openings, now, known)


def _move_clock(row: Communication, task: Task, holding: Communication | None, now: datetime) -> None:
    """Its clock moved (awareness corrected, say): the notice and its holding statement follow,
    unless a person postponed them. A recurring update keeps the time its schedule gave it."""
    if row.postponed_by is None and (task.every is None or row.sequence == 1) and row.due_at != task.due_at:
        row.due_at, row.updated_at = task.due_at, now
    if (
        holding is not None
        and holding.sequence == row.sequence
        and holding.status in UNSENT_STATUSES
        and holding.postponed_by is None
        and task.holding_due_at is not None
    ):
        due = min(task.holding_due_at, row.due_at)
        if holding.due_at != due:
            holding.due_at, holding.updated_at = due, now


def _why(incident: Incident) -> str:
    return f"now {incident.severity} {incident.type}, {incident.status}"


@dataclass
class _Opening:
    """A notice the facts now ask for, before it is stored."""

    task: Task
    audience: Audience | None
    row: Communication
    text: str | None  # what it says when it goes out at once (then it is stored as sent)


def _opening(
    session: Session,
    ctx: Context,
    incident: Incident,
    task: Task,
    audience: Audience | None,
    sequence: int,
    due_at: datetime,
    now: datetime,
    known: Known | None = None,
) -> _Opening:
    row = _new_row(incident, task, audience, sequence, due_at, now)
    if (
        task.approval
        or audience is None
        or not (audience.people or audience.teams)
        or (task.every is not None and due_at > now)  # a recurring update goes out on its schedule
    ):
        return _Opening(task, audience, row, None)
    # It goes out at once: stored as sent, with its text, instead of stored then changed.
    text = text_of(session, ctx, incident, row, known)
    _mark_sent(row, text, SYSTEM_ACTOR, None, now)
    return _Opening(task, audience, row, text)


def _open(
    session: Session,
    ctx: Context,
    incident: Incident,
    openings: list[_Opening],
    now: datetime,
    known: Known | None,
) -> list[Notification]:
    """Store the new notices in one statement, then record each and send those due at once."""
    stored = repository.insert_communications(session, [o.row for o in openings])
    pages: list[Notification] = []
    for opening, row in zip(openings, stored, strict=True):
        task = opening.task
        if task.holding_template and task.every is None:
            session.add(_holding_row(row, task, now))
        record(
            session,
            incident,
            "communication_due",
            SYSTEM_ACTOR,
            now,
            f"notice to {task.audience} due by {row.due_at:%Y-%m-%d %H:%M} UTC (policy {task.policy})",
            {"communication": row.id, "audience": task.audience, "due_at": row.due_at.isoformat()},
        )
        if opening.text is not None and opening.audience is not None:
            pages += _deliver(
                session, ctx, incident, row, opening.audience, opening.text, SYSTEM_ACTOR, None, now, known
            )
    return pages


def _notify_audience(
    session: Session,
    ctx: Context,
    incident: Incident,
    row: Communication,
    audience: Audience,
    text: str,
    now: datetime,
    known: Known | None = None,
) -> list[Notification]:
    """The notice to the audience's people and teams; people already paged for this incident
    know, and are not told twice."""
    oncall = ctx.catalog.oncall
    paged = known.paged if known is not None else paging.paged_people(session, incident.id)
    people = [p for p in audience.people if p in oncall.people and p not in paged]
    pages = paging.page_people(session, oncall, incident, people, COMMUNICATION, None, now, any_urgency=True)
    for team in audience.teams:
        pages += paging.page_team(session, oncall, incident, team, COMMUNICATION, now)
    for page in pages:
        page.communication_id, page.body = row.id, text
    return pages


def _mark_sent(row: Communication, text: str, by: str, via: str | None, now: datetime) -> None:
    if row.approval and row.approved_by is None:
        row.approved_by, row.approved_at = by, now
    row.status, row.sent_at, row.sent_by, row.sent_text, row.via = SENT, now, by, text, via
    row.updated_at = now


def _deliver(
    session: Session,
    ctx: Context,
    incident: Incident,
    row: Communication,
    audience: Audience | None,
    text: str,
    by: str,
    via: str | None,
    now: datetime,
    known: Known | None = None,
) -> list[Notification]:
    pages: list[Notification] = []
    if via is None:
        if audience is None or not (audience.people or audience.teams):
            how = audience.channel if audience and audience.channel else "no paging contacts"
            raise Conflict(
                f"the {row.audience} audience is reached by {how}: send it that way and record it with `via`"
            )
        pages = _notify_audience(session, ctx, incident, row, audience, text, now, known)
    _mark_sent(row, text, by, via, now)  # no change to a row stored as sent already
    outcome = "holding" if row.holding else ("recorded" if via else "sent")
    COMMUNICATIONS.labels(row.audience, outcome).inc()
    how = f"via {via}" if via else f"to {len(pages)} contact(s) through paging"
    what = "holding statement" if row.holding else "notice"
    record(
        session,
        incident,
        "communication_sent",
        by,
        now,
        f"{what} to {row.audience} sent {how}",
        {"communication": row.id, "audience": row.audience, "via": via, "late": now > row.due_at},
    )
    return pages


def _follow_up(
    session: Session, ctx: Context, incident: Incident, row: Communication, now: datetime
) -> list[Notification]:
    """After a send: a full notice ends its holding statement; a recurring one opens the next."""
    pages: list[Notification] = []
    if not row.holding:
        for other in repository.communications(session, incident.id):
            if other.key == row.key + HOLDING_SUFFIX and other.status in UNSENT_STATUSES:
                _cancel(session, incident, other, SYSTEM_ACTOR, "the full notice went out", now)
    if row.every_s and incident.is_open:
        pages += sync(session, ctx, incident, now)
    return pages


rows_of = repository.communications
due = repository.due_notices


def get(session: Session, incident_id: int, communication_id: int) -> Communication:
    row = repository.communication(session, incident_id, communication_id)
    if row is None:
        raise NotFound(f"communication {communication_id} not found on incident {incident_id}")
    return row


def _require_unsent(row: Communication, doing: str) -> None:
    if row.status not in UNSENT_STATUSES:
        raise Conflict(f"cannot {doing}: the notice is already {row.status}")


def draft(
    session: Session, incident: Incident, row: Communication, by: str, text: str, now: datetime
) -> None:
    """A person's edit: it needs approval again before it goes out."""
    _require_unsent(row, "edit it")
    row.text, row.edited_by, row.status = text, by, DRAFT
    row.approved_by = row.approved_at = None
    row.updated_at = now
    record(
        session,
        incident,
        "communication_drafted",
        by,
        now,
        f"notice to {row.audience} edited",
        {"communication": row.id},
    )


def approve(
    session: Session,
    ctx: Context,
    incident: Incident,
    row: Communication,
    by: str,
    text: str | None,
    now: datetime,
) -> None:
    """Approve the text as it stands (or as given) for sending; the text is frozen into the draft."""
    _require_unsent(row, "approve it")
    row.text = text if text is not None else text_of(session, ctx, incident, row)
    row.status, row.approved_by, row.approved_at, row.updated_at = APPROVED, by, now, now
    record(
        session,
        incident,
        "communication_approved",
        by,
        now,
        f"notice to {row.audience} approved",
        {"communication": row.id},
    )


def send(
    session: Session, ctx: Context, incident: Incident, row: Communication, body: SendIn, now: datetime
) -> list[Notification]:
    """Approve and send, or record it went out another way; the exact text is kept."""
    _require_unsent(row, "send it")
    text = body.text if body.text is not None else text_of(session, ctx, incident, row)
    if body.late_reason:
        row.late_reason = body.late_reason
    pages = _deliver(session, ctx, incident, row, _audience(ctx, row.audience), text, body.by, body.via, now)
    return pages + _follow_up(session, ctx, incident, row, now)


def cancel(
    session: Session, incident: Incident, row: Communication, by: str, reason: str, now: datetime
) -> None:
    """Cancel a notice; its holding statement goes with it (it promised a notice nobody will send)."""
    _require_unsent(row, "cancel it")
    _cancel(session, incident, row, by, reason, now)
    if not row.holding:
        for other in repository.communications(session, incident.id):
            if _holding_of(other, row) and other.status in UNSENT_STATUSES:
                _cancel(session, incident, other, by, f"its notice was cancelled: {reason}", now)


def _holding_of(other: Communication, row: Communication) -> bool:
    return other.key == row.key + HOLDING_SUFFIX and other.sequence == row.sequence


def postpone(
    session: Session, incident: Incident, row: Communication, by: str, minutes: int, now: datetime
) -> None:
    """Push the due time back from now (a snooze of a recurring update, say)."""
    _require_unsent(row, "postpone it")
    if row.approval is False and row.holding:
        raise InvalidRequest("a holding statement cannot be postponed: it is what keeps people informed")
    row.due_at, row.reminded_at, row.updated_at = now + timedelta(minutes=minutes), None, now
    row.postponed_by = by
    record(
        session,
        incident,
        "communication_postponed",
        by,
        now,
        f"notice to {row.audience} postponed to {row.due_at:%Y-%m-%d %H:%M} UTC",
        {"communication": row.id},
    )


def remind_owner(
    session: Session, ctx: Context, incident: Incident, what: str, now: datetime
) -> list[Notification]:
    """Page the incident's owner (or its responders when unowned) that something is overdue."""
    oncall = ctx.catalog.oncall
    people = [p for p in (incident.owner, incident.lead, incident.comms_lead) if p and p in oncall.people]
    record(session, incident, "overdue", SYSTEM_ACTOR, now, what, {"reminded": people})
    pages = paging.page_people(
        session, oncall, incident, list(dict.fromkeys(people)), REMINDER, None, now, any_urgency=True
    )
    for page in pages:
        page.body = what
    return pages


def sweep_notice(
    session: Session, ctx: Context, incident: Incident, row: Communication, now: datetime
) -> list[Notification]:
    """A due notice: send a holding statement whose full notice still waits, remind the owner once."""
    if row.status not in UNSENT_STATUSES or row.due_at > now:
        return []
    if row.holding:
        base = row.key.removesuffix(HOLDING_SUFFIX)
        main = [r for r in repository.communications(session, incident.id) if r.key == base]
        if main and all(r.status == SENT for r in main if r.sequence == row.sequence):
            _cancel(session, incident, row, SYSTEM_ACTOR, "the full notice went out", now)
            return []
    audience = _audience(ctx, row.audience)
    reachable = audience is not None and bool(audience.people or audience.teams)
    if not row.approval and row.status != DRAFT and reachable:
        # Needs nobody's approval (a recurring internal update, a holding statement): it goes out.
        # A person's unapproved edit (a draft) never goes out on its own.
        text = text_of(session, ctx, incident, row)
        return _deliver(session, ctx, incident, row, audience, text, SYSTEM_ACTOR, None, now) + _follow_up(
            session, ctx, incident, row, now
        )
    if row.reminded_at is not None:
        return []
    row.reminded_at = now
    what = "holding statement" if row.holding else "notice"
    return remind_owner(
        session,
        ctx,
        incident,
        f"Overdue: the {what} to {row.audience} was due {row.due_at:%Y-%m-%d %H:%M} UTC",
        now,
    )
