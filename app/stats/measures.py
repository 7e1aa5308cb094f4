"""Incident statistics as pure functions over plain rows: counts, distributions of the response
times, on-time shares of communications and regulatory reports, weekly trends, histograms.

Percentiles are **nearest-rank**: the p-th percentile of n values is the value at 1-based rank
ceil(p / 100 * n) of the sorted values, so it is always a time that was actually observed
(p50 of [10, 20, 30, 40] is 20, p90 is 40). Every time is in seconds; a time recorded before the
moment it counts from (a corrected start, harm contained before the incident was reported)
counts as 0 s. A distribution of no values has n = 0 and null p50, p90, mean and max.

Nothing here reads a database or a clock: the repository loads the rows, `summarize` answers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.vocabulary import (
    COMPLETE,
    INCIDENT_TYPES,
    INITIAL_SENT,
    NOT_APPLICABLE,
    OPEN,
    OPEN_ACTION_STATUSES,
    SENT,
    SEVERITIES,
    UNCLASSIFIED,
    UNSENT_STATUSES,
)

AFFECTED_USERS = "affected-users"  # the audience whose first full notice is "users notified"
HARMFUL_LEVELS = frozenset({"harm_event", "serious"})  # harm that happened, not an issue or a near miss
APPROVED = "approved"
DONE = "done"
SLOWEST = 10
KNOWN_TYPES: tuple[str, ...] = (*INCIDENT_TYPES, UNCLASSIFIED)


# --- the rows the repository loads --------------------------------------------------------------


@dataclass(frozen=True)
class IncidentRow:
    id: int
    title: str
    type: str
    severity: str  # the final (current) severity
    peak_severity: str | None  # the worst it ever had; None on rows older than the column
    opened_at: datetime
    impact_started_at: datetime | None = None
    acknowledged_at: datetime | None = None
    contained_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class ReviewRow:
    incident_id: int
    status: str
    due_at: datetime
    users_notified: bool | None = None  # the review's harm_assessment.users_notified


@dataclass(frozen=True)
class ActionRow:
    incident_id: int
    status: str
    due_at: datetime


@dataclass(frozen=True)
class CommunicationRow:
    incident_id: int
    audience: str
    status: str
    holding: bool
    due_at: datetime
    sent_at: datetime | None = None


@dataclass(frozen=True)
class ObligationRow:
    incident_id: int
    status: str
    due_at: datetime | None
    initial_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class HarmRow:
    """The current (highest) version of an incident's harm assessment."""

    incident_id: int
    level: str
    aware_at: datetime | None


@dataclass(frozen=True)
class Facts:
    """Everything one answer needs: the incidents counted and the rows that belong to them."""

    incidents: Sequence[IncidentRow]
    reviews: Sequence[ReviewRow] = ()
    actions: Sequence[ActionRow] = ()
    communications: Sequence[CommunicationRow] = ()
    obligations: Sequence[ObligationRow] = ()
    harms: Sequence[HarmRow] = ()


# --- what comes out -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    n: int
    p50: float | None
    p90: float | None
    mean: float | None
    max: float | None


@dataclass(frozen=True)
class Reviews:
    required: int  # incidents that need a review (the catalog's `reviews:` section)
    approved: int  # of those, reviews approved
    overdue: int  # of those, reviews past due and not approved


@dataclass(frozen=True)
class Actions:
    open: int  # open or in progress
    overdue: int  # of those, past due
    done: int


@dataclass(frozen=True)
class OnTime:
    due: int
    on_time: int
    share: float | None  # on_time / due; None when nothing was due


@dataclass(frozen=True)
class UsersNotified:
    harm_incidents: int
    notified: int
    share: float | None


@dataclass(frozen=True)
class Week:
    week: str  # ISO week, 2026-W48
    count: int
    by_type: dict[str, int]
    time_to_detect: Distribution
    time_to_acknowledge: Distribution
    time_to_contain: Distribution
    time_to_resolve: Distribution


@dataclass(frozen=True)
class Slow:
    id: int
    title: str
    type: str
    severity: str
    seconds: float


@dataclass(frozen=True)
class Summary:
    count: int
    by_type: dict[str, int]
    by_severity: dict[str, int]
    by_peak_severity: dict[str, int]
    time_to_detect: Distribution
    time_to_acknowledge: Distribution
    time_to_contain: Distribution
    time_to_resolve: Distribution
    reviews: Reviews
    actions: Actions
    time_to_notify_users: Distribution
    communications_on_time: OnTime
    obligations_on_time: OnTime
    harm_incidents_users_notified: UsersNotified
    weekly: list[Week]
    slowest: list[Slow]
    since: datetime
    until: datetime


