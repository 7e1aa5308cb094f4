"""SQL of the communications domain: notices, obligations and recorded moments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import BindParameter

from app import deferred
from app.db import insert_tracked_many
from app.models import Communication, IncidentMoment, Obligation
from app.vocabulary import EU_AI_ACT_ART73, OPEN, UNSENT_STATUSES


def communications(session: Session, incident_id: int) -> list[Communication]:
    """Every notice of the incident, due first."""
    return communications_ahead(session, incident_id)()


# The reads of an incident's protocol state, sent together (`deferred.pipeline`) by facts.current.
_BY_INCIDENT: BindParameter[int] = bindparam("incident_id")
_COMMUNICATION_ROWS = (
    select(*deferred.columns(Communication))
    .where(Communication.__table__.c.incident_id == _BY_INCIDENT)
    .order_by(Communication.__table__.c.due_at, Communication.__table__.c.id)
)
_OBLIGATION_ROWS = (
    select(*deferred.columns(Obligation))
    .where(Obligation.__table__.c.incident_id == _BY_INCIDENT)
    .order_by(Obligation.__table__.c.id)
)
_MOMENTS = (
    select(IncidentMoment.__table__.c.name, IncidentMoment.__table__.c.at)
    .where(IncidentMoment.__table__.c.incident_id == _BY_INCIDENT)
    .order_by(IncidentMoment.__table__.c.at)
)


def communications_ahead(session: Session, incident_id: int) -> Callable[[], list[Communication]]:
    """`communications`, sent in the pipeline open (if any); its rows once it has ended."""
    return deferred.read_rows(session, Communication, _COMMUNICATION_ROWS, {"incident_id": incident_id})


def obligations_ahead(session: Session, incident_id: int) -> Callable[[], list[Obligation]]:
    """`obligations`, sent in the pipeline open (if any); its rows once it has ended."""
    return deferred.read_rows(session, Obligation, _OBLIGATION_ROWS, {"incident_id": incident_id})


def moments_ahead(session: Session, incident_id: int) -> Callable[[], dict[str, datetime]]:
    """The incident's recorded moments by name, sent in the pipeline open (if any)."""
    found = deferred.read(session, _MOMENTS, {"incident_id": incident_id})
    return lambda: {name: at for name, at in found.rows()}


def insert_communications(session: Session, rows: Sequence[Communication]) -> list[Communication]:
    """Insert notices at once, in one statement (pages and the timeline name their ids), without
    flushing the rest of the transaction."""
    table = Communication.__table__
    assert isinstance(table, Table)
    names = [c.key for c in table.columns if c.key != "id"]
    return insert_tracked_many(session, Communication, [{n: getattr(row, n) for n in names} for row in rows])


def communication(session: Session, incident_id: int, communication_id: int) -> Communication | None:
    row = session.get(Communication, communication_id)
    return row if row is not None and row.incident_id == incident_id else None


def obligations(session: Session, incident_id: int) -> list[Obligation]:
    return obligations_ahead(session, incident_id)()


def obligation(session: Session, incident_id: int, obligation_id: int) -> Obligation | None:
    row = session.get(Obligation, obligation_id)
    return row if row is not None and row.incident_id == incident_id else None


def moments(session: Session, incident_id: int) -> list[IncidentMoment]:
    return list(
        session.scalars(
            select(IncidentMoment)
            .where(IncidentMoment.incident_id == incident_id)
            .order_by(IncidentMoment.at)
        )
    )


def moment(session: Session, incident_id: int, name: str) -> IncidentMoment | None:
    return session.scalars(
        select(IncidentMoment).where(IncidentMoment.incident_id == incident_id, IncidentMoment.name == name)
    ).first()


def due_notices(session: Session, now: datetime, limit: int) -> list[tuple[int, int]]:
    """(incident id, notice id) of notices not sent and due: holding statements to send, or
    notices whose owner has not been reminded yet."""
    rows = session.execute(
        select(Communication.incident_id, Communication.id)
        .where(
            Communication.status.in_(UNSENT_STATUSES),
            Communication.due_at <= now,
            Communication.reminded_at.is_(None),
        )
        .order_by(Communication.due_at)
        .limit(limit)
    )
    return [(i, c) for i, c in rows]


def due_obligations(session: Session, now: datetime, limit: int) -> list[tuple[int, int]]:
    """(incident id, obligation id) of reports overdue whose owner has not been reminded yet."""
    rows = session.execute(
        select(Obligation.incident_id, Obligation.id)
        .where(Obligation.status == OPEN, Obligation.due_at <= now, Obligation.reminded_at.is_(None))
        .order_by(Obligation.due_at)
        .limit(limit)
    )
    return [(i, o) for i, o in rows]


def evidence_hold_regimes(session: Session, incident_id: int) -> list[str]:
    """Serious-incident regimes whose report to the authority has not gone out yet."""
    rows = session.scalars(
        select(Obligation.regime)
        .where(
            Obligation.incident_id == incident_id,
            Obligation.status == OPEN,
            Obligation.regime == EU_AI_ACT_ART73,
        )
        .distinct()
    )
    return list(rows)


def count_overdue_notices(session: Session, now: datetime) -> list[tuple[tuple[str, ...], float]]:
    rows = session.execute(
        select(Communication.audience, func.count())
        .where(Communication.status.in_(UNSENT_STATUSES), Communication.due_at < now)
        .group_by(Communication.audience)
    )
    return [((a,), float(n)) for a, n in rows]


def count_open_obligations(session: Session) -> list[tuple[tuple[str, ...], float]]:
    rows = session.execute(
        select(Obligation.regime, func.count()).where(Obligation.status == OPEN).group_by(Obligation.regime)
    )
    return [((r,), float(n)) for r, n in rows]


def count_overdue_obligations(session: Session, now: datetime) -> list[tuple[tuple[str, ...], float]]:
    rows = session.execute(
        select(Obligation.regime, func.count())
        .where(Obligation.status == OPEN, Obligation.due_at < now)
        .group_by(Obligation.regime)
    )
    return [((r,), float(n)) for r, n in rows]
