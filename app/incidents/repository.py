"""All SQL of the incidents domain."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Table,
    any_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app import deferred
from app.db import (
    UTCDateTime,
    any_of,
    insert_tracked,
    json_insert,
    json_rows,
    newest_for_each,
    newest_for_each_sqlite,
    on_postgresql,
    track,
)
from app.incidents import counters
from app.models import (
    Alert,
    HarmAssessment,
    Incident,
    IncidentAccess,
    IncidentEvent,
    IncidentLink,
    Notification,
)
from app.vocabulary import OPEN_STATUSES


def lock_keys(session: Session, keys: Iterable[str]) -> None:
    """Serialize work on these incident keys across replicas (PostgreSQL advisory locks).

    SQLite needs nothing: the writer's BEGIN IMMEDIATE already holds the database write lock.
    Locks are taken in one sorted order so two replicas cannot deadlock on them.
    """
    keys = list(keys)
    counters.hold(session, keys)
    if not on_postgresql(session):
        return
    ids = sorted(
        {
            int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "big", signed=True)
            for k in keys
        }
    )
    if ids:
        with deferred.pipeline(session):  # with psycopg's BEGIN: one round trip for both
            deferred.execute(session, _LOCK, {"ids": ids})


_LOCK = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM "
    "(SELECT unnest(CAST(:ids AS bigint[])) AS k ORDER BY 1) AS ordered"
)


_UNREAD = ("labels", "runbook")  # JSON columns intake never reads of existing incidents


_BY_IDS = select(Incident).where(Incident.id.in_(bindparam("ids", expanding=True)))
_BY_IDS_PG = select(Incident).where(Incident.id == any_(any_of("ids", Integer)))


# Each key's newest incident is one backward step on the (key, id) index, however many incidents
# it had (`db.newest_for_each`, `db.newest_for_each_sqlite`); the max(id) ... GROUP BY key form
# read every incident of a key. Its rows as plain columns, for a read that travels in a pipeline
# (`latest_by_key_ahead`), and as incidents, the columns left out unloaded until read.
_AHEAD = [c for c in Incident.__table__.c if c.name not in _UNREAD]
_NEWEST_ROWS_PG = newest_for_each("keys", Incident.key, Incident.id, _AHEAD)
_AHEAD_NAMES = deferred.attribute_names(Incident, select(*_AHEAD))
_NEWEST_BY_KEY_PG = select(Incident).from_statement(_NEWEST_ROWS_PG)
_INCIDENTS: Table = Incident.__table__  # type: ignore[assignment]  # a declared class maps one Table
_NEWEST_BY_KEY = select(Incident).from_statement(
    newest_for_each_sqlite("keys", _INCIDENTS.c.key, _INCIDENTS.c.id, _AHEAD)
)


def latest_by_key_ahead(
    session: Session, keys: Sequence[str]
) -> Callable[[Iterable[str]], dict[str, Incident]] | None:
    """Inside a pipeline on PostgreSQL: send the read of each key's newest incident there, before
    knowing which of them the batch needs. What this returns gives those asked for, tracked as
    loaded; it is good for as long as the keys' lock is held. None elsewhere: use
    `latest_by_key`."""
    if not keys or not deferred.in_pipeline(session):
        return None
    found = deferred.read(session, _NEWEST_ROWS_PG, {"keys": list(dict.fromkeys(keys))})

    def take(wanted: Iterable[str]) -> dict[str, Incident]:
        asked = set(wanted)
        rows = (dict(zip(_AHEAD_NAMES, r, strict=True)) for r in found.rows())
        return {v["key"]: track(session, Incident, v) for v in rows if v["key"] in asked}

    return take


def latest_by_key(session: Session, keys: Sequence[str]) -> dict[str, Incident]:
    """For each key, its newest incident: the open one if any, else the last resolved."""
    if not keys:
        return {}
    query = _NEWEST_BY_KEY_PG if on_postgresql(session) else _NEWEST_BY_KEY
    rows = session.scalars(query, {"keys": list(dict.fromkeys(keys))})
    return {row.key: row for row in rows}


def by_ids(session: Session, ids: Iterable[int]) -> dict[int, Incident]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    query = _BY_IDS_PG if on_postgresql(session) else _BY_IDS
    return {row.id: row for row in session.scalars(query, {"ids": wanted})}


def insert_incident(session: Session, values: dict[str, Any]) -> Incident:
    """Insert one incident row at once (alerts and pages need its id) and track it."""
    # Insert this row alone: a full flush here would also push every pending change of the
    # batch, in many small round trips instead of one at the end.
    return insert_tracked(session, Incident, values)


def get_for_update(session: Session, incident_id: int) -> Incident | None:
    return session.scalars(select(Incident).where(Incident.id == incident_id).with_for_update()).first()


def get(session: Session, incident_id: int) -> Incident | None:
    return session.get(Incident, incident_id)


@dataclass(frozen=True)
class IncidentFilter:
    status: str | None = None
    severity: str | None = None
    type: str | None = None
    model: str | None = None


def _filtered(query: Select[Incident], f: IncidentFilter) -> Select[Incident]:
    if f.status == "open":
        query = query.where(Incident.status.in_(OPEN_STATUSES))
    elif f.status:
        query = query.where(Incident.status == f.status)
    if f.severity:
        query = query.where(Incident.severity == f.severity)
    if f.type:
        query = query.where(Incident.type == f.type)
    if f.model:
        query = query.where(Incident.model == f.model)
    return query


# The people working an incident: each of them sees it even when it is restricted.
RESPONDER_COLUMNS = (
    Incident.owner,
    Incident.lead,
    Incident.comms_lead,
    Incident.reviewer,
    Incident.acknowledged_by,
    Incident.resolved_by,
    Incident.reported_by,
)


def visible_to(person: str) -> ColumnElement[bool]:
    """Incidents `person` may see: unrestricted ones, and restricted ones they work on, were
    paged for or were granted access to (EXISTS subqueries, correlated on the incident)."""
    paged = exists().where(Notification.incident_id == Incident.id, Notification.recipient == person)
    invited = exists().where(IncidentAccess.incident_id == Incident.id, IncidentAccess.person == person)
    return or_(
        Incident.restricted.is_(False), *(column == person for column in RESPONDER_COLUMNS), paged, invited
    )


def is_visible(session: Session, incident_id: int, person: str) -> bool:
    found = session.scalar(select(Incident.id).where(Incident.id == incident_id, visible_to(person)))
    return found is not None


def add_access(session: Session, incident_id: int, person: str, by: str, now: datetime) -> bool:
    """Grant `person` access unless they have it; True when it was new (unique per person)."""
    values = dict(incident_id=incident_id, person=person, granted_by=by, granted_at=now)
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        maker(IncidentAccess)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["incident_id", "person"])
    )
    result = session.execute(statement.returning(IncidentAccess.id))
    return result.first() is not None


def access_of(session: Session, incident_id: int) -> list[IncidentAccess]:
    return list(
        session.scalars(
            select(IncidentAccess)
            .where(IncidentAccess.incident_id == incident_id)
            .order_by(IncidentAccess.id)
        )
    )


def search(
    session: Session, f: IncidentFilter, limit: int, offset: int, viewer_person: str | None = None
) -> tuple[list[Incident], int]:
    """A page of incidents, newest first, and the total that match.

    With `viewer_person`, only the incidents that person may see (None: everything).
    """
    base = _filtered(select(Incident), f)
    if viewer_person is not None:
        base = base.where(visible_to(viewer_person))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


def key_events(session: Session, incident_id: int, kinds: Iterable[str], limit: int) -> list[IncidentEvent]:
    """The first `limit` entries of these kinds, or starred, not hidden, oldest first: bounded
    however many alerts the incident saw."""
    return list(
        session.scalars(
            select(IncidentEvent)
            .where(
                IncidentEvent.incident_id == incident_id,
                IncidentEvent.hidden.is_(False),
                IncidentEvent.kind.in_(list(kinds)) | IncidentEvent.starred.is_(True),
            )
            .order_by(IncidentEvent.at, IncidentEvent.id)
            .limit(limit)
        )
    )


def count_open(session: Session) -> list[tuple[tuple[str, ...], float]]:
    """((type, severity, status), count) of open incidents: the source of the open gauge."""
    rows = session.execute(
        select(Incident.type, Incident.severity, Incident.status, func.count())
        .where(Incident.status.in_(OPEN_STATUSES))
        .group_by(Incident.type, Incident.severity, Incident.status)
    )
    return [((t, s, st), float(n)) for t, s, st, n in rows]


def open_counts_by_model(session: Session) -> dict[str, int]:
    """Open incidents per model."""
    rows = session.execute(
        select(Incident.model, func.count())
        .where(Incident.status.in_(OPEN_STATUSES), Incident.model.is_not(None))
        .group_by(Incident.model)
    )
    return {str(model): int(n) for model, n in rows}


def count_unowned_open(session: Session) -> list[tuple[tuple[str, ...], float]]:
    rows = session.execute(
        select(Incident.type, Incident.severity, func.count())
        .where(Incident.status.in_(OPEN_STATUSES), Incident.unowned.is_(True))
        .group_by(Incident.type, Incident.severity)
    )
    return [((t, s), float(n)) for t, s, n in rows]


def event_of(session: Session, incident_id: int, event_id: int) -> IncidentEvent | None:
    return session.scalars(
        select(IncidentEvent).where(IncidentEvent.id == event_id, IncidentEvent.incident_id == incident_id)
    ).first()


def add_link(
    session: Session, incident_id: int, other_id: int, relation: str, by: str, now: datetime
) -> bool:
    """Insert the link unless it exists; True when it was new."""
    exists = session.scalar(
        select(func.count())
        .select_from(IncidentLink)
        .where(
            IncidentLink.incident_id == incident_id,
            IncidentLink.other_id == other_id,
            IncidentLink.relation == relation,
        )
    )
    if exists:
        return False
    session.add(
        IncidentLink(
            incident_id=incident_id, other_id=other_id, relation=relation, created_at=now, created_by=by
        )
    )
    return True


def links_of(session: Session, incident_id: int) -> list[IncidentLink]:
    """Links from or to this incident, oldest first."""
    return list(
        session.scalars(
            select(IncidentLink)
            .where(or_(IncidentLink.incident_id == incident_id, IncidentLink.other_id == incident_id))
            .order_by(IncidentLink.id)
        )
    )


def duplicates_of(session: Session, incident_id: int) -> list[int]:
    """Incidents folded into this one."""
    return list(session.scalars(select(Incident.id).where(Incident.duplicate_of == incident_id)))


def due_snoozes(session: Session, now: datetime, limit: int) -> list[Incident]:
    """Acknowledged incidents whose snooze ran out (SKIP LOCKED: replicas take different ones)."""
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.snoozed_until.is_not(None), Incident.snoozed_until <= now)
            .order_by(Incident.snoozed_until)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def with_runbook(
    session: Session, runbook_id: str, visible: ColumnElement[bool], limit: int
) -> list[Incident]:
    """The newest incidents that got this runbook, among those `visible` lets through."""
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.runbook["id"].as_string() == runbook_id, visible)
            .order_by(Incident.opened_at.desc(), Incident.id.desc())
            .limit(limit)
        )
    )


def harm_versions(session: Session, incident_id: int) -> list[HarmAssessment]:
    """Every version of an incident's harm assessment, oldest first."""
    return list(
        session.scalars(
            select(HarmAssessment)
            .where(HarmAssessment.incident_id == incident_id)
            .order_by(HarmAssessment.version)
        )
    )


