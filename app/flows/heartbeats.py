"""Heartbeats, a dead man's switch: beats from senders and from always-firing alerts, and the
check that opens an incident for a heartbeat silent past its interval (paged like any other)
and resolves it once the heartbeat beats again.

The check is a scheduled job: it reads every heartbeat's state, then acts on each that needs it
in a transaction of its own that claims the heartbeat's row and the incident key, so two
replicas never open two incidents for one silence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.alerts.schemas import AlertIn
from app.catalog.loader import Catalog
from app.communications.facts import Known
from app.communications.service import Context
from app.db import Database, is_unavailable, utcnow
from app.errors import NotFound, Unavailable
from app.flows import reviews
from app.flows.communications import follow, follow_new
from app.flows.intake import runbook_ref
from app.flows.opening import Send
from app.heartbeats import service as heartbeats
from app.heartbeats.config import Heartbeat, HeartbeatsConfig
from app.heartbeats.schemas import HeartbeatRead
from app.incidents import metrics as incident_metrics
from app.incidents import service as incidents
from app.incidents.service import SYSTEM_ACTOR
from app.models import Heartbeat as HeartbeatRow
from app.models import Incident, Notification
from app.paging import service as paging
from app.rules.engine import DEFAULT_REOPEN_WINDOW, Classification
from app.vocabulary import FIRING, RESOLVE

log = logging.getLogger(__name__)
TYPE = "technical_failure"  # a heartbeat watches the pipeline that brings the alerts


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


# --- beats -----------------------------------------------------------------------------------


def split(config: HeartbeatsConfig, alerts: Sequence[AlertIn]) -> tuple[list[str], list[AlertIn]]:
    """The heartbeats these alerts beat, and the alerts left for the intake, in their order.

    An alert a heartbeat matches never opens an incident: firing, it is a beat; resolved, it
    only says its sender stopped, and the silence that follows is what the check notices.
    """
    beaten: dict[str, None] = {}
    rest: list[AlertIn] = []
    for alert in alerts:
        matched = [h.name for h in config.fed_by_alerts if h.matches(alert.labels)]
        if not matched:
            rest.append(alert)
        elif alert.status == FIRING:
            beaten.update(dict.fromkeys(matched))
    return list(beaten), rest


def record_beats(db: Database, names: Sequence[str], now: datetime) -> None:
    """Commit these beats in a small transaction of their own (503 when the database cannot)."""
    try:
        with db.session(write=True) as session:
            heartbeats.beat(session, names, now)
    except DBAPIError as exc:
        if not is_unavailable(exc):
            log.exception("could not record the beats of %s", ", ".join(names))
        raise Unavailable("the database could not take the beat; retry later") from None


def beat(db: Database, catalog: Catalog, name: str, now: datetime) -> HeartbeatRead:
    """One beat of a declared heartbeat, committed; 404 for a name the rules do not declare."""
    heartbeat = catalog.heartbeats.get(name)
    if heartbeat is None:
        raise NotFound(f"no heartbeat named {name[:120]!r} is declared in the rules directory")
    record_beats(db, [name], now)
    with db.session() as session:
        return heartbeats.read_one(session, heartbeat, now)


def status(db: Database, catalog: Catalog, now: datetime) -> list[HeartbeatRead]:
    """Every declared heartbeat and where it stands."""
    declared = catalog.heartbeats.heartbeats
    with db.session() as session:
        rows = heartbeats.states(session) if declared else {}
    return [heartbeats.read(h, rows.get(h.name), now) for h in declared]


# --- the check -------------------------------------------------------------------------------


def check(
    db: Database,
    catalog: Callable[[], Catalog],
    public_url: str,
    send: Send,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Open an incident for each heartbeat silent past its interval; resolve it once it beats
    again. Returns how many incidents opened, reopened or resolved."""
    cfg = catalog()
    declared = cfg.heartbeats.heartbeats
    if not declared:
        return 0
    now = clock()
    with db.session() as session:
        rows = heartbeats.states(session)
    missing = [h.name for h in declared if h.name not in rows]
    if missing:  # known from now on; armed by their first beat, so nothing to act on yet
        with db.session(write=True) as session:
            heartbeats.declare(session, missing, now)
    changed = 0
    for heartbeat in declared:
        if heartbeats.needed(heartbeat, rows.get(heartbeat.name), now) is not None:
            changed += _settle(db, cfg, public_url, send, heartbeat, now)
    return changed