# --- the arithmetic -----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 < p <= 100) of a non-empty list: the value at rank ceil(p/100*n)."""
    if not values:
        raise ValueError("no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is not in (0, 100]")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def distribution(values: Iterable[float]) -> Distribution:
    """n, nearest-rank p50 and p90, mean and max of the values (nulls when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return Distribution(n=0, p50=None, p90=None, mean=None, max=None)
    return Distribution(
        n=len(ordered),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        mean=math.fsum(ordered) / len(ordered),
        max=ordered[-1],
    )


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from `start` to `end` (0 if `end` is earlier); None when either is unknown."""
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def time_to_detect(i: IncidentRow) -> float | None:
    """Impact start (the earliest alert's startsAt, or what a reporter said) to opened."""
    return seconds_between(i.impact_started_at, i.opened_at)


def time_to_acknowledge(i: IncidentRow) -> float | None:
    return seconds_between(i.opened_at, i.acknowledged_at)


def time_to_contain(i: IncidentRow) -> float | None:
    return seconds_between(i.opened_at, i.contained_at)


def time_to_resolve(i: IncidentRow) -> float | None:
    return seconds_between(i.opened_at, i.resolved_at)


Measure = Callable[[IncidentRow], float | None]
MEASURES: dict[str, Measure] = {
    "time_to_detect": time_to_detect,
    "time_to_acknowledge": time_to_acknowledge,
    "time_to_contain": time_to_contain,
    "time_to_resolve": time_to_resolve,
}


def measured(incidents: Iterable[IncidentRow], measure: Measure) -> Distribution:
    return distribution(v for v in map(measure, incidents) if v is not None)


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def counts(values: Iterable[str], known: Sequence[str]) -> dict[str, int]:
    """How many of each value: every known value (0 when absent) first, in order, then others."""
    seen = Counter(values)
    result = {key: seen.pop(key, 0) for key in known}
    result.update(sorted(seen.items()))
    return result


def week_of(at: datetime) -> str:
    """The ISO week of a moment, in UTC: 2026-W48."""
    year, week, _ = at.astimezone(UTC).isocalendar()
    return f"{year:04d}-W{week:02d}"


def weeks(since: datetime, until: datetime) -> list[str]:
    """Every ISO week with a moment in [since, until), oldest first."""
    if until <= since:
        return []
    start = since.astimezone(UTC)
    monday = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(days=start.weekday())
    labels: list[str] = []
    while monday < until:
        labels.append(week_of(monday))
        try:
            monday += timedelta(days=7)
        except OverflowError:  # the week of 9999-12-31 was the last one
            break
    return labels


# --- the practice measures ----------------------------------------------------------------------


def review_counts(
    incidents: Sequence[IncidentRow],
    reviews: Iterable[ReviewRow],
    now: datetime,
    required: Callable[[str, str, str | None], bool],
) -> Reviews:
    """Of the incidents that need a review: how many reviews are approved, how many overdue."""
    needed = {i.id for i in incidents if required(i.type, i.severity, i.peak_severity)}
    mine = [r for r in reviews if r.incident_id in needed]
    return Reviews(
        required=len(needed),
        approved=sum(1 for r in mine if r.status == APPROVED),
        overdue=sum(1 for r in mine if r.status != APPROVED and r.due_at < now),
    )


def action_counts(actions: Iterable[ActionRow], now: datetime) -> Actions:
    rows = list(actions)
    still_open = [a for a in rows if a.status in OPEN_ACTION_STATUSES]
    return Actions(
        open=len(still_open),
        overdue=sum(1 for a in still_open if a.due_at < now),
        done=sum(1 for a in rows if a.status == DONE),
    )


def communications_on_time(rows: Iterable[CommunicationRow], now: datetime) -> OnTime:
    """Notices sent by their due time, of those sent plus those unsent past due (late).

    Cancelled notices are left out, and so are unsent ones not yet due. Holding statements and
    each recurring update count as notices of their own.
    """
    due = on_time = 0
    for c in rows:
        if c.status == SENT and c.sent_at is not None:
            due += 1
            on_time += int(c.sent_at <= c.due_at)
        elif c.status in UNSENT_STATUSES and c.due_at < now:
            due += 1
    return OnTime(due=due, on_time=on_time, share=share(on_time, due))


def first_report(o: ObligationRow) -> datetime | None:
    made = [t for t in (o.initial_at, o.completed_at) if t is not None]
    return min(made) if made else None