_HARM_NOW = (
    select(*deferred.columns(HarmAssessment))
    .where(HarmAssessment.__table__.c.incident_id == bindparam("incident_id"))
    .order_by(HarmAssessment.__table__.c.version.desc())
    .limit(1)
)


def current_harm_ahead(session: Session, incident_id: int) -> Callable[[], HarmAssessment | None]:
    """The newest version of the incident's harm assessment (None: never assessed), its read sent
    in the pipeline open (if any); the row once it has ended."""
    found = deferred.read_rows(session, HarmAssessment, _HARM_NOW, {"incident_id": incident_id})
    return lambda: next(iter(found()), None)


def last_harm_version(session: Session, incident_id: int) -> int:
    found = session.scalar(
        select(func.max(HarmAssessment.version)).where(HarmAssessment.incident_id == incident_id)
    )
    return int(found or 0)


def events_of_kind(
    session: Session, incident_id: int, kinds: Sequence[str], limit: int = 20
) -> list[IncidentEvent]:
    """The newest timeline entries of these kinds, oldest first."""
    rows = session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id, IncidentEvent.kind.in_(kinds))
        .order_by(IncidentEvent.at.desc(), IncidentEvent.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


# --- an incident's alerts and timeline, a page at a time ----------------------------------------


def _alerts_below(incident_id: int, before_id: int | None) -> ColumnElement[bool]:
    of_incident = Alert.incident_id == incident_id
    return of_incident if before_id is None else of_incident & (Alert.id < before_id)


def alerts_newest_first(
    session: Session, incident_ids: Sequence[int], before_id: int | None, limit: int
) -> list[Alert]:
    """Up to `limit` alerts of these incidents with an id below `before_id`, newest first.

    Each incident is one range of the (incident_id, id) index read from its newest end, so
    a page costs `limit` rows however many alerts there are.
    """
    newest = Alert.id.desc()
    if len(incident_ids) == 1:
        query = select(Alert).where(_alerts_below(incident_ids[0], before_id))
        return list(session.scalars(query.order_by(newest).limit(limit)))
    parts = [
        select(Alert.id).where(_alerts_below(i, before_id)).order_by(newest).limit(limit).subquery()
        for i in incident_ids
    ]
    candidates = union_all(*(select(part.c.id) for part in parts)).subquery()
    query = select(Alert).where(Alert.id.in_(select(candidates.c.id)))
    return list(session.scalars(query.order_by(newest).limit(limit)))


def count_alerts(session: Session, incident_ids: Sequence[int]) -> int:
    query = select(func.count()).select_from(Alert).where(Alert.incident_id.in_(incident_ids))
    return int(session.scalar(query) or 0)


def _events_of(incident_id: int, hidden: bool | None) -> ColumnElement[bool]:
    of_incident = IncidentEvent.incident_id == incident_id
    return of_incident if hidden is None else of_incident & IncidentEvent.hidden.is_(hidden)


def events_newest_first(
    session: Session,
    incident_id: int,
    before: tuple[datetime, int] | None,
    limit: int,
    hidden: bool | None = None,
) -> list[IncidentEvent]:
    """Up to `limit` timeline entries before (at, id) `before`, newest first (by time, then id);
    only hidden ones or only the others when `hidden` says so."""
    query = select(IncidentEvent).where(_events_of(incident_id, hidden))
    if before is not None:
        at, event_id = before
        # A row comparison: both databases read it as one range of the (incident_id, at, id) index.
        below = tuple_(literal(at, UTCDateTime()), literal(event_id, Integer()))
        query = query.where(tuple_(IncidentEvent.at, IncidentEvent.id) < below)
    query = query.order_by(IncidentEvent.at.desc(), IncidentEvent.id.desc()).limit(limit)
    return list(session.scalars(query))


def count_events(session: Session, incident_id: int, hidden: bool | None = None) -> int:
    query = select(func.count()).select_from(IncidentEvent).where(_events_of(incident_id, hidden))
    return int(session.scalar(query) or 0)


def insert_events(session: Session, lines: Sequence[dict[str, Any]], at_commit: bool = False) -> None:
    """Timeline lines in one statement (the columns of IncidentEvent but id); `at_commit`: with
    the commit's deferred writes."""
    if on_postgresql(session):  # one statement text whatever the number of lines, no RETURNING
        deferred.write(session, _EVENTS_PG, {"rows": json_rows(lines, _EVENT)}, at_commit=at_commit)
    else:
        deferred.write(session, insert(IncidentEvent.__table__), list(lines), at_commit=at_commit)  # type: ignore[arg-type]


_EVENT = tuple(c.name for c in IncidentEvent.__table__.columns if c.name != "id")
_EVENTS_PG = json_insert(IncidentEvent.__table__, _EVENT, returning=False)  # type: ignore[arg-type]


def touch(session: Session, incident_ids: Iterable[int], at: datetime) -> None:
    """Mark these incidents as changed at `at` (never back in time)."""
    session.execute(
        update(Incident)
        .where(Incident.id.in_(list(incident_ids)), Incident.updated_at < at)
        .values(updated_at=at)
        .execution_options(synchronize_session=False)
    )
