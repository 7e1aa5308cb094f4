"""The communication protocol and the regulatory clocks, around every change to an incident.

`follow` runs inside the transaction of any change that moves the protocol (an incident opens,
its severity, type, status or harm assessment changes, a report is made, a moment recorded):
it creates the notices and reports now required, moves their clocks and cancels what no longer
applies. The functions below it are the API's: each is one transaction that locks the incident.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from app.communications import facts as facts_of
from app.communications import reports
from app.communications import service as notices
from app.communications.facts import Known
from app.communications.schemas import (
    ApproveIn,
    CancelIn,
    CommunicationRead,
    DraftIn,
    MomentIn,
    MomentRead,
    ObligationList,
    PostponeIn,
    ReportIn,
    SendIn,
)
from app.communications.service import Context
from app.db import Database, utcnow
from app.flows.locked import Change, change_incident, nothing
from app.flows.opening import Send
from app.incidents import service as incidents
from app.models import Communication, Incident, Notification

log = logging.getLogger(__name__)


def follow(
    session: Session,
    ctx: Context,
    incident: Incident,
    now: datetime,
    known: Known | None = None,
    current: facts_of.Current | None = None,
) -> list[Notification]:
    """Keep the incident's notices and reports in step with its facts; pages to send after commit.

    `known`: the incident opened in this transaction, so nothing about it is read back.
    `current`: what `facts_of.current` gives, when the caller has read it."""
    comms = ctx.catalog.communications
    current = current or facts_of.current(session, ctx.catalog, incident, known)  # once for both
    pages = notices.sync(session, ctx, incident, now, known, current) if comms.policies else []
    reports.sync(session, ctx.catalog, incident, now, known, current)
    return pages


def follow_new(
    session: Session, ctx: Context, incident: Incident, now: datetime, known: Known | None = None
) -> list[Notification]:
    """A new incident: nothing to do without policies or regimes, unless a rule assessed its harm."""
    comms = ctx.catalog.communications
    known = known or Known()
    if not comms.policies and not comms.regimes and known.harm is None:
        return []
    return follow(session, ctx, incident, now, known)


def _apply(db: Database, send: Send, incident_id: int, person: str | None, change: Change) -> None:
    change_incident(db, send, incident_id, person, change, nothing, utcnow())


NoticeChange = Callable[[Session, Incident, Communication, datetime], list[Notification]]


def _on_notice(
    db: Database, send: Send, ctx: Context, incident_id: int, cid: int, person: str | None, act: NoticeChange
) -> CommunicationRead:
    """One change to one notice; the answer is the notice as it now stands."""

    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        return act(session, incident, notices.get(session, incident_id, cid), now)

    def read(session: Session, incident: Incident, now: datetime) -> CommunicationRead:
        return notices.read(session, ctx, incident, notices.get(session, incident_id, cid), now)

    return change_incident(db, send, incident_id, person, change, read, utcnow())


def list_communications(
    db: Database, ctx: Context, incident_id: int, person: str | None
) -> list[CommunicationRead]:
    now = utcnow()
    with db.session() as session:
        incident = incidents.get_visible(session, incident_id, person)
        return [
            notices.read(session, ctx, incident, row, now) for row in notices.rows_of(session, incident_id)
        ]


def draft(
    db: Database, send: Send, ctx: Context, incident_id: int, cid: int, body: DraftIn, person: str | None
) -> CommunicationRead:
    def act(session: Session, incident: Incident, row: Communication, now: datetime) -> list[Notification]:
        notices.draft(session, incident, row, body.by, body.text, now)
        return []

    return _on_notice(db, send, ctx, incident_id, cid, person, act)


def approve(
    db: Database, send: Send, ctx: Context, incident_id: int, cid: int, body: ApproveIn, person: str | None
) -> CommunicationRead:
    def act(session: Session, incident: Incident, row: Communication, now: datetime) -> list[Notification]:
        notices.approve(session, ctx, incident, row, body.by, body.text, now)
        return []

    return _on_notice(db, send, ctx, incident_id, cid, person, act)


def send_notice(
    db: Database, send: Send, ctx: Context, incident_id: int, cid: int, body: SendIn, person: str | None
) -> CommunicationRead:
    def act(session: Session, incident: Incident, row: Communication, now: datetime) -> list[Notification]:
        return notices.send(session, ctx, incident, row, body, now)

    return _on_notice(db, send, ctx, incident_id, cid, person, act)


def cancel(
    db: Database, send: Send, ctx: Context, incident_id: int, cid: int, body: CancelIn, person: str | None
) -> CommunicationRead:
    def act(session: Session, incident: Incident, row: Communication, now: datetime) -> list[Notification]:
        notices.cancel(session, incident, row, body.by, body.reason, now)
        return []

    return _on_notice(db, send, ctx, incident_id, cid, person, act)


def postpone(
    db: Database, send: Send, ctx: Context, incident_id: int, cid: int, body: PostponeIn, person: str | None
) -> CommunicationRead:
    def act(session: Session, incident: Incident, row: Communication, now: datetime) -> list[Notification]:
        notices.postpone(session, incident, row, body.by, body.minutes, now)
        return []

    return _on_notice(db, send, ctx, incident_id, cid, person, act)


def obligations_of(db: Database, incident_id: int, person: str | None) -> ObligationList:
    now = utcnow()
    with db.session() as session:
        incidents.get_visible(session, incident_id, person)
        rows = reports.rows_of(session, incident_id)
        return ObligationList(
            items=[reports.read(r, now) for r in rows],
            evidence_hold=reports.evidence_hold(session, incident_id),
        )


def report(
    db: Database, send: Send, ctx: Context, incident_id: int, oid: int, body: ReportIn, person: str | None
) -> ObligationList:
    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        reports.report(session, ctx.catalog, incident, reports.get(session, incident_id, oid), body, now)
        return notices.sync(session, ctx, incident, now) if ctx.catalog.communications.policies else []

    _apply(db, send, incident_id, person, change)
    return obligations_of(db, incident_id, person)


def record_moment(
    db: Database, send: Send, ctx: Context, incident_id: int, body: MomentIn, person: str | None
) -> MomentRead:
    made: list[MomentRead] = []

    def change(session: Session, incident: Incident, now: datetime) -> list[Notification]:
        moment = reports.record_moment(session, incident, body.name, body.by, body.at or now, now)
        made.append(MomentRead.model_validate(moment))
        return follow(session, ctx, incident, now)

    _apply(db, send, incident_id, person, change)
    return made[0]


def moments_of(db: Database, incident_id: int, person: str | None) -> list[MomentRead]:
    with db.session() as session:
        incidents.get_visible(session, incident_id, person)
        return [MomentRead.model_validate(m) for m in reports.moments_of(session, incident_id)]


def sweep(
    db: Database, ctx: Callable[[], Context], send: Send, now: datetime | None = None, limit: int = 100
) -> int:
    """Send holding statements that are due, and remind owners of overdue notices and reports.

    Each item is handled in a transaction of its own that locks its incident, so two replicas
    never remind twice. Returns how many items were handled.
    """
    now = now or utcnow()
    with db.session() as session:
        due = [("notice", i, c) for i, c in notices.due(session, now, limit)]
        due += [("report", i, o) for i, o in reports.due(session, now, limit)]
    handled = 0
    for what, incident_id, item_id in due:
        try:
            _apply(db, send, incident_id, None, _sweeper(ctx(), what, item_id, now))
            handled += 1
        except Exception:  # logged; the next sweep tries again
            log.exception("communications sweep: %s %s of incident %s failed", what, item_id, incident_id)
    return handled


def _sweeper(context: Context, what: str, item_id: int, now: datetime) -> Change:
    def change(session: Session, incident: Incident, _at: datetime) -> list[Notification]:
        if what == "notice":
            return notices.sweep_notice(
                session, context, incident, notices.get(session, incident.id, item_id), now
            )
        return reports.sweep_report(
            session, context, incident, reports.get(session, incident.id, item_id), now
        )

    return change
