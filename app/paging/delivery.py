"""Sending pages: right after commit, and again by the sweeper until delivered or given up.

Each send claims its row first (a conditional UPDATE, or SKIP LOCKED in the sweeper), so two
replicas never send one page twice; a sender that dies mid-send loses its lease and the row
is taken over. Receivers can dedupe on the delivery id for that one at-least-once case.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.catalog.loader import Catalog as Config
from app.config import Settings
from app.db import Database, utcnow
from app.durations import parse_duration
from app.incidents.service import SYSTEM_ACTOR, record
from app.models import Incident, Notification
from app.paging import metrics, repository, service
from app.paging.links import links_for
from app.paging.message import DeliveryError, Message
from app.paging.notifiers import email, pagerduty, slack, webhook
from app.paging.repository import LEASE
from app.vocabulary import CANCELLED, DELIVERED, FAILED, PENDING, SENDING, WAKING_KINDS

PAGING_KINDS = WAKING_KINDS

log = logging.getLogger(__name__)
BACKOFF = (5, 15, 30, 60, 120, 300, 600, 900)  # seconds, then the last one again


def backoff(attempt: int) -> timedelta:
    """Delay before attempt `attempt + 1`, with +-10% jitter so replicas do not stampede."""
    base = BACKOFF[min(attempt, len(BACKOFF)) - 1]
    return timedelta(seconds=base * random.uniform(0.9, 1.1))


def build_message(
    cfg: Config, settings: Settings, row: Notification, incident: Incident, now: datetime
) -> Message:
    runbook = incident.runbook or {}
    book = cfg.runbooks.get(runbook.get("id") or "")
    links = links_for(
        settings.public_url,
        settings.secret_key,
        incident.id,
        row.recipient,
        now,
        parse_duration(settings.link_ttl),
    )
    note = ""
    if row.kind == "fallback":
        note = f"A page to the on-call engineer could not be delivered (step {(row.step or 0) + 1})."
    elif row.kind == "severity":
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
        runbook_url=runbook.get("url"),
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


class Dispatcher:
    """Delivers notifications on a small thread pool, never on the request or intake path."""

    def __init__(
        self,
        db: Database,
        config: Callable[[], Config],
        settings: Settings,
        client: httpx.Client,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.config, self.settings, self.client, self.clock = db, config, settings, client, clock
        self.smtp = email.SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            use_ssl=settings.smtp_ssl,
            timeout=settings.outbound_timeout_seconds,
        )
        self.pool = ThreadPoolExecutor(settings.dispatch_workers, thread_name_prefix="page")

    def submit(self, ids: Iterable[int]) -> None:
        """Send these notifications now, in the background; they are claimed by this process."""
        for notification_id in ids:
            self.pool.submit(self._guarded, notification_id, True)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _guarded(self, notification_id: int, claimed: bool) -> None:
        try:
            self.deliver(notification_id, claimed=claimed)
        except Exception:  # the sweeper retries once the lease runs out
            log.exception("delivering notification %s failed unexpectedly", notification_id)

    def sweep(self, limit: int = 200) -> int:
        """Claim everything due (retries, and rows a crash left behind) and send it."""
        with self.db.session(write=True) as session:
            ids = repository.claim_due(session, self.clock(), LEASE, limit)
        self.submit(ids)
        return len(ids)

    def deliver(self, notification_id: int, claimed: bool = False) -> str | None:
        """Claim (unless already claimed), send, record. Returns the outcome, None if not ours."""
        cfg = self.config()
        # A page this process already owns needs only a read before it goes out: on SQLite that
        # keeps it from queueing behind the intake writer for the one write lock.
        with self.db.session(write=not claimed) as session:
            now = self.clock()
            if claimed:
                row = session.get(Notification, notification_id)
                if row is None or row.status != SENDING:
                    return None  # finished meanwhile by a sweeper that took over an expired lease
            else:
                row = repository.claim(session, notification_id, now, LEASE)
            if row is None:
                return None
            incident = session.get(Incident, row.incident_id)
            assert incident is not None
            handled = row.kind in PAGING_KINDS and _handled_since(incident, row.created_at)
            channel, contact = row.channel, dict(row.contact)
            attempts, created_at = row.attempts, row.created_at
            error: DeliveryError | None = None
            message: Message | None = None
            try:
                if not handled:
                    message = build_message(cfg, self.settings, row, incident, now)
            except Exception as exc:  # a page we cannot render must fail visibly, not loop
                log.exception("cannot render notification %s", notification_id)
                message, error = None, DeliveryError(f"cannot render: {exc!r}", retryable=False)
        if handled:
            return self._cancel(notification_id, channel)
        if message is not None:
            try:
                self._send(channel, contact, message)
            except DeliveryError as exc:
                error = exc
            except Exception as exc:  # a channel bug: give up on this page, the fallback takes over
                log.exception("sending notification %s by %s failed", notification_id, channel)
                error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=False)
        return self._finish(cfg, notification_id, channel, attempts, created_at, error)

    def _cancel(self, notification_id: int, channel: str) -> str:
        """Acknowledged or resolved before the page went out: it goes nowhere."""
        with self.db.session(write=True) as session:
            row = session.get(Notification, notification_id)
            if row is not None and row.status == SENDING:
                row.status, row.claimed_until = CANCELLED, None
        metrics.NOTIFICATIONS.labels(channel, "cancelled").inc()
        return "cancelled"

    def _send(self, channel: str, contact: dict[str, Any], message: Message) -> None:
        if channel == "email":
            email.send(self.smtp, contact, message)
        elif channel == "webhook":
            webhook.send(self.client, contact, message, self.settings.secret_key)
        elif channel == "slack":
            slack.send(self.client, contact, message)
        elif channel == "pagerduty":
            pagerduty.send(self.client, contact, message, self.settings.pagerduty_events_url)
        else:
            raise DeliveryError(f"unknown channel {channel!r}", retryable=False)

    def _finish(
        self,
        cfg: Config,
        notification_id: int,
        channel: str,
        attempts: int,
        created_at: datetime,
        error: DeliveryError | None,
    ) -> str:
        follow_up: list[int] = []
        with self.db.session(write=True) as session:
            now = self.clock()
            row = session.get(Notification, notification_id)
            assert row is not None
            incident = session.get(Incident, row.incident_id)
            assert incident is not None
            if error is None:
                row.status, row.delivered_at, row.last_error, row.claimed_until = DELIVERED, now, None, None
                outcome = "delivered"
                if row.kind in ("page", "severity", "fallback"):
                    record(
                        session,
                        incident,
                        "notified",
                        SYSTEM_ACTOR,
                        now,
                        f"{row.kind} delivered to {row.recipient} by {channel}",
                        {"notification": row.id, "channel": channel, "recipient": row.recipient},
                    )
            elif row.kind in PAGING_KINDS and _handled_since(incident, row.created_at):
                # Handled while this page was in flight: nobody needs it any more.
                row.status, row.last_error, row.claimed_until = CANCELLED, str(error)[:2000], None
                outcome = "cancelled"
            elif error.retryable and attempts < self.settings.page_max_attempts:
                row.status, row.last_error, row.claimed_until = PENDING, str(error)[:2000], None
                row.next_attempt_at = now + backoff(attempts)
                outcome = "retried"
            else:
                row.status, row.last_error, row.claimed_until = FAILED, str(error)[:2000], None
                outcome = "failed"
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
                extra = service.fallback(session, cfg.oncall, row, incident, now)
                session.flush()
                follow_up = [n.id for n in extra]
        metrics.NOTIFICATIONS.labels(channel, outcome).inc()
        if outcome == "delivered":
            metrics.DELIVERY_SECONDS.labels(channel).observe(max(0.0, (now - created_at).total_seconds()))
        elif error is not None:
            log.warning("notification %s by %s %s: %s", notification_id, channel, outcome, error)
        self.submit(follow_up)
        return outcome
