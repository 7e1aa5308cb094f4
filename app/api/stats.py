"""HTTP API of incident statistics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app import stats
from app.api.deps import CatalogDep, ReadSession, ViewerDep
from app.api.incidents import TextFilter
from app.db import utcnow
from app.stats.schemas import StatsRead
from app.vocabulary import Severity

router = APIRouter(prefix="/api/v1", tags=["stats"])
Moment = Annotated[
    str | None,
    Query(
        max_length=64,
        pattern=r"^[^\x00]*$",
        description="RFC 3339 with a zone (2026-11-01T00:00:00Z), or a duration before now (30d, 12w)",
    ),
]


@router.get("/stats", response_model=StatsRead)
def get_stats(
    session: ReadSession,
    catalog: CatalogDep,
    viewer: ViewerDep,
    since: Moment = None,
    until: Moment = None,
    model: TextFilter = None,
    team: TextFilter = None,
    type: TextFilter = None,
    severity: Severity | None = None,
) -> StatsRead:
    """Statistics of the incidents opened in [`since`, `until`) (default: the last 30 days): counts
    by type and severity, distributions (n, nearest-rank p50 and p90, mean, max, in seconds) of
    the times to detect, acknowledge, contain and resolve, reviews and actions, notices and
    regulatory reports on time, users told of harm, a weekly trend and the slowest incidents.
    With `X-Bridge-Person`, only the incidents that person may see count."""
    now = utcnow()
    start, end = stats.period(since, until, now)
    scope = stats.Scope(
        since=start,
        until=end,
        model=model,
        team=team,
        type=type,
        severity=severity,
        person=viewer.narrowed_to,
    )
    return StatsRead.model_validate(stats.report(session, catalog.reviews, scope, now))
