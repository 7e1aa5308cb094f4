"""All SQL of the statistics: a handful of bulk selects, never one per incident.

The incidents counted are chosen once (`counted`) and every other table is read for exactly
those, through `incident_id IN (<that select>)`, so a person narrowed by `X-Bridge-Person`
never gets a figure from an incident they may not see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, extract, func, select
from sqlalchemy.orm import Session

from app.db import on_postgresql
from app.incidents import service as incidents
from app.models import Communication, HarmAssessment, Incident, Obligation, Review, ReviewAction
from app.stats.measures import (
    ActionRow,
    CommunicationRow,
    Facts,
    HarmRow,
    IncidentRow,
    ObligationRow,
    ReviewRow,
)


@dataclass(frozen=True)
class Scope:
    """Which incidents count: opened in [since, until), matching the filters, visible to `person`
    (None: the API token holder, who sees everything)."""

    since: datetime
    until: datetime
    model: str | None = None
    team: str | None = None
    type: str | None = None
    severity: str | None = None
    person: str | None = None


def _statistical() -> ColumnElement[bool]:
    """Incidents that count in any statistic.

    A duplicate folded into another incident is the same incident counted twice, resolved when
    someone linked it: it is left out. Drills do not exist yet; once they do, exclude them here
    (this filter serves both the API and the /metrics histograms).
    """
    return Incident.duplicate_of.is_(None)


def _conditions(session: Session, scope: Scope) -> list[ColumnElement[bool]]:
    conditions = [
        _statistical(),
        Incident.opened_at >= scope.since,
        Incident.opened_at < scope.until,
        incidents.visible_to(session, scope.person),
    ]
    for column, value in (
        (Incident.model, scope.model),
        (Incident.team, scope.team),
        (Incident.type, scope.type),
        (Incident.severity, scope.severity),
    ):
        if value is not None:
            conditions.append(column == value)
    return conditions


def counted(session: Session, scope: Scope) -> Select[int]:
    """The ids of the incidents counted, as a select to embed in the other selects."""
    return select(Incident.id).where(*_conditions(session, scope))


def _incidents(session: Session, scope: Scope) -> list[IncidentRow]:
    query = (
        select(
            Incident.id,
            Incident.title,
            Incident.type,
            Incident.severity,
            Incident.peak_severity,
            Incident.opened_at,
            Incident.impact_started_at,
            Incident.acknowledged_at,
            Incident.contained_at,
            Incident.resolved_at,
        )
        .where(*_conditions(session, scope))
        .order_by(Incident.opened_at, Incident.id)
    )
    return [IncidentRow(**row._asdict()) for row in session.execute(query)]


def _reviews(session: Session, ids: Select[int]) -> list[ReviewRow]:
    notified = Review.data[("harm_assessment", "users_notified")].as_boolean().label("users_notified")
    query = select(Review.incident_id, Review.status, Review.due_at, notified).where(
        Review.incident_id.in_(ids)
    )
    return [ReviewRow(**row._asdict()) for row in session.execute(query)]


def _actions(session: Session, ids: Select[int]) -> list[ActionRow]:
    query = select(ReviewAction.incident_id, ReviewAction.status, ReviewAction.due_at).where(
        ReviewAction.incident_id.in_(ids)
    )
    return [ActionRow(**row._asdict()) for row in session.execute(query)]


def _communications(session: Session, ids: Select[int]) -> list[CommunicationRow]:
    query = select(
        Communication.incident_id,
        Communication.audience,
        Communication.status,
        Communication.holding,
        Communication.due_at,
        Communication.sent_at,
    ).where(Communication.incident_id.in_(ids))
    return [CommunicationRow(**row._asdict()) for row in session.execute(query)]


def _obligations(session: Session, ids: Select[int]) -> list[ObligationRow]:
    query = select(
        Obligation.incident_id,
        Obligation.status,
        Obligation.due_at,
        Obligation.initial_at,
        Obligation.completed_at,
    ).where(Obligation.incident_id.in_(ids))
    return [ObligationRow(**row._asdict()) for row in session.execute(query)]


def _aware_at(data: dict[str, Any]) -> datetime | None:
    value = data.get("aware_at")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _harms(session: Session, ids: Select[int]) -> list[HarmRow]:
    """The current (highest) version of the harm assessment of each incident that has one."""
    latest = (
        select(HarmAssessment.incident_id, func.max(HarmAssessment.version).label("version"))
        .where(HarmAssessment.incident_id.in_(ids))
        .group_by(HarmAssessment.incident_id)
        .subquery()
    )
    query = select(HarmAssessment.incident_id, HarmAssessment.data).join(
        latest,
        and_(HarmAssessment.incident_id == latest.c.incident_id, HarmAssessment.version == latest.c.version),
    )
    return [
        HarmRow(incident_id=incident_id, level=str(data.get("level", "")), aware_at=_aware_at(data))
        for incident_id, data in session.execute(query)
    ]


def load(session: Session, scope: Scope) -> Facts:
    """The incidents counted and their reviews, actions, notices, reports and current harm."""
    ids = counted(session, scope)
    return Facts(
        incidents=_incidents(session, scope),
        reviews=_reviews(session, ids),
        actions=_actions(session, ids),
        communications=_communications(session, ids),
        obligations=_obligations(session, ids),
        harms=_harms(session, ids),
    )


# The response times the /metrics histograms count: (name, start, end) of each.
SPANS: tuple[tuple[str, Any, Any], ...] = (
    ("detect", Incident.impact_started_at, Incident.opened_at),
    ("contain", Incident.opened_at, Incident.contained_at),
    ("resolve", Incident.opened_at, Incident.resolved_at),
)


@dataclass(frozen=True)
class Tally:
    """One response time of the incidents of one (type, severity): how many were measured, the
    sum of their milliseconds, and how many took at most each bound (cumulative)."""

    span: str
    type: str
    severity: str
    count: int
    sum_ms: float
    at_most: tuple[int, ...]


def _milliseconds(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    """Whole milliseconds from `start` to `end` (0 when `end` is earlier; NULL when either is)."""
    if on_postgresql(session):
        ms = func.round(extract("epoch", end - start) * 1000)
    else:  # julianday's float keeps a time to some 40 microseconds: rounded to the millisecond
        ms = func.round((func.julianday(end) - func.julianday(start)) * 86_400_000.0)
    return case((ms < 0, 0), else_=ms)  # NULL stays NULL (PostgreSQL's greatest() would make it 0)


def response_tallies(session: Session, bounds: Sequence[float]) -> list[Tally]:
    """Per response time and (type, severity) of the incidents that count in a statistic, counted
    and summed by the database in one pass: one row per kind reaches Python, where streaming
    every incident into it cost some 0.5 s per 100,000 incidents of the web process's Python.
    The milliseconds are computed once per incident (a materialized CTE: SQLite would otherwise
    repeat each time's parsing in every one of the 14 aggregates that read it)."""
    spans = (
        select(
            Incident.type,
            Incident.severity,
            *(_milliseconds(session, start, end).label(name) for name, start, end in SPANS),
        )
        .where(_statistical())
        .cte("spans")
        .prefix_with("MATERIALIZED")
    )
    columns: list[ColumnElement[Any]] = []
    for name, _, _ in SPANS:
        ms = spans.c[name]
        columns += [func.count(ms), func.coalesce(func.sum(ms), 0)]
        columns += [func.coalesce(func.sum(case((ms <= bound * 1000, 1), else_=0)), 0) for bound in bounds]
    query = select(spans.c.type, spans.c.severity, *columns).group_by(spans.c.type, spans.c.severity)
    tallies = []
    width = 2 + len(bounds)
    for type_, severity, *values in session.execute(query):
        for i, (span, _, _) in enumerate(SPANS):
            count, total, *at_most = values[i * width : (i + 1) * width]
            if count:
                tallies.append(
                    Tally(span, type_, severity, int(count), float(total), tuple(int(n) for n in at_most))
                )
    return tallies