def _settle(
    db: Database, cfg: Catalog, public_url: str, send: Send, heartbeat: Heartbeat, now: datetime
) -> int:
    """Act on one heartbeat in a transaction of its own; the pages go after the commit."""
    done: tuple[str, Incident] | None = None  # what happened to which incident
    ids: list[int] = []
    try:
        with db.session(write=True) as session:
            row = heartbeats.claim(session, heartbeat.name)
            action = heartbeats.needed(heartbeat, row, now)  # again, on the claimed row
            if row is None or action is None:
                return 0
            ctx = Context(cfg, public_url)
            if action == "open":
                opened, how, pages = _silent(session, ctx, heartbeat, row, now)
                row.incident_id = opened.id
                done = (how, opened) if how else None
            else:
                resolved, pages = _beating_again(session, ctx, heartbeat, row, now)
                row.incident_id = None
                done = ("resolved", resolved) if resolved is not None else None
            session.flush()
            ids = [p.id for p in pages]
    except Exception:  # logged; the next check tries again, nothing is lost
        log.exception("heartbeat check: %s failed", heartbeat.name)
        return 0
    if done is not None:
        log.info("heartbeat %s: incident %s %s", heartbeat.name, done[1].id, done[0])
        _count(*done)
    if send is not None and ids:
        send(ids)
    return 1 if done is not None else 0


def _count(how: str, incident: Incident) -> None:
    labels = (incident.type, incident.severity)
    if how == "opened":
        incident_metrics.INCIDENTS_OPENED.labels(*labels).inc()
    elif how == "reopened":
        incident_metrics.INCIDENTS_REOPENED.labels(*labels).inc()
    elif how == "resolved":
        incident_metrics.INCIDENTS_RESOLVED.labels(*labels, "heartbeat").inc()


def _silent(
    session: Session, ctx: Context, heartbeat: Heartbeat, row: HeartbeatRow, now: datetime
) -> tuple[Incident, str, list[Notification]]:
    """The silence's incident: a new one, the last one reopened (a flap), or the open one."""
    incidents.lock_keys(session, [heartbeat.key])
    latest = incidents.latest_by_key(session, [heartbeat.key]).get(heartbeat.key)
    if latest is not None and latest.is_open:  # already open for this key: this silence is its own
        return latest, "", []
    since = heartbeats.since(row)
    message = (
        f"heartbeat {heartbeat.name!r} is silent: no beat since {_at(since)}; "
        f"it should beat at least every {heartbeats.spoken(heartbeat.interval)}"
    )
    data = {
        "heartbeat": heartbeat.name,
        "since": since.isoformat(),
        "interval_s": heartbeat.interval.total_seconds(),
    }
    if incidents.reopens(latest, DEFAULT_REOPEN_WINDOW, now):
        incidents.reopen(session, latest, SYSTEM_ACTOR, now)
        incidents.record(session, latest, "heartbeat_silent", SYSTEM_ACTOR, now, message, data)
        pages = paging.on_reopened(session, ctx.catalog.oncall, latest, now)
        return latest, "reopened", pages + follow(session, ctx, latest, now)
    incident = _open(session, ctx, heartbeat, since, now)
    incidents.record(session, incident, "heartbeat_silent", SYSTEM_ACTOR, now, message, data)
    oncall = ctx.catalog.oncall
    policy_id = heartbeat.escalation_policy or oncall.default_policy
    policy = oncall.policies.get(policy_id) if policy_id else None
    # Not about a model: nobody owns it but the policy that pages for it.
    incidents.assign(session, incident, None, None, policy.id if policy else None, unowned=False)
    pages = paging.start_paging(session, oncall, incident, policy, now)
    known = Known(paged=frozenset(p.recipient for p in pages))
    return incident, "opened", pages + follow_new(session, ctx, incident, now, known)


def _open(session: Session, ctx: Context, heartbeat: Heartbeat, since: datetime, now: datetime) -> Incident:
    c = Classification(
        rule=heartbeat.key,
        type=TYPE,
        severity=heartbeat.severity,
        key=heartbeat.key,
        group_labels={"heartbeat": heartbeat.name},
        runbook=heartbeat.runbook,
        auto_resolve=True,
        reopen_window=DEFAULT_REOPEN_WINDOW,
    )
    summary = (
        f"Heartbeat {heartbeat.name} is silent: no beat for over {heartbeats.spoken(heartbeat.interval)}"
    )
    return incidents.open_incident(
        session,
        c,
        {"heartbeat": heartbeat.name},
        {"summary": summary},
        runbook_ref(ctx.catalog, c, {}, ctx.public_url),
        SYSTEM_ACTOR,
        now,
        since,  # the pipeline may have broken any time after the last beat
        restricted=incidents.restricted_by_default(ctx.catalog.workspace, TYPE),
    )


def _beating_again(
    session: Session, ctx: Context, heartbeat: Heartbeat, row: HeartbeatRow, now: datetime
) -> tuple[Incident | None, list[Notification]]:
    """Resolve the silence's incident (unless a person already did), as a person's resolve does."""
    assert row.incident_id is not None
    incident = incidents.get_for_update(session, row.incident_id)
    if incident is None or not incident.is_open:
        return None, []
    last = row.last_beat_at or now
    note = f"heartbeat {heartbeat.name!r} beat again at {_at(last)}: resolved"
    incidents.act(session, incident.id, RESOLVE, SYSTEM_ACTOR, note, now)
    pages = paging.after_action(session, incident, RESOLVE, now)
    pages += follow(session, ctx, incident, now)
    pages += reviews.on_resolved(session, ctx.catalog, incident, now)
    return incident, pages
