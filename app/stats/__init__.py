"""Incident statistics: how fast incidents are detected, acknowledged, contained and resolved,
whether reviews, notices and regulatory reports keep their deadlines, and how that trends.

The domain's entry point is `report`: the repository loads the rows in a few bulk selects,
`measures` (pure) computes the answer. `metrics` puts the same times on /metrics as histograms.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.durations import parse_duration
from app.errors import InvalidRequest
from app.rules.reviews import ReviewsConfig
from app.stats import measures, repository
from app.stats.repository import Scope

DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=3660)  # about ten years: at most 524 weeks in `weekly`

__all__ = ["DEFAULT_PERIOD", "MAX_PERIOD", "Scope", "moment", "period", "report"]


def moment(text: str, now: datetime, field: str) -> datetime:
    """An RFC 3339 time with a zone, or a duration before `now` (`30d`, `12w`, `36h`)."""
    value = text.strip()
    try:
        try:
            ago = parse_duration(value)
        except ValueError:
            pass
        else:
            return now - ago
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise InvalidRequest(f"`{field}` needs a time zone (Z or +hh:mm)", field=field, where="query")
        return parsed.astimezone(now.tzinfo)
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"`{field}` is neither an RFC 3339 time nor a duration such as 30d or 12w, or is out of range",
            field=field,
            where="query",
        ) from None


def period(since: str | None, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The range [since, until): by default the last 30 days up to now."""
    end = moment(until, now, "until") if until is not None else now
    if since is not None:
        start = moment(since, now, "since")
    else:
        try:
            start = end - DEFAULT_PERIOD
        except OverflowError:
            raise InvalidRequest("`until` is too early", field="until", where="query") from None
    if start >= end:
        raise InvalidRequest("`since` must be before `until`", field="since", where="query")
    if end - start > MAX_PERIOD:
        raise InvalidRequest("the range is at most 3660 days (about ten years)", field="since", where="query")
    return start, end


def report(session: Session, reviews: ReviewsConfig, scope: Scope, now: datetime) -> measures.Summary:
    """The statistics of the incidents in `scope`; `reviews` says which need a review."""
    facts = repository.load(session, scope)
    return measures.summarize(facts, scope.since, scope.until, now, reviews.requires)
