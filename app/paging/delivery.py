"""Sending pages: right after commit, and again by the sweeper until delivered or given up.

Each send claims its row first (a conditional UPDATE, or SKIP LOCKED in the sweeper), so two
replicas never send one page twice; a sender that dies mid-send loses its lease and the row
is taken over. Receivers can dedupe on the delivery id for that one at-least-once case.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, assert_never

import httpx
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import logs
from app.catalog.loader import Catalog
from app.config import Settings
from app.db import Database, is_conflict, utcnow
from app.durations import parse_duration
from app.incidents import service as incidents
from app.incidents.service import SYSTEM_ACTOR, record
from app.instance.keys import Keys
from app.models import Incident, Notification
from app.oncall.schemas import Contact
from app.paging import contacts, metrics, outcome, repository, service
from app.paging.links import links_for
from app.paging.message import Message
from app.paging.notifiers import DeliveryError, Notifier, build_notifiers, quiet_http_loggers
from app.paging.outcome import PERMANENT, RETRYABLE, Cancelled, Delivered, Failure, GiveUp, Retry
from app.paging.repository import LEASE
from app.urls import safe_link
from app.vocabulary import (
    CANCELLED,
    COMMUNICATION,
    DELIVERED,
    FAILED,
    FALLBACK,
    PAGING_FIRST,
    PENDING,
    REMINDER,
    REVIEW_NOTICE,
    SENDING,
    SEVERITY_RAISED,
    WAKING_KINDS,
)

__all__ = ["LEASE", "Dispatcher", "build_message", "parse_contact"]

log = logging.getLogger(__name__)
parse_contact = contacts.parse  # the typed contact of a full copy (rows of older versions)


def build_message(
    cfg: Catalog, settings: Settings, row: Notification, incident: Incident, now: datetime, links_key: str
) -> Message:
    """What this row says now; links are signed with `links_key` (Keys.links)."""
    runbook = incident.runbook or {}
    book = cfg.runbooks.get(runbook.get("id") or "")
    links = links_for(
        settings.public_url,
        links_key,
        incident.id,
        row.recipient,
        now,
        parse_duration(settings.link_ttl),
    )
    note = ""
    if row.kind in (COMMUNICATION, REMINDER, REVIEW_NOTICE):
        # A notice or a reminder carries its own text; its links only show the incident.
        note = row.body or ""
        links = {"view": links["view"]} if "view" in links else {}
    elif row.kind == FALLBACK:
        note = f"A page to the on-call engineer could not be delivered (step {(row.step or 0) + 1})."
    elif row.kind == SEVERITY_RAISED:
        note = f"Severity is now {incident.severity}."
    return Message(
        delivery_id=row.delivery_id,
        kind=row.kind,
        recipient=row.recipient,
        incident_id=incident.id,
        incident_key=incident.key,
        title=incident.title,
        status=incident.status,
        severity=incident.severity,
        type=incident.type,
        model=incident.model,
        owner=incident.owner,
        opened_at=incident.opened_at,
        urgency=service.urgency_of(cfg.oncall, incident.severity),
        runbook_title=runbook.get("title"),
        # Only http(s) becomes a link, also for rows stored before URLs were checked on intake.
        runbook_url=safe_link(runbook.get("url")),
        containment=tuple(book.containment) if book else (),
        links=links,
        note=note,
        step=row.step,
        acknowledged_by=incident.acknowledged_by,
        resolved_by=incident.resolved_by,
    )


def _handled_since(incident: Incident, created_at: datetime) -> bool:
    """Acknowledged or resolved after this page was written: it has no one left to wake."""
    if not incident.is_open:
        return True
    return incident.acknowledged_at is not None and incident.acknowledged_at >= created_at


QUEUED = "queued"  # an outcome left to the batches of `record_later`
RECORD_LINGER = 0.05  # seconds a batch of outcomes waits for more before it is written
RECORD_TRIES = 3  # a batch of outcomes that deadlocked with another worker is written again


def _conflict(exc: DBAPIError) -> bool:
    """A deadlock or serialization failure (PostgreSQL), or a locked SQLite file."""
    return is_conflict(exc) or "locked" in str(exc.orig)


@dataclass(frozen=True)
class _Attempt:
    """One send, as its outcome is recorded."""

    notification_id: int
    channel: str
    attempts: int
    created_at: datetime
    error: DeliveryError | None
    sent: _Sent | None = None  # what a delivery writes on the timeline


@dataclass(frozen=True)
class _Sent:
    incident_id: int
    kind: str
    recipient: str


class Dispatcher:
    """Delivers notifications on a small thread pool, never on the request or intake path."""

    def __init__(
        self,
        db: Database,
        config: Callable[[], Catalog],
        settings: Settings,
        client: httpx.Client,
        keys: Callable[[], Keys],
        clock: Callable[[], datetime] = utcnow,
        notifiers: dict[str, Notifier[Any]] | None = None,
        jitter: Callable[[], float] = outcome.jitter,
    ) -> None:
        self.db, self.config, self.settings, self.client, self.clock = db, config, settings, client, clock
        # Asked when the first page goes out (the master key may live in the database): `links`
        # signs the links in messages, `webhooks` is the default webhook key.
        self.keys = keys
        quiet_http_loggers()
        self._notifiers = notifiers
        self.jitter = jitter  # the backoff factor of each retry
        self.pool = ThreadPoolExecutor(settings.dispatch_workers, thread_name_prefix="page")
        # Notices, reminders and review messages wake nobody: they never queue in front of a page.
        self.quiet_pool = ThreadPoolExecutor(
            max(1, settings.dispatch_workers // 2), thread_name_prefix="notice"
        )
        # A sweep claims no more than can be sent well within the lease; when it left rows
        # behind, `on_room` is called as sends finish (the worker sweeps again).
        self.room = 4 * settings.dispatch_workers
        self.on_room: Callable[[], None] | None = None
        self._in_flight: set[int] = set()  # sent or sending, not yet recorded: never sent twice
        self._sending = 0  # sends under way: what a sweep makes room for
        self._backlog = False
        self._count_lock = threading.Lock()
        self._outcomes: queue.SimpleQueue[_Attempt | None] | None = None  # see record_later
        self._recorder: threading.Thread | None = None

    def notifiers(self) -> dict[str, Notifier[Any]]:
        """Every channel, built on first use (the webhook channel needs the keys)."""
        if self._notifiers is None:
            self._notifiers = build_notifiers(self.settings, self.client, self.keys())
        return self._notifiers

    def submit(self, ids: Iterable[int], quiet: bool = False) -> None:
        """Send these notifications now, in the background. `quiet`: they wake nobody (notices,
        reminders), and go by a queue of their own. Pages this process wrote are born claimed by
        it, or for the worker they are handed to (`Database.pages_born_claimed`); otherwise
        each is claimed before it goes."""
        claimed = self.db.pages_born_claimed
        for notification_id in ids:
            self._start(notification_id, claimed, quiet)

    def _start(self, notification_id: int, claimed: bool, quiet: bool) -> None:
        with self._count_lock:
            if notification_id in self._in_flight:
                return  # handed over and swept up at once: one send
            self._in_flight.add(notification_id)
            self._sending += 1
        (self.quiet_pool if quiet else self.pool).submit(self._guarded, notification_id, claimed)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.quiet_pool.shutdown(wait=True, cancel_futures=True)
        if self._outcomes is not None and self._recorder is not None:
            self._outcomes.put(None)  # record what was sent, then stop
            self._recorder.join(timeout=30)

    def _guarded(self, notification_id: int, claimed: bool) -> None:
        label = None
        try:
            with logs.bound(notification_id=notification_id):  # on every line this send logs
                label = self.deliver(notification_id, claimed=claimed, later=True)
        except Exception:  # the sweeper retries once the lease runs out
            log.exception("delivering notification %s failed unexpectedly", notification_id)
        finally:
            with self._count_lock:
                self._sending -= 1
                if label != QUEUED:  # a queued outcome leaves the set once it is recorded
                    self._in_flight.discard(notification_id)
                again = self._backlog
                self._backlog = False
            if again and self.on_room is not None:  # a sweep left rows behind: there is room now
                self.on_room()

    def sweep(self, limit: int = 200, adopt: bool = False) -> int:
        """Claim what is due (new pages of other processes, retries, rows a crash left behind)
        and send it, pages first and notices on their own queue; as much as there is room for.
        `adopt`: also rows claimed by others (the one worker of a SQLite file, as it starts,
        takes the pages handed to it before it listened)."""
        with self._count_lock:
            # Adopting (a worker starting) takes everything handed over at once: up to `limit`.
            room = limit if adopt else min(limit, self.room - self._sending)
        if room <= 0:
            with self._count_lock:
                self._backlog = True
            return 0
        with self.db.session(write=True) as session:
            due = repository.claim_due(session, self.clock(), LEASE, room, adopt)
        if len(due) == room:
            with self._count_lock:
                self._backlog = True
        for notification_id, kind in due:
            self._start(notification_id, True, kind not in PAGING_FIRST)
        return len(due)

    def deliver(self, notification_id: int, claimed: bool = False, later: bool = False) -> str | None:
        """Claim (unless already claimed), send, record. Returns the outcome, None if not ours.
        `later`: the outcome is recorded by the batches of `record_later` (answers `queued`)."""
        cfg = self.config()
        # A page this process already owns needs only a read before it goes out: on SQLite that
        # keeps it from queueing behind the intake writer for the one write lock.
        with self.db.session(write=not claimed) as session:
            now = self.clock()
            if claimed:
                found = repository.with_incident(session, notification_id)
            else:
                found = repository.claim(session, notification_id, now, LEASE)
            if found is None or found[0].status != SENDING:
                return None  # not due, another's, or finished meanwhile by a sweeper
            row, incident = found
            handled = row.kind in WAKING_KINDS and _handled_since(incident, row.created_at)
            channel, attempts, created_at = row.channel, row.attempts, row.created_at
            sent = _Sent(row.incident_id, row.kind, row.recipient)
            error: DeliveryError | None = None
            contact: Contact | None = None
            message: Message | None = None
            if not handled:
                try:
                    contact = contacts.resolve(cfg.oncall, row.contact_ref)
                    message = build_message(cfg, self.settings, row, incident, now, self.keys().links)
                except DeliveryError as exc:
                    error = exc
                except Exception as exc:  # a page we cannot render must fail visibly, not loop
                    log.exception("cannot render notification %s", notification_id)
                    error = DeliveryError(f"cannot render: {exc!r}", retryable=False)
        if handled:
            return self._cancel(notification_id, channel)
        if contact is not None and message is not None:
            try:
                self._send(channel, contact, message)
            except DeliveryError as exc:
                error = exc
            except Exception as exc:  # a channel bug: give up on this page, the fallback takes over
                log.exception("sending notification %s by %s failed", notification_id, channel)
                error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=False)
        if later and self._outcomes is not None:
            self._outcomes.put(_Attempt(notification_id, channel, attempts, created_at, error, sent))
            return QUEUED
        return self._finish(cfg, notification_id, channel, attempts, created_at, error)

    def _cancel(self, notification_id: int, channel: str) -> str:
        """Acknowledged or resolved before the page went out: it goes nowhere."""
        with self.db.session(write=True) as session:
            row = repository.get(session, notification_id)
            if row is not None and row.status == SENDING:
                row.status, row.claimed_until = CANCELLED, None
        metrics.NOTIFICATIONS.labels(channel, "cancelled").inc()
        return "cancelled"

    def _send(self, channel: str, contact: Contact, message: Message) -> None:
        notifier = self.notifiers().get(channel)
        if notifier is None:
            raise DeliveryError(f"unknown channel {channel!r}", retryable=False)
        if contact.type != notifier.channel:
            raise DeliveryError(f"a {contact.type} contact cannot go by {channel}", retryable=False)
        notifier.send(contact, message)

    def _finish(
        self,
        cfg: Catalog,
        notification_id: int,
        channel: str,
        attempts: int,
        created_at: datetime,
        error: DeliveryError | None,
    ) -> str:
        """Record what `outcome.decide` makes of this attempt, in a transaction of its own."""
        attempt = _Attempt(notification_id, channel, attempts, created_at, error)
        with self.db.session(write=True) as session:
            done = self._record(session, cfg, attempt)
        self._recorded(attempt, *done)
        return done[0]

    def _record(self, session: Session, cfg: Catalog, attempt: _Attempt) -> tuple[str, datetime, list[int]]:
        """Write one attempt's outcome: its label, when, and the fallback pages it started."""
        error, channel, attempts = attempt.error, attempt.channel, attempt.attempts
        follow_up: list[int] = []
        failure: Failure | None = None if error is None else RETRYABLE if error.retryable else PERMANENT
        last_error = None if error is None else str(error)[:2000]
        now = self.clock()
        row = repository.get(session, attempt.notification_id)
        assert row is not None
        incident = incidents.find(session, row.incident_id)
        assert incident is not None
        decision = outcome.decide(
            failure,
            kind=row.kind,
            handled=_handled_since(incident, row.created_at),
            attempts=attempts,
            max_attempts=self.settings.page_max_attempts,
            factor=self.jitter(),
        )
        row.last_error, row.claimed_until = last_error, None
        match decision:
            case Delivered():
                row.status, row.delivered_at = DELIVERED, now
                label = "delivered"
                logs.page_delivered(session, row.incident_id, row.id, row.kind, channel)
                if row.kind in WAKING_KINDS:
                    record(
                        session,
                        incident,
                        "notified",
                        SYSTEM_ACTOR,
                        now,
                        f"{row.kind} delivered to {row.recipient} by {channel}",
                        {"notification": row.id, "channel": channel, "recipient": row.recipient},
                    )
            case Cancelled():
                # Handled while this page was in flight: nobody needs it any more.
                row.status, label = CANCELLED, "cancelled"
            case Retry(delay=delay):
                row.status, row.next_attempt_at, label = PENDING, now + delay, "retried"
            case GiveUp(fall_back=fall_back):
                row.status, label = FAILED, "failed"
                logs.page_given_up(session, row.incident_id, row.id, row.kind, channel, attempts, last_error)
                record(
                    session,
                    incident,
                    "page_failed",
                    SYSTEM_ACTOR,
                    now,
                    f"gave up on {row.kind} to {row.recipient} by {channel} after {attempts} "
                    f"attempt(s): {error}",
                    {"notification": row.id, "channel": channel, "recipient": row.recipient},
                )
                if fall_back:
                    extra = service.fallback(session, cfg.oncall, row, incident, now)
                    session.flush()
                    follow_up = [n.id for n in extra]
            case _:
                assert_never(decision)
        return label, now, follow_up

    def _recorded(self, attempt: _Attempt, label: str, now: datetime, follow_up: list[int]) -> None:
        """After the outcome is committed: count it, log a failure, send the fallback pages."""
        metrics.NOTIFICATIONS.labels(attempt.channel, label).inc()
        if label == "delivered":
            seconds = max(0.0, (now - attempt.created_at).total_seconds())
            metrics.DELIVERY_SECONDS.labels(attempt.channel).observe(seconds)
        elif attempt.error is not None and label != "failed":  # a give-up has its line (`_record`)
            log.warning(
                "notification %s by %s %s: %s", attempt.notification_id, attempt.channel, label, attempt.error
            )
        self.submit(follow_up)

    def record_later(self) -> None:
        """Record the outcomes of this dispatcher's sends in batches, on a thread of their own,
        so the next sends never wait for the database's write lock (the worker on SQLite)."""
        self._outcomes = queue.SimpleQueue()
        self._recorder = threading.Thread(target=self._record_batches, name="outcomes", daemon=True)
        self._recorder.start()

    def _record_delivered(self, session: Session, delivered: list[_Attempt]) -> datetime:
        """Deliveries need no decision: a few bulk statements record them all, so the write
        lock is held for as short a time as can be."""
        now = self.clock()
        repository.mark_delivered(session, [a.notification_id for a in delivered], now)
        lines = []
        for a in delivered:
            assert a.sent is not None
            logs.page_delivered(session, a.sent.incident_id, a.notification_id, a.sent.kind, a.channel)
            if a.sent.kind in WAKING_KINDS:
                lines.append(
                    incidents.line(
                        a.sent.incident_id,
                        "notified",
                        SYSTEM_ACTOR,
                        now,
                        f"{a.sent.kind} delivered to {a.sent.recipient} by {a.channel}",
                        {
                            "notification": a.notification_id,
                            "channel": a.channel,
                            "recipient": a.sent.recipient,
                        },
                    )
                )
        incidents.add_lines(session, lines)
        return now

    def _record_batches(self) -> None:
        assert self._outcomes is not None
        stop = False
        while not stop:
            batch: list[_Attempt] = []
            first = self._outcomes.get()
            stop = first is None
            if not stop:
                time.sleep(RECORD_LINGER)  # let a few more sends finish: one transaction for them
            if first is not None:
                batch.append(first)
            while len(batch) < 200 and not stop:
                try:
                    more = self._outcomes.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    batch.append(more)
            if not batch:
                continue
            delivered = [a for a in batch if a.error is None and a.sent is not None]
            others = [a for a in batch if a.error is not None or a.sent is None]
            # In incident order: two workers recording at once lock incidents in one order.
            others.sort(key=lambda a: (a.sent.incident_id if a.sent else 0, a.notification_id))
            for attempt_no in range(1, RECORD_TRIES + 1):
                try:
                    cfg = self.config()
                    with self.db.session(write=True) as session:
                        now = self._record_delivered(session, delivered)
                        done = [self._record(session, cfg, attempt) for attempt in others]
                    break
                except DBAPIError as exc:  # a deadlock with another worker: try again
                    if attempt_no < RECORD_TRIES and _conflict(exc):
                        log.info("recording outcomes conflicted with another writer, again: %s", exc.orig)
                        continue
                    log.exception("could not record the outcome of %d sends", len(batch))
                except Exception:  # the rows stay claimed; once the claim runs out they are resent
                    log.exception("could not record the outcome of %d sends", len(batch))
                delivered, others, done = [], [], []
                break
            for attempt in delivered:
                self._recorded(attempt, "delivered", now, [])
            for attempt, outcome_of in zip(others, done, strict=True):
                self._recorded(attempt, *outcome_of)
            with self._count_lock:
                self._in_flight.difference_update(attempt.notification_id for attempt in batch)