def obligations_on_time(rows: Iterable[ObligationRow], now: datetime) -> OnTime:
    """Regulatory reports whose first report (initial or complete) came by their due time, of
    those reported plus those still open past due (late). `not_applicable` ones are left out, and
    so are open ones not yet due; a report made while its clock had not started is on time."""
    due = on_time = 0
    for o in rows:
        if o.status == NOT_APPLICABLE:
            continue
        first = first_report(o)
        if first is not None or o.status in (INITIAL_SENT, COMPLETE):
            due += 1
            on_time += int(first is not None and (o.due_at is None or first <= o.due_at))
        elif o.status == OPEN and o.due_at is not None and o.due_at < now:
            due += 1
    return OnTime(due=due, on_time=on_time, share=share(on_time, due))


def users_notified_at(communications: Iterable[CommunicationRow]) -> dict[int, datetime]:
    """Per incident, when the first full (not holding) notice to the affected users went out."""
    first: dict[int, datetime] = {}
    for c in communications:
        if c.audience != AFFECTED_USERS or c.holding or c.status != SENT or c.sent_at is None:
            continue
        if c.incident_id not in first or c.sent_at < first[c.incident_id]:
            first[c.incident_id] = c.sent_at
    return first


def time_to_notify_users(harms: Iterable[HarmRow], notified_at: dict[int, datetime]) -> Distribution:
    """From `aware_at` of the current harm assessment to the first full affected-users notice."""
    values = (
        seconds_between(h.aware_at, notified_at.get(h.incident_id)) for h in harms if h.aware_at is not None
    )
    return distribution(v for v in values if v is not None)


def users_notified(
    harms: Iterable[HarmRow], notified_at: dict[int, datetime], reviews: Iterable[ReviewRow]
) -> UsersNotified:
    """Incidents whose current harm is a harm event or serious, and of those how many had their
    users told: a full affected-users notice sent, or the review says users were notified."""
    harmful = {h.incident_id for h in harms if h.level in HARMFUL_LEVELS}
    told = set(notified_at) | {r.incident_id for r in reviews if r.users_notified}
    notified = len(harmful & told)
    return UsersNotified(harm_incidents=len(harmful), notified=notified, share=share(notified, len(harmful)))


def slowest(incidents: Iterable[IncidentRow], limit: int = SLOWEST) -> list[Slow]:
    """The resolved incidents that took longest to resolve (ties: lowest id first)."""
    timed = [(t, i) for i in incidents if (t := time_to_resolve(i)) is not None]
    timed.sort(key=lambda pair: (-pair[0], pair[1].id))
    return [
        Slow(id=i.id, title=i.title, type=i.type, severity=i.severity, seconds=t) for t, i in timed[:limit]
    ]


def weekly(incidents: Sequence[IncidentRow], since: datetime, until: datetime) -> list[Week]:
    """Per ISO week of `opened_at`, every week of the range present (zeros when nothing opened)."""
    by_week: dict[str, list[IncidentRow]] = {label: [] for label in weeks(since, until)}
    for i in incidents:
        by_week.setdefault(week_of(i.opened_at), []).append(i)
    return [
        Week(
            week=label,
            count=len(rows),
            by_type=counts((i.type for i in rows), KNOWN_TYPES),
            **{name: measured(rows, measure) for name, measure in MEASURES.items()},
        )
        for label, rows in sorted(by_week.items())
    ]


def summarize(
    facts: Facts,
    since: datetime,
    until: datetime,
    now: datetime,
    review_required: Callable[[str, str, str | None], bool],
) -> Summary:
    """The statistics of the incidents in `facts` (those opened in [since, until))."""
    incidents = list(facts.incidents)
    notified_at = users_notified_at(facts.communications)
    return Summary(
        count=len(incidents),
        by_type=counts((i.type for i in incidents), KNOWN_TYPES),
        by_severity=counts((i.severity for i in incidents), SEVERITIES),
        by_peak_severity=counts((i.peak_severity or i.severity for i in incidents), SEVERITIES),
        time_to_detect=measured(incidents, time_to_detect),
        time_to_acknowledge=measured(incidents, time_to_acknowledge),
        time_to_contain=measured(incidents, time_to_contain),
        time_to_resolve=measured(incidents, time_to_resolve),
        reviews=review_counts(incidents, facts.reviews, now, review_required),
        actions=action_counts(facts.actions, now),
        time_to_notify_users=time_to_notify_users(facts.harms, notified_at),
        communications_on_time=communications_on_time(facts.communications, now),
        obligations_on_time=obligations_on_time(facts.obligations, now),
        harm_incidents_users_notified=users_notified(facts.harms, notified_at, facts.reviews),
        weekly=weekly(incidents, since, until),
        slowest=slowest(incidents),
        since=since,
        until=until,
    )


# --- histograms (for /metrics) ------------------------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    """Prometheus histogram samples: cumulative counts per upper bound (value <= bound), then
    the count of all (the +Inf bucket) and the sum."""

    buckets: tuple[int, ...]
    count: int
    sum: float
